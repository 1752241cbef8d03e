"""greenmeter history as CodeCarbon's ``emissions.csv``, so dashboards built on CodeCarbon
read greenmeter runs.

Columns, order and units are CodeCarbon 3.3.2's (``codecarbon/output_methods/
emissions_data.py``, ``EmissionsData``): energy in kWh and power in W with the PUE applied
(as CodeCarbon applies it), emissions in kg, duration in s. What greenmeter does not know
(water, location, utilisation, RAM size) is left empty. The mapping is documented in
docs/ci.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenmeter.carbon.regions import country_of_zone
from greenmeter.quantities import J_PER_KWH
from greenmeter.results import COUNTED_KINDS

CODECARBON_VERSION = "3.3.2"
CODECARBON_COLUMNS = (
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
)


def to_codecarbon(frame: pd.DataFrame, project_name: str) -> pd.DataFrame:
    """One CodeCarbon row per greenmeter run (``frame`` from ``history.load_history`` with
    every column)."""
    index = frame.index
    empty = pd.Series(np.nan, index=index)
    pue = frame["pue"].fillna(1.0)
    duration = frame["duration_s"]
    seconds = duration.where(duration > 0)
    region = frame["region"].fillna("")
    cloud = region.str.contains(":", regex=False)
    zone = frame["zone_id"].fillna("")
    countries = {z: country_of_zone(z) for z in zone.unique() if z}
    iso3 = zone.map({z: iso for z, (iso, _) in countries.items()})
    subnational = zone.ne("") & zone.ne(iso3.fillna(""))
    # CodeCarbon's timestamp: end of the run, second resolution, no zone; greenmeter's is UTC.
    ended = pd.to_datetime(frame["ended_at"], format="ISO8601", utc=True, errors="coerce")
    measured_somewhere = pd.concat(
        [frame[f"{k}_method"].fillna("").str.contains("measured") for k in COUNTED_KINDS], axis=1
    ).any(axis=1)

    def kwh(column: str) -> pd.Series:
        return frame[column] * pue / J_PER_KWH

    def watts(column: str) -> pd.Series:
        return frame[column] * pue / seconds

    out = pd.DataFrame(
        {
            "timestamp": ended.dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "project_name": project_name,
            "run_id": frame["run_id"],
            "experiment_id": frame["repeat_group"],
            "duration": duration,
            "emissions": frame["co2_g"] / 1000.0,
            "emissions_rate": frame["co2_g"] / 1000.0 / seconds,
            "cpu_power": watts("energy_cpu_j"),
            "gpu_power": watts("energy_gpu_j"),
            "ram_power": watts("energy_dram_j"),
            "cpu_energy": kwh("energy_cpu_j"),
            "gpu_energy": kwh("energy_gpu_j"),
            "ram_energy": kwh("energy_dram_j"),
            "energy_consumed": kwh("energy_total_j"),
            "water_consumed": empty,
            "country_name": zone.map({z: name for z, (_, name) in countries.items()}),
            "country_iso_code": iso3,
            "region": zone.where(subnational),
            "cloud_provider": region.str.split(":", n=1).str[0].where(cloud),
            "cloud_region": region.str.split(":", n=1).str[-1].where(cloud),
            "os": frame["os"],
            "python_version": frame["python"],
            "codecarbon_version": empty,
            "cpu_count": empty,
            "cpu_model": frame["cpu_model"],
            "gpu_count": frame["gpu_count"],
            "gpu_model": frame["gpu_models"],
            "longitude": empty,
            "latitude": empty,
            "ram_total_size": empty,
            "tracking_mode": np.where(measured_somewhere, "machine", "process"),
            "cpu_utilization_percent": empty,
            "gpu_utilization_percent": empty,
            "ram_utilization_percent": empty,
            "ram_used_gb": empty,
            "on_cloud": np.where(cloud, "Y", "N"),
            "pue": pue,
            "wue": empty,
        },
        index=index,
    )
    return out[list(CODECARBON_COLUMNS)]
