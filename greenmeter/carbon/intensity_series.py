"""Time-resolved grid intensity: energy used at 3 a.m. is charged 3 a.m.'s gCO2e/kWh.

An intensity series is a step function: each point's value holds from its timestamp until the next
point's. The last point holds for one more step (the spacing of the last two points; an hour for a
single point). Files are CSV, hourly or finer:

    timestamp,intensity_g_per_kwh
    2022-01-01T00:00:00Z,212.91
    2022-01-01T01:00:00+00:00,217.14

- ``timestamp``: ISO 8601. A timestamp without a zone is UTC (that is how grid operators and
  Electricity Maps publish them). Strictly increasing.
- A header row (a first row where neither cell parses) is optional. With a header of more than two columns, the life-cycle column of an
  Electricity Maps export (``... (LCA)``) is used; else the second column. A column name containing
  "LCA"/"lifecycle" or "direct" sets the series' basis; otherwise the basis is "unspecified".
- Energy outside the series' time range is charged the nearest value (the first or the last point)
  and reported in ``CarbonAccount.outside_s`` / ``outside_energy_j``, so the caller can say so.

Intervals are ``(start_epoch_s, end_epoch_s, energy_j)``; power is taken as constant within an interval,
so an interval that spans a step boundary is split in proportion to time.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from greenmeter.quantities import J_PER_KWH

SINGLE_POINT_STEP_S = 3600.0


class IntensityFileError(ValueError):
    """Malformed intensity input; str() is one line naming the file and line."""


@dataclass(frozen=True)
class CarbonAccount:
    co2_g: float
    energy_j: float
    mean_intensity_g_per_kwh: float  # energy-weighted over the intervals
    outside_s: float  # interval time outside the series' range (charged the nearest value)
    outside_energy_j: float


def parse_timestamp(text: str) -> float:
    """ISO 8601 -> epoch seconds; naive = UTC. Raises ValueError."""
    text = text.strip()
    if text.endswith(("Z", "z")):  # fromisoformat accepts "Z" only from Python 3.11
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class IntensitySeries:
    """Step function of gCO2e/kWh over epoch seconds."""

    def __init__(
        self,
        times_s: list[float],
        values_g_per_kwh: list[float],
        *,
        source: str,
        basis: str = "unspecified",
    ):
        if not times_s or len(times_s) != len(values_g_per_kwh):
            raise ValueError("an intensity series needs at least one (time, value) point")
        if any(b <= a for a, b in itertools.pairwise(times_s)):
            raise ValueError("intensity series timestamps must be strictly increasing")
        self.times_s = list(times_s)
        self.values_g_per_kwh = list(values_g_per_kwh)
        self.source = source
        self.basis = basis
        last_step = times_s[-1] - times_s[-2] if len(times_s) > 1 else SINGLE_POINT_STEP_S
        self.start_s = times_s[0]
        self.end_s = times_s[-1] + last_step

    def __len__(self) -> int:
        return len(self.times_s)

    def value_at(self, t_s: float) -> float:
        """The value holding at ``t_s``; outside the range, the nearest end's value."""
        i = bisect.bisect_right(self.times_s, t_s) - 1
        return self.values_g_per_kwh[max(i, 0)]

    def account(self, intervals: Iterable[tuple[float, float, float]]) -> CarbonAccount:
        co2_g = energy_j = outside_s = outside_energy_j = 0.0
        first_s = None
        for start_s, end_s, interval_j in intervals:
            first_s = start_s if first_s is None else first_s
            if end_s < start_s:
                raise ValueError(f"interval ends before it starts: {start_s} > {end_s}")
            energy_j += interval_j
            if end_s == start_s:  # all energy at one instant
                co2_g += interval_j * self.value_at(start_s) / J_PER_KWH
                if not self.start_s <= start_s < self.end_s:
                    outside_energy_j += interval_j
                continue
            power_w = interval_j / (end_s - start_s)
            for piece_start, piece_end, value in self._pieces(start_s, end_s):
                piece_j = power_w * (piece_end - piece_start)
                co2_g += piece_j * value / J_PER_KWH
                if piece_end <= self.start_s or piece_start >= self.end_s:
                    outside_s += piece_end - piece_start
                    outside_energy_j += piece_j
        if energy_j > 0:
            mean = co2_g / (energy_j / J_PER_KWH)
        else:  # no energy to weight by: the value that held when the run began
            mean = self.value_at(self.start_s if first_s is None else first_s)
        return CarbonAccount(co2_g, energy_j, mean, outside_s, outside_energy_j)

    def co2_g(self, intervals: Iterable[tuple[float, float, float]]) -> tuple[float, float]:
        """(grams CO2e, energy-weighted mean intensity in g/kWh) for ``intervals``."""
        result = self.account(intervals)
        return result.co2_g, result.mean_intensity_g_per_kwh

    def _pieces(self, start_s: float, end_s: float):
        """[start, end) cut at every step boundary (and the range's ends), with each piece's value."""
        cuts = [start_s]
        lo = bisect.bisect_right(self.times_s, start_s)
        hi = bisect.bisect_left(self.times_s, end_s)
        cuts.extend(self.times_s[lo:hi])
        if start_s < self.end_s < end_s:
            cuts.append(self.end_s)
        cuts.append(end_s)
        for a, b in itertools.pairwise(cuts):
            if b > a:
                yield a, b, self.value_at(a)


