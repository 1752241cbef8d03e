"""The run's timeline on disk: a small CSV of cumulative joules per component beside the report.

The sampler keeps (seconds since start, [cumulative J per component]) points, evenly
spread over the run and bounded in number (``greenmeter.run.sampler``: the one rule that
thins them); the file holds exactly those points. Stored as cumulative energy rather than
power, the file loses nothing: the energy of any span is one subtraction, and thinning
only merges intervals, so each merged interval's mean power is exact and the run's energy
is the last row. Power for charts is derived here, from consecutive rows; charts draw
fewer steps than the file holds (:func:`downsample`).

The gauges (GPU utilisation, memory, throttling; the process tree's busy cores and
memory) follow the energy columns, as running integrals of their quantity over time
(``unit x s``) for the same reason: a span's mean is one subtraction over its length.

Everything but :func:`write_timeline` is a pure function.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

from greenmeter.reports.atomic_write import write_text_atomic
from greenmeter.results import Point

TIME_COLUMN = "t_s"


@dataclass(frozen=True)
class Interval:
    """Mean power per component between two consecutive points."""

    start_s: float
    end_s: float
    power_w: list[float | None]


def timeline_path(json_path: Path) -> Path:
    """``run.json`` -> ``run.timeline.csv``, in the same directory."""
    stem = json_path.stem if json_path.suffix == ".json" else json_path.name
    return json_path.with_name(f"{stem}.timeline.csv")


def column_names(components) -> list[str]:
    """``t_s`` then ``<kind>:<name>[#<index>]_j`` per component, unique, in report order.

    ``components`` are anything with ``kind``, ``name`` and ``index`` attributes."""
    names = [TIME_COLUMN]
    for comp in components:
        base = f"{comp.kind}:{comp.name}" + (f"#{comp.index}" if comp.index is not None else "")
        name, n = f"{base}_j", 2
        while name in names:
            name, n = f"{base}~{n}_j", n + 1
        names.append(name)
    return names


def activity_column_names(components, channels) -> list[str]:
    """``<component column without _j>:<quantity>_s`` per gauge (``process tree:...``
    for the command's processes): the running integral of the quantity over time."""
    bases = [name[: -len("_j")] for name in column_names(components)[1:]]
    return [
        f"{'process tree' if c.component is None else bases[c.component]}:{c.quantity}_s"
        for c in channels
    ]


def downsample(points: list[Point], max_points: int) -> list[Point]:
    """At most ``max_points`` points, spread evenly in time, first and last kept: as many
    as a chart or a sparkline draws.

    The span is cut into ``max_points - 1`` equal time buckets and the last point of each
    is kept. Values are cumulative, so every kept point is exact: nothing is averaged away
    but the detail between kept points."""
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    if len(points) <= max_points:
        return list(points)
    t0, t1 = points[0][0], points[-1][0]
    span = t1 - t0
    if span <= 0:
        return [points[0], points[-1]]
    buckets = max_points - 1
    kept: dict[int, Point] = {}
    for point in points[1:]:
        bucket = min(buckets - 1, int((point[0] - t0) / span * buckets))
        kept[bucket] = point  # the last point of the bucket wins
    return [points[0], *kept.values()]


def intervals(points: list[Point]) -> list[Interval]:
    """Mean power per component over each pair of consecutive points (None where either
    end was not read, or the pair has no duration)."""
    out = []
    for (t_a, e_a), (t_b, e_b) in itertools.pairwise(points):
        dt = t_b - t_a
        power: list[float | None] = [
            (b - a) / dt if dt > 0 and a is not None and b is not None else None
            for a, b in zip(e_a, e_b)
        ]
        out.append(Interval(t_a, t_b, power))
    return out


def total_power_w(interval: Interval, counted: list[bool]) -> float:
    """The sum of the counted components' power (unread ones add nothing)."""
    return sum(p for p, c in zip(interval.power_w, counted) if c and p is not None)


def _number(value: float) -> str:
    # 9 significant digits: 0.1 mJ resolution on a 24 h, 1 kW run; short for small ones.
    return f"{value:.9g}"


def to_csv(points: list[Point], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for t, energies in points:
        writer.writerow([_number(t), *("" if e is None else _number(e) for e in energies)])
    return buf.getvalue()


class TimelineUnreadable(ValueError):
    """A timeline file that is not what :func:`to_csv` writes."""


def from_csv(text: str) -> tuple[list[str], list[Point]]:
    """Columns and points of a timeline CSV, as :func:`to_csv` wrote them."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0] or rows[0][0] != TIME_COLUMN:
        raise TimelineUnreadable(f"first column must be {TIME_COLUMN}")
    columns = rows[0]
    points: list[Point] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns):
            raise TimelineUnreadable(f"line {line}: {len(row)} cells for {len(columns)} columns")
        try:
            points.append((float(row[0]), [float(v) if v else None for v in row[1:]]))
        except ValueError as exc:
            raise TimelineUnreadable(f"line {line}: {exc}") from None
    return columns, points


def read_timeline(path: Path) -> tuple[list[str], list[Point]]:
    return from_csv(path.read_text(encoding="utf-8"))


def write_timeline(
    json_path: Path, components, points: list[Point], channels=(), activity: list[Point] = ()
) -> dict:
    """Write the timeline atomically beside ``json_path``, the gauges' ``activity`` (at the
    same times) in columns after the energy; return the report's ``timeline`` field (file
    name relative to the report, point count, columns)."""
    path = timeline_path(json_path)
    columns = column_names(components)
    ref = {"file": path.name, "points": len(points), "columns": columns, "values": "cumulative_j"}
    if channels and len(activity) == len(points):
        gauges = activity_column_names(components, channels)
        rows = [(t, [*e, *a[1]]) for (t, e), a in zip(points, activity)]
        write_text_atomic(path, to_csv(rows, [*columns, *gauges]))
        return {**ref, "activity_columns": gauges, "activity_values": "integral_unit_s"}
    write_text_atomic(path, to_csv(points, columns))
    return ref
