"""Sums and means of the history per group (``greenmeter report --group-by``)."""

from __future__ import annotations

import pandas as pd

from greenmeter.history.select import key_series

AGGREGATE_COLUMNS = (
    "runs",
    "partial",
    "failed",
    "over_budget",
    "first_started_at",
    "last_started_at",
    "duration_s_sum",
    "duration_s_mean",
    "energy_j_sum",
    "energy_j_mean",
    "energy_j_std",
    "energy_kwh_sum",
    "co2_g_sum",
    "co2_g_mean",
    "units_sum",
    "energy_j_per_unit",
    "co2_g_per_unit",
    "unit_name",
)
AGGREGATE_INPUTS = {
    "exit_code",
    "duration_s",
    "energy_total_j",
    "energy_kwh",
    "co2_g",
    "units",
    "unit_name",
    "budget_exceeded",
}
ALL_RUNS = "all runs"


def _names(values: pd.Series) -> str:
    """The unit names a group counted, in order of first use (``samples`` or
    ``samples, images``): a ratio over different units is said, not hidden."""
    return ", ".join(dict.fromkeys(v for v in values.dropna() if v))


def aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of ``keys`` (none: one group of every run): counts, sums and means. Energy
    and CO2 per unit are ratios of sums over the runs that counted units."""
    key_names = keys or ["group"]
    work = pd.DataFrame(
        {
            "run_id": frame["run_id"],
            "partial": frame["partial"],
            "failed": frame["exit_code"].notna() & frame["exit_code"].ne(0),
            "over_budget": frame["budget_exceeded"].eq("True"),
            "started": frame["started"],
            "duration_s": frame["duration_s"],
            "energy_j": frame["energy_total_j"],
            "energy_kwh": frame["energy_kwh"],
            "co2_g": frame["co2_g"],
            "units": frame["units"].where(frame["units"] > 0),
            "unit_name": frame["unit_name"].where(frame["units"] > 0),
        },
        index=frame.index,
    )
    work["unit_energy_j"] = work["energy_j"].where(work["units"].notna())
    work["unit_co2_g"] = work["co2_g"].where(work["units"].notna())
    for name, key in zip(key_names, keys):
        work[name] = key_series(frame, key)
    if not keys:
        work["group"] = ALL_RUNS
    grouped = work.groupby(key_names, sort=True, dropna=False)
    out = grouped.agg(
        runs=("run_id", "size"),
        partial=("partial", "sum"),
        failed=("failed", "sum"),
        over_budget=("over_budget", "sum"),
        first_started_at=("started", "min"),
        last_started_at=("started", "max"),
        duration_s_sum=("duration_s", "sum"),
        duration_s_mean=("duration_s", "mean"),
        energy_j_sum=("energy_j", "sum"),
        energy_j_mean=("energy_j", "mean"),
        energy_j_std=("energy_j", "std"),
        energy_kwh_sum=("energy_kwh", "sum"),
        co2_g_sum=("co2_g", "sum"),
        co2_g_mean=("co2_g", "mean"),
        units_sum=("units", "sum"),
        unit_energy_j=("unit_energy_j", "sum"),
        unit_co2_g=("unit_co2_g", "sum"),
        unit_name=("unit_name", _names),
    )
    counted = out["units_sum"] > 0
    out["units_sum"] = out["units_sum"].where(counted)
    out["energy_j_per_unit"] = (out["unit_energy_j"] / out["units_sum"]).where(counted)
    out["co2_g_per_unit"] = (out["unit_co2_g"] / out["units_sum"]).where(counted)
    return out.reset_index()[[*key_names, *AGGREGATE_COLUMNS]]
