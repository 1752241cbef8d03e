"""The JSON report: a pure function of a RunResult (schema in docs/report-schema.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from greenmeter.reports.phases import phases_to_dict
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
        "energy_basis": result.energy_basis,
        "energy_range_j": {
            kind: None if span is None else list(span)
            for kind, span in result.energy_range_j.items()
        },
        "co2_range_g": None if result.co2_range_g is None else list(result.co2_range_g),
        "leaves_out": list(result.leaves_out),
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
        "units_of_work": units_of_work(result),
        "repeat_group": labels.repeat_group,
        "repetition": labels.repetition,
        "repetitions": labels.repetitions,
        "budget": asdict(result.budget) if result.budget else None,
        "cross_check": result.cross_check,
        "phases": phases_to_dict(result.phases),
        "job": result.job,
        "activity_channels": [asdict(c) for c in result.channels],
        "findings": [asdict(f) for f in result.findings],
        "scheduled_start": result.scheduled_start,
    }


def units_of_work(result: RunResult) -> list[dict]:
    """Every kind of unit with its energy and CO2e per unit and its throughput."""
    total = result.energy_j["total"]
    return [
        {
            "name": unit.name,
            "count": unit.count,
            "energy_j_per_unit": None if total is None else total / unit.count,
            "co2_g_per_unit": result.carbon.co2_g / unit.count,
            "per_s": unit.count / result.duration_s if result.duration_s > 0 else None,
        }
        for unit in result.units_of_work
    ]


def result_to_json(result: RunResult, timeline: dict | None = None) -> str:
    return json.dumps(result_to_dict(result, timeline), indent=2, allow_nan=False) + "\n"
