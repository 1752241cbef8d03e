"""The run's timeline as energy intervals, for hour-by-hour CO2.

The sampler keeps `(seconds since start, cumulative joules per component)` points. Consecutive
points give `(start_epoch_s, end_epoch_s, joules)` intervals of the counted components' energy,
which an `IntensitySeries` turns into grams at the intensity of each moment.
"""

from __future__ import annotations

from collections.abc import Sequence


def energy_intervals(
    timeline: Sequence[tuple[float, Sequence[float | None]]],
    counted: Sequence[bool],
    started_epoch_s: float,
    total_j: float,
) -> list[tuple[float, float, float]]:
    """Counted energy per timeline interval, in epoch seconds.

    A component's missing reading (None) holds its last known value, so its energy lands in the
    interval where it is next read. Whatever the points do not show (energy only known at the
    end, e.g. the CPU time of children reaped by wait4) goes into the last interval, so the
    intervals always add up to `total_j` exactly.
    """
    intervals: list[tuple[float, float, float]] = []
    last_known = [0.0] * len(counted)
    previous_t: float | None = None
    previous_total = 0.0
    for t_s, cumulative in timeline:
        for i, value in enumerate(cumulative):
            if value is not None and i < len(counted) and counted[i]:
                last_known[i] = value
        total = sum(last_known)
        if previous_t is not None:
            intervals.append((started_epoch_s + previous_t, started_epoch_s + t_s, total - previous_total))
        previous_t, previous_total = t_s, total
    remainder = total_j - previous_total
    if intervals:
        start, end, joules = intervals[-1]
        intervals[-1] = (start, end, joules + remainder)
    elif total_j:
        t = started_epoch_s + (previous_t or 0.0)
        intervals.append((t, t, total_j))
    return intervals
