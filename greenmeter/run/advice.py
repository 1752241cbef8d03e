"""The run's findings (``greenmeter.findings``), with the command's own history for
``regression``, and ``--fail-on``'s verdict on them."""

from __future__ import annotations

from greenmeter.findings.analyse import analyse
from greenmeter.findings.thresholds import DEFAULT_THRESHOLDS
from greenmeter.results import Finding, RunResult
from greenmeter.run.options import RunOptions


def findings_of(result: RunResult, options: RunOptions) -> list[Finding]:
    """The findings of a finished run; a bug here costs the advice, never the report."""
    thresholds = options.advice.thresholds or DEFAULT_THRESHOLDS
    prior = None
    if result.energy_j_per_unit is not None:
        from greenmeter.run.own_history import prior_j_per_unit

        prior = prior_j_per_unit(
            options.outputs.csv_path, result.labels, result.unit_name, thresholds.regression_runs
        )
    try:
        return analyse(result, thresholds, prior)
    except Exception:  # advice is a heuristic extra: the run's figures stand without it
        return []


def failing(result: RunResult, options: RunOptions) -> list[Finding]:
    """The findings named by ``--fail-on``."""
    return [f for f in result.findings if f.id in options.advice.fail_on]
