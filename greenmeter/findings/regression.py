"""``regression``: this run's energy per unit against the same command's own history.

The history is the runs before this one with the same recorded command, tags and unit
(read by ``greenmeter.run.own_history``); the comparison is with the median of the last
``regression_runs`` of them, so one odd run in the history moves nothing.
"""

from __future__ import annotations

import statistics

from greenmeter.findings.draft import Draft
from greenmeter.findings.thresholds import Thresholds
from greenmeter.quantities import format_energy
from greenmeter.results import RunResult, singular


def regression(result: RunResult, prior_j_per_unit: list[float], t: Thresholds) -> Draft | None:
    """``prior_j_per_unit``: J per unit of the earlier runs, oldest first."""
    now = result.energy_j_per_unit
    recent = prior_j_per_unit[-t.regression_runs :] if t.regression_runs else []
    if now is None or len(recent) < max(1, t.regression_min_runs):
        return None
    median = statistics.median(recent)
    if median <= 0:
        return None
    change_pct = (now - median) / median * 100
    if change_pct < t.regression_pct:
        return None
    unit = singular(result.unit_name or "unit")
    return Draft(
        "regression",
        f"{change_pct:.0f} % more J/{unit} than the median of your last {len(recent)} runs "
        f"({format_energy(now)} against {format_energy(median)})",
        {
            "energy_j_per_unit": now,
            "median_j_per_unit": median,
            "change_pct": round(change_pct, 1),
            "runs_compared": len(recent),
            "unit_name": result.unit_name,
        },
        (now - median) * (result.units or 0.0),
        "Compare this run with the last good one (greenmeter compare) and look at what "
        "changed: code, data, batch size, precision, library versions, the machine.",
    )
