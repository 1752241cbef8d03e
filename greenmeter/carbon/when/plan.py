"""``greenmeter when`` and ``run --start-within`` in one function: outlook -> search -> plan.

A :class:`Plan` is what every output format of ``when`` writes (``greenmeter.reports.when_plan``)
and what a run that waited for its start records (``StartRecord``, the report's
``scheduled_start``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from greenmeter.carbon.intensity_series import IntensitySeries
from greenmeter.carbon.when.outlook import Outlook, outlook
from greenmeter.carbon.when.window import JobShape, Start, best_starts, check_fits
from greenmeter.quantities import J_PER_KWH


@dataclass(frozen=True)
class Plan:
    zone_id: str
    job: JobShape
    earliest_s: float
    deadline_s: float
    outlook: Outlook
    best: Start
    now: Start
    """Starting at ``earliest_s`` (now, unless ``--from``)."""
    alternatives: list[Start]
    warnings: list[str] = field(default_factory=list)

    @property
    def saving_pct(self) -> float:
        """Expected saving of the best start against starting now, in % of now's CO2e."""
        now = self.now.intensity_g_per_kwh
        return 100.0 * (now - self.best.intensity_g_per_kwh) / now if now > 0 else 0.0

    def co2_g(self, start: Start) -> float | None:
        """Expected grams for the job's energy, when it is known."""
        if self.job.energy_j is None:
            return None
        return start.intensity_g_per_kwh * self.job.energy_j / J_PER_KWH


def plan_start(
    zone_id: str,
    job: JobShape,
    earliest_s: float,
    deadline_s: float,
    *,
    forecast: IntensitySeries | None = None,
    source: str = "auto",
    offline: bool = False,
    alternatives: int = 3,
    env: Mapping[str, str] | None = None,
) -> Plan:
    """The best start of ``job`` in [earliest_s, deadline_s] (the job ends by the deadline).
    Raises WindowError (the job does not fit) or NoHourlyHistory (nothing to plan with)."""
    check_fits(job, earliest_s, deadline_s)
    seen = outlook(
        zone_id,
        earliest_s,
        deadline_s,
        job.duration_s,
        forecast=forecast,
        source=source,
        offline=offline,
        env=env,
    )
    warnings = list(seen.warnings)
    if seen.series.end_s < deadline_s:
        warnings.append(
            f"the {seen.source} forecast ends at {_utc(seen.series.end_s)}: "
            f"later starts were not considered"
        )
    best, now, others = best_starts(
        seen.series,
        job,
        earliest_s,
        deadline_s,
        low=seen.low,
        high=seen.high,
        alternatives=alternatives,
    )
    return Plan(zone_id, job, earliest_s, deadline_s, seen, best, now, others, warnings)


def _utc(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class StartRecord:
    """``run --start-within``: what was planned and how long the run waited, for its report."""

    plan: Plan
    waited_s: float

    def as_dict(self, actual_g_per_kwh: float | None, actual_source: str | None) -> dict:
        """The report's ``scheduled_start``; ``actual``: the run's own time-resolved intensity
        (a live provider or an intensity file), None when the run had only a yearly figure."""
        plan, best = self.plan, self.plan.best
        return {
            "within_s": plan.deadline_s - plan.job.duration_s - plan.earliest_s,
            "expected_duration_s": plan.job.duration_s,
            "planned_start": _iso(best.start_s),
            "waited_s": round(self.waited_s, 3),
            "rests_on": plan.outlook.rests_on,
            "kind": plan.outlook.kind,
            "source": plan.outlook.source,
            "expected_intensity_g_per_kwh": round(best.intensity_g_per_kwh, 3),
            "expected_low_g_per_kwh": _round(best.low_g_per_kwh),
            "expected_high_g_per_kwh": _round(best.high_g_per_kwh),
            "now_intensity_g_per_kwh": round(plan.now.intensity_g_per_kwh, 3),
            "expected_saving_pct": round(plan.saving_pct, 2),
            "actual_intensity_g_per_kwh": _round(actual_g_per_kwh),
            "actual_source": actual_source,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _iso(t_s: float) -> str:
    return (
        datetime.fromtimestamp(t_s, tz=timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )
