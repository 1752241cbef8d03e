"""Energy -> CO2e: the run's energy at its grid's intensity, times the PUE.

With a shipped yearly figure the arithmetic is one product. With an hourly (or finer)
series (``--intensity-file``, a live provider) the run's timeline is cut into energy
intervals and each is charged the intensity of its moment (:func:`energy_intervals`,
``IntensitySeries.account``); the reported intensity is then the energy-weighted mean,
so ``co2_g = energy x pue x mean`` still holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from greenmeter.carbon.intensity_series import IntensitySeries
from greenmeter.carbon.regions import GridIntensity
from greenmeter.quantities import J_PER_KWH
from greenmeter.results import Carbon, Point


@dataclass(frozen=True)
class CarbonOptions:
    """How a run's energy becomes CO2e, checked before launch (``greenmeter.cli.run``)."""

    grid: GridIntensity
    """``--region``, or the world average (``grid.fallback``)."""
    pue: float = 1.0
    pue_source: str | None = None
    """Where the PUE came from: the cloud provider's published figure, or None (given / default)."""
    series: IntensitySeries | None = None
    """An hourly (or finer) intensity (``--intensity-file``, or the live provider's once
    asked): CO2 hour by hour."""
    provider: str | None = None
    """A live provider asked for the run's hours when it ends (falls back to the shipped figure)."""

    @classmethod
    def for_grid(cls, grid: GridIntensity, pue: float | None = None, **kwargs) -> CarbonOptions:
        """With ``pue`` None: the PUE a cloud region brings (its provider's), else 1.0."""
        pue_source = None
        if pue is None:
            pue, pue_source = (grid.pue, grid.pue_source) if grid.pue is not None else (1.0, None)
        return cls(grid=grid, pue=pue, pue_source=pue_source, **kwargs)

    def with_series(self, series: IntensitySeries | None) -> CarbonOptions:
        return replace(self, series=series)


def footprint(
    options: CarbonOptions,
    total_j: float | None,
    timeline: Sequence[Point],
    counted: Sequence[bool],
    started_epoch_s: float,
) -> tuple[Carbon, list[str]]:
    """The run's :class:`Carbon` and the warnings a reader of it must see."""
    grid, pue, series = options.grid, options.pue, options.series
    energy_kwh = (total_j or 0.0) / J_PER_KWH
    if series is None:
        carbon = Carbon(
            region=grid.region,
            zone_id=grid.zone_id,
            zone_name=grid.name,
            intensity_g_per_kwh=grid.intensity_g_per_kwh,
            intensity_source=grid.source,
            intensity_year=grid.year,
            basis=grid.basis,
            region_fallback=grid.fallback,
            pue=pue,
            energy_kwh=energy_kwh,
            energy_kwh_with_pue=energy_kwh * pue,
            co2_g=energy_kwh * pue * grid.intensity_g_per_kwh,
            pue_source=options.pue_source,
        )
    else:
        intervals = energy_intervals(timeline, counted, started_epoch_s, total_j or 0.0)
        account = series.account(intervals)
        first_s = intervals[0][0] if intervals else series.start_s
        # The year the figures describe: the run's start, clamped into the series.
        year_s = min(max(first_s, series.start_s), series.end_s - 1)
        carbon = Carbon(
            region=grid.region,
            zone_id=None if grid.fallback else grid.zone_id,
            zone_name=series.source if grid.fallback else grid.name,
            intensity_g_per_kwh=account.mean_intensity_g_per_kwh,
            intensity_source=series.source,
            intensity_year=datetime.fromtimestamp(year_s, tz=timezone.utc).year,
            basis=series.basis,
            region_fallback=False,
            pue=pue,
            energy_kwh=energy_kwh,
            energy_kwh_with_pue=energy_kwh * pue,
            co2_g=account.co2_g * pue,
            pue_source=options.pue_source,
            time_resolved=True,
            intensity_outside_s=account.outside_s,
        )
    return carbon, _warnings(carbon, grid, series)


def _warnings(carbon: Carbon, grid: GridIntensity, series: IntensitySeries | None) -> list[str]:
    warnings = []
    if carbon.intensity_outside_s > 0:
        warnings.append(
            f"{carbon.intensity_outside_s:.0f} s of the run fall outside the intensity series "
            f"({series.source}): charged its nearest value"
        )
    if carbon.basis != "lifecycle":
        warnings.append(
            f"intensity basis is {carbon.basis!r}, not life-cycle like greenmeter's default "
            f"figures ({carbon.intensity_source}): compare with other runs with care"
        )
    if carbon.region_fallback:
        warnings.append(
            f"no region configured: using the world average "
            f"{grid.intensity_g_per_kwh:g} gCO2e/kWh; set --region for a real figure"
        )
    return warnings


def energy_intervals(
    timeline: Sequence[Point],
    counted: Sequence[bool],
    started_epoch_s: float,
    total_j: float,
) -> list[tuple[float, float, float]]:
    """Counted energy per timeline interval, in epoch seconds.

    A component's missing reading (None) holds its last known value, so its energy lands in the
    interval where it is next read. Whatever the points do not show (energy only known at the
    end, e.g. the CPU time of children reaped by wait4) goes into the last interval, so the
    intervals always add up to ``total_j`` exactly.
    """
    intervals: list[tuple[float, float, float]] = []
    last_known = [0.0] * len(counted)
    previous_s: float | None = None
    previous_total = 0.0
    for t_s, cumulative in timeline:
        for i, value in enumerate(cumulative):
            if value is not None and i < len(counted) and counted[i]:
                last_known[i] = value
        total = sum(last_known)
        if previous_s is not None:
            intervals.append(
                (started_epoch_s + previous_s, started_epoch_s + t_s, total - previous_total)
            )
        previous_s, previous_total = t_s, total
    remainder = total_j - previous_total
    if intervals:
        start, end, joules = intervals[-1]
        intervals[-1] = (start, end, joules + remainder)
    elif total_j:
        t = started_epoch_s + (previous_s or 0.0)
        intervals.append((t, t, total_j))
    return intervals
