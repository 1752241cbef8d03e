"""A run's phases (``RunResult.phases``) as report fields and as table rows: pure
functions shared by the JSON report, the terminal summary and the HTML page."""

from __future__ import annotations

from dataclasses import asdict

from greenmeter.quantities import (
    ENERGY_STEPS,
    MASS_STEPS,
    format_duration,
    format_figure,
)
from greenmeter.results import Phases, range_by_kind, singular

MAX_TABLE_ROWS = 40
"""Phases shown in the terminal and HTML tables (the JSON report has all of them)."""


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _ranges(spans: dict) -> dict:
    return {kind: None if span is None else list(span) for kind, span in spans.items()}


def phases_to_dict(phases: Phases | None) -> dict | None:
    """The report's ``phases`` field (docs/report-schema.md)."""
    if phases is None:
        return None
    return {
        "marks": phases.marks,
        "max_lag_s": _rounded(phases.max_lag_s),
        "ignored": phases.ignored,
        "unmarked": {
            "duration_s": _rounded(phases.unmarked_duration_s),
            "energy_j": phases.unmarked_energy_j,
            "energy_range_j": _ranges(range_by_kind(phases.unmarked_components)),
        },
        "list": [
            {
                "path": p.path,
                "name": p.name,
                "parent": p.parent,
                "count": p.count,
                "start_s": _rounded(p.start_s),
                "end_s": _rounded(p.end_s),
                "duration_s": _rounded(p.duration_s),
                "energy_j": p.energy_j,
                "energy_basis": p.energy_basis,
                "energy_range_j": _ranges(p.energy_range_j),
                "components": [asdict(c) for c in p.components],
                "co2_g": p.co2_g,
                "units": p.units,
                "energy_j_per_unit": p.energy_j_per_unit,
                "energy_per_occurrence_j": None
                if p.energy_per_occurrence_j is None
                else asdict(p.energy_per_occurrence_j),
                "duration_per_occurrence_s": None
                if p.duration_per_occurrence_s is None
                else asdict(p.duration_per_occurrence_s),
                "occurrences": [
                    [_rounded(start), _rounded(end), energy] for start, end, energy in p.occurrences
                ],
                "unclosed": p.unclosed,
            }
            for p in phases.phases
        ],
    }


def _figure(value: float | None, phase: dict, steps=ENERGY_STEPS) -> str:
    """A figure of a phase (its energy, CO2e, per occurrence, per unit): ``≈`` when the
    phase's energy is estimated (the range is in the report: ``energy_range_j``)."""
    span = (phase.get("energy_range_j") or {}).get("total")
    total = phase["energy_j"]["total"]
    if span is None or value is None or not total:
        return format_figure(value, None, steps)
    scaled = (value * span[0] / total, value * span[1] / total)
    return format_figure(value, scaled, steps, with_range=False)


def phase_table(phases: dict) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a report's ``phases`` (:func:`phases_to_dict`): one row per
    phase, nested ones indented, then the unmarked time."""
    headers = ["phase", "count", "duration", "energy", "CO2e", "each p50/p95", "per unit"]
    rows = []
    listed = phases.get("list") or []
    for p in listed[:MAX_TABLE_ROWS]:
        occ = p.get("energy_per_occurrence_j")
        spread = "-" if occ is None or p["count"] < 2 else (
            f"{_figure(occ['p50'], p)} / {_figure(occ['p95'], p)}"
        )  # fmt: skip
        per_unit = ", ".join(
            f"{_figure(j, p)}/{singular(unit)}"
            for unit, j in (p.get("energy_j_per_unit") or {}).items()
            if j is not None
        )
        rows.append(
            [
                "  " * p["path"].count("/") + p["name"],
                f"{p['count']:,}",
                format_duration(p["duration_s"]),
                _figure(p["energy_j"]["total"], p),
                "-" if p.get("co2_g") is None else _figure(p["co2_g"], p, MASS_STEPS),
                spread,
                per_unit or "-",
            ]
        )
    if len(listed) > MAX_TABLE_ROWS:
        rows.append([f"... {len(listed) - MAX_TABLE_ROWS} more in the JSON report"] + [""] * 6)
    unmarked = phases["unmarked"]
    rows.append(
        [
            "(unmarked)",
            "",
            format_duration(unmarked["duration_s"]),
            _figure(unmarked["energy_j"]["total"], unmarked),
            "",
            "",
            "",
        ]
    )
    return headers, rows
