"""The JSON report: a pure function of a RunResult (schema in docs/report-schema.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from greenmeter.results import RunResult


def iso_utc(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_to_dict(result: RunResult, timeline: dict | None = None) -> dict:
    """The report as a dict; ``timeline`` is its ``timeline`` field, the reference to the
    timeline file written beside it (``greenmeter.reports.timeline.write_timeline``)."""
    labels = result.labels
    return {
        "schema_version": result.schema_version,
        "run_id": labels.run_id,
        "greenmeter_version": result.greenmeter_version,
        "command": labels.command,
        "exit_code": result.exit_code,
        "interrupted": result.interrupted,
        "partial": result.partial,
        "started_at": iso_utc(result.started_at),
        "ended_at": iso_utc(result.ended_at),
        "duration_s": round(result.duration_s, 6),
        "host": result.host,
        "energy_j": result.energy_j,
        "components": [asdict(c) for c in result.components],
        "carbon": asdict(result.carbon),
        "warnings": result.warnings,
        "timeline": timeline,
        "idle_baseline": None
        if result.idle_baseline_s is None
        else {
            "duration_s": round(result.idle_baseline_s, 6),
            "energy_net_j": result.energy_net_j,
        },
        "tags": labels.tags,
        "ci": labels.ci,
        "units": result.units,
        "unit_name": result.unit_name,
        "energy_j_per_unit": result.energy_j_per_unit,
        "co2_g_per_unit": result.co2_g_per_unit,
        "repeat_group": labels.repeat_group,
        "repetition": labels.repetition,
        "repetitions": labels.repetitions,
        "budget": asdict(result.budget) if result.budget else None,
        "cross_check": result.cross_check,
    }


def result_to_json(result: RunResult, timeline: dict | None = None) -> str:
    return json.dumps(result_to_dict(result, timeline), indent=2, allow_nan=False) + "\n"
