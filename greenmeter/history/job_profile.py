"""``greenmeter when --like RUN.json``: a past run's duration and power over time, as a job to place.

The run's timeline file (beside the report) gives its counted energy over time; it is cut into
at most ``MAX_SEGMENTS`` equal parts, each with its share of the energy, so a job that draws
most of its power late is placed where the late hours are green. Without a readable timeline
the job is taken as flat over the run's duration, and a note says so.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import replace
from pathlib import Path

from greenmeter.carbon.when.window import JobShape
from greenmeter.reports.timeline import TimelineUnreadable, intervals, read_timeline, total_power_w

MAX_SEGMENTS = 24


class RunFileError(ValueError):
    """A --like file that is not a greenmeter run report; str() is one line."""


def job_like(report_path: Path) -> tuple[JobShape, list[str]]:
    """(the run as a job, notes). RunFileError when the report cannot be used at all."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        duration_s = float(report["duration_s"])
        energy_j = report["energy_j"]["total"]
        energy_j = None if energy_j is None else float(energy_j)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunFileError(f"{report_path}: not a greenmeter run report ({exc})") from None
    if not duration_s > 0:
        raise RunFileError(f"{report_path}: the run lasted {duration_s} s; nothing to place")
    name = report_path.name
    timeline = report.get("timeline") or {}
    try:
        _columns, points = read_timeline(report_path.parent / timeline["file"])
        counted = [bool(c["counted"]) for c in report["components"]]
    except (OSError, KeyError, TypeError, TimelineUnreadable) as exc:
        note = f"{name}: no readable timeline ({exc}); the job is taken as flat over its duration"
        return replace(JobShape.flat(duration_s, energy_j), source=name), [note]
    times = [0.0]
    cumulative = [0.0]
    for interval in intervals(points):
        times.append(interval.end_s)
        power_w = total_power_w(interval, counted)
        cumulative.append(cumulative[-1] + power_w * (interval.end_s - interval.start_s))
    total = cumulative[-1]
    if total <= 0 or times[-1] <= 0:
        note = f"{name}: its timeline holds no energy; the job is taken as flat over its duration"
        return replace(JobShape.flat(duration_s, energy_j), source=name), [note]

    def energy_at(t_s: float) -> float:
        i = min(bisect.bisect_right(times, t_s) - 1, len(times) - 2)
        a, b = times[i], times[i + 1]
        return cumulative[i] + (cumulative[i + 1] - cumulative[i]) * (t_s - a) / (b - a)

    n = min(MAX_SEGMENTS, max(1, len(times) - 1))
    span = times[-1]
    segments = []
    for k in range(n):
        a, b = span * k / n, span * (k + 1) / n
        share = (energy_at(b) - energy_at(a)) / total
        # The timeline's span is the run's duration, to within the last read.
        segments.append((duration_s * k / n, duration_s * (k + 1) / n, share))
    return JobShape(duration_s, tuple(segments), energy_j, source=name), []
