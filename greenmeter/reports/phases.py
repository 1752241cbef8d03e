"""A run's phases (``RunResult.phases``) as report fields and as table rows: pure
functions shared by the JSON report, the terminal summary and the HTML page."""

from __future__ import annotations

from dataclasses import asdict

from greenmeter.quantities import format_duration, format_energy, format_mass
from greenmeter.results import Phases, singular

MAX_TABLE_ROWS = 40
"""Phases shown in the terminal and HTML tables (the JSON report has all of them)."""


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


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


def phase_table(phases: dict) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a report's ``phases`` (:func:`phases_to_dict`): one row per
    phase, nested ones indented, then the unmarked time."""
    headers = ["phase", "count", "duration", "energy", "CO2e", "each p50/p95", "per unit"]
    rows = []
    listed = phases.get("list") or []
    for p in listed[:MAX_TABLE_ROWS]:
        occ = p.get("energy_per_occurrence_j")
        spread = "-" if occ is None or p["count"] < 2 else (
            f"{format_energy(occ['p50'])} / {format_energy(occ['p95'])}"
        )  # fmt: skip
        per_unit = ", ".join(
            f"{format_energy(j)}/{singular(unit)}"
            for unit, j in (p.get("energy_j_per_unit") or {}).items()
            if j is not None
        )
        rows.append(
            [
                "  " * p["path"].count("/") + p["name"],
                f"{p['count']:,}",
                format_duration(p["duration_s"]),
                format_energy(p["energy_j"]["total"]),
                "-" if p.get("co2_g") is None else format_mass(p["co2_g"]),
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
            format_energy(unmarked["energy_j"]["total"]),
            "",
            "",
            "",
        ]
    )
    return headers, rows
