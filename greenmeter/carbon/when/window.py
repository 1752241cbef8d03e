"""The greenest start for a job in a window: a pure search over a step function of intensity.

A job is its duration and how its energy is spread over that duration (``JobShape``: a run's
power over time, or flat). Its intensity for a start time ``s`` is the energy-weighted mean of
the series over ``[s, s + duration)``. The series is a step function, so that mean is piecewise
linear in ``s``: its minimum lies where a step boundary meets the job's start, end or one of its
segment boundaries, or at the window's ends. Those candidates are searched exactly (no grid,
no sampling), with the series integrated once (prefix sums, one bisection per lookup).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from greenmeter.carbon.intensity_series import IntensitySeries
from greenmeter.quantities import format_duration

SPREAD_APART_S = 3600.0
"""Alternatives start at least this far from the best and from each other."""


class WindowError(ValueError):
    """The job cannot be placed in the window; str() is one line naming the fix."""


@dataclass(frozen=True)
class JobShape:
    """A job's duration and the share of its energy in each part of it."""

    duration_s: float
    segments: tuple[tuple[float, float, float], ...]
    """(start offset s, end offset s, share of the energy); shares add up to 1."""
    energy_j: float | None = None
    """The job's energy when known (``--like``, ``--energy``): for grams, not only g/kWh."""
    source: str = "flat"
    """``flat`` (constant power) or the run it came from (``RUN.json``)."""

    @classmethod
    def flat(cls, duration_s: float, energy_j: float | None = None) -> JobShape:
        return cls(duration_s, ((0.0, duration_s, 1.0),), energy_j)


@dataclass(frozen=True)
class Start:
    start_s: float
    """Epoch seconds."""
    intensity_g_per_kwh: float
    """Energy-weighted mean over the job."""
    low_g_per_kwh: float | None = None
    high_g_per_kwh: float | None = None
    """The spread around it (the profile's 10th and 90th percentiles), when the source has one."""


class _Integral:
    """F(t) = integral of the series from its start to t, in (g/kWh) x s; linear between points."""

    def __init__(self, series: IntensitySeries):
        self.times = [*series.times_s, series.end_s]
        self.values = series.values_g_per_kwh
        self.cumulative = [0.0]
        for (a, b), value in zip(itertools.pairwise(self.times), self.values):
            self.cumulative.append(self.cumulative[-1] + value * (b - a))

    def at(self, t_s: float) -> float:
        i = min(max(bisect.bisect_right(self.times, t_s) - 1, 0), len(self.values) - 1)
        return self.cumulative[i] + self.values[i] * (t_s - self.times[i])

    def job_mean(self, start_s: float, job: JobShape) -> float:
        total = 0.0
        for a, b, share in job.segments:
            total += share * (self.at(start_s + b) - self.at(start_s + a)) / (b - a)
        return total


def check_fits(job: JobShape, earliest_s: float, deadline_s: float) -> None:
    """WindowError when the job is longer than the window."""
    if job.duration_s > deadline_s - earliest_s:
        raise WindowError(
            f"the job ({format_duration(job.duration_s)}) is longer than the window "
            f"({format_duration(deadline_s - earliest_s)}); give a longer window or a shorter job"
        )


def latest_start(series: IntensitySeries, job: JobShape, earliest_s: float, deadline_s: float):
    """The latest start whose job ends by ``deadline_s`` and inside the series; WindowError
    when the job does not fit at all."""
    check_fits(job, earliest_s, deadline_s)
    latest = min(deadline_s, series.end_s) - job.duration_s
    if latest < max(earliest_s, series.start_s):
        raise WindowError("the intensity series does not cover the job anywhere in the window")
    return latest


def best_starts(
    series: IntensitySeries,
    job: JobShape,
    earliest_s: float,
    deadline_s: float,
    *,
    low: IntensitySeries | None = None,
    high: IntensitySeries | None = None,
    alternatives: int = 3,
) -> tuple[Start, Start, list[Start]]:
    """(best start, starting at ``earliest_s``, next best starts) for a job that starts at or
    after ``earliest_s`` and ends by ``deadline_s``, within the series' range. Ties go to the
    earlier start. ``low``/``high``: series of the spread, evaluated at the same starts."""
    first = max(earliest_s, series.start_s)
    last = latest_start(series, job, earliest_s, deadline_s)
    offsets = sorted({x for a, b, _ in job.segments for x in (a, b)})
    candidates = {first, last}
    for boundary in series.times_s[1:]:
        for offset in offsets:
            s = boundary - offset
            if first <= s <= last:
                candidates.add(s)
    integral = _Integral(series)
    # Rounded to a nano-g/kWh for the order only: on a flat stretch, float noise must not
    # beat the earlier start.
    scored = sorted(
        ((integral.job_mean(s, job), s) for s in candidates),
        key=lambda pair: (round(pair[0], 9), pair[1]),
    )
    bands = [_Integral(b) if b is not None else None for b in (low, high)]

    def start(s: float, mean: float | None = None) -> Start:
        lo, hi = (b.job_mean(s, job) if b else None for b in bands)
        return Start(s, integral.job_mean(s, job) if mean is None else mean, lo, hi)

    best_mean, best_s = scored[0]
    chosen = [best_s]
    others = []
    for mean, s in scored[1:]:
        if len(others) >= alternatives:
            break
        if all(abs(s - c) >= SPREAD_APART_S for c in chosen):
            chosen.append(s)
            others.append(start(s, mean))
    return start(best_s, best_mean), start(first), others