def _basis_of(column: str) -> str:
    lowered = column.casefold()
    if "lca" in lowered or "lifecycle" in lowered or "life-cycle" in lowered:
        return "lifecycle"
    if "direct" in lowered:
        return "direct"
    return "unspecified"


MAX_INTENSITY_G_PER_KWH = 10_000.0
"""Far above any grid's (lignite plants emit about 1,100 g/kWh): a larger figure is a unit
mistake (g per MWh), and an absurd one would make the CO2e infinite."""


def load_intensity_file(path: str | Path) -> IntensitySeries:
    """Read a timestamp,gCO2e/kWh CSV; IntensityFileError ("FILE:LINE: why") on malformed input."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:  # csv.Error: a 128 KiB field
        raise IntensityFileError(f"{path}: cannot read intensity file: {exc}") from None
    column, basis, first = 1, "unspecified", 0
    numbered = [
        (n, row) for n, row in enumerate(rows, start=1) if row and any(cell.strip() for cell in row)
    ]
    if numbered and _is_header(numbered[0][1]):
        header = numbered[0][1]
        lca = [i for i, name in enumerate(header) if _basis_of(name) == "lifecycle"]
        column = lca[0] if len(header) > 2 and lca else 1
        basis = _basis_of(header[column]) if len(header) > column else basis
        first = 1
    times: list[float] = []
    values: list[float] = []
    for line, row in numbered[first:]:
        if len(row) <= column:
            raise IntensityFileError(
                f"{path}:{line}: expected timestamp,gCO2e/kWh, got {','.join(row)!r}"
            )
        try:
            t_s = parse_timestamp(row[0])
        except ValueError:
            raise IntensityFileError(
                f"{path}:{line}: not an ISO 8601 timestamp: {row[0]!r}"
            ) from None
        try:
            value = float(row[column])
        except ValueError:
            raise IntensityFileError(f"{path}:{line}: not a number: {row[column]!r}") from None
        if not math.isfinite(value) or not 0 <= value <= MAX_INTENSITY_G_PER_KWH:
            raise IntensityFileError(
                f"{path}:{line}: intensity must be between 0 and "
                f"{MAX_INTENSITY_G_PER_KWH:g} gCO2e/kWh, got {row[column]!r}"
            )
        if times and t_s <= times[-1]:
            raise IntensityFileError(
                f"{path}:{line}: timestamp {row[0]!r} is not after the previous one"
            )
        times.append(t_s)
        values.append(value)
    if not times:
        raise IntensityFileError(f"{path}: no intensity rows (expected timestamp,gCO2e/kWh)")
    return IntensitySeries(times, values, source=f"file:{path.name}", basis=basis)


def _is_header(row: list[str]) -> bool:
    """Neither cell parses: "timestamp,gCO2e/kWh" is a header, "yesterday,5" a bad data row."""
    try:
        parse_timestamp(row[0])
        return False
    except ValueError:
        pass
    try:
        float(row[1])
        return False
    except (IndexError, ValueError):
        return True
