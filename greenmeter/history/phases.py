"""The history one row per phase: ``report --group-by phase`` and ``compare --phase``.

Phases are in JSON reports only (schema 2, ``phases``); a run's CSV row has none. Each
phase row is its run's row (identity, tags, CI job, region...) with the run's figures
replaced by the phase's own: energy, duration, CO2e and units (one unit name per row:
``unit``, or the phase's only unit), so every aggregate and comparison of runs works on
phases unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from greenmeter.history.load import Warn, expand_paths, read_report
from greenmeter.quantities import J_PER_KWH


def _phase_records(paths: Iterable[Path], warn: Warn, unit: str | None) -> list[dict]:
    records = []
    for path, named in expand_paths(paths):
        if path.suffix.lower() != ".json":
            continue
        report = read_report(path, named, warn)
        phases = (report or {}).get("phases") or {}
        for phase in phases.get("list") or []:
            try:
                units = phase.get("units") or {}
                name = (
                    unit if unit is not None else (next(iter(units)) if len(units) == 1 else None)
                )
                total = (phase.get("energy_j") or {}).get("total")
                records.append(
                    {
                        "run_id": report["run_id"],
                        "phase": str(phase["path"]),
                        "phase_name": str(phase["name"]),
                        "phase_count": float(phase["count"]),
                        "energy_total_j": total,
                        "energy_cpu_j": phase["energy_j"].get("cpu"),
                        "energy_gpu_j": phase["energy_j"].get("gpu"),
                        "energy_dram_j": phase["energy_j"].get("dram"),
                        "energy_kwh": None if total is None else total / J_PER_KWH,
                        "duration_s": phase.get("duration_s"),
                        "co2_g": phase.get("co2_g"),
                        "units": units.get(name) if name else None,
                        "unit_name": name,
                    }
                )
            except (TypeError, KeyError, AttributeError, ValueError) as exc:
                warn(f"{path}: malformed phase ({type(exc).__name__}: {exc}); skipped")
    return records


def phase_rows(
    runs: pd.DataFrame, paths: Iterable[Path], warn: Warn, unit: str | None = None
) -> pd.DataFrame:
    """One row per (run, phase) of ``runs`` (a ``load_history`` frame) whose JSON report
    among ``paths`` has phases; ``unit``: whose count gives ``energy_j_per_unit``."""
    records = _phase_records(paths, warn, unit)
    if not records:
        warn("no phases in these runs (phases are in JSON reports of runs that marked them)")
    phases = pd.DataFrame.from_records(
        records,
        columns=[
            "run_id", "phase", "phase_name", "phase_count", "energy_total_j", "energy_cpu_j",
            "energy_gpu_j", "energy_dram_j", "energy_kwh", "duration_s", "co2_g", "units",
            "unit_name",
        ],
    )  # fmt: skip
    numeric = [c for c in phases.columns if c not in ("run_id", "phase", "phase_name", "unit_name")]
    phases[numeric] = phases[numeric].apply(pd.to_numeric, errors="coerce").astype("float64")
    replaced = [c for c in phases.columns if c != "run_id" and c in runs.columns]
    frame = runs.drop(columns=replaced).merge(phases, on="run_id", how="inner")
    frame["energy_j_per_unit"] = (frame["energy_total_j"] / frame["units"]).where(
        frame["units"] > 0
    )
    frame["co2_g_per_unit"] = (frame["co2_g"] / frame["units"]).where(frame["units"] > 0)
    return frame


def select_phase(frame: pd.DataFrame, phase: str) -> pd.DataFrame:
    """The rows of one phase: its path (``epoch/step``) or, when that names none, its name."""
    by_path = frame[frame["phase"] == phase]
    return by_path if len(by_path) else frame[frame["phase_name"] == phase]
