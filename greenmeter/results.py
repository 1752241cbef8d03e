"""The one result type of a run, and how it is built from what was measured.

Exporters (``report_json``, ``report_csv``, ``summary``) are pure functions of a
:class:`RunResult`; nothing here writes files or prints.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from greenmeter import __version__
from greenmeter.budget import BudgetCheck
from greenmeter.carbon.accounting import energy_intervals
from greenmeter.carbon.intensity_series import IntensitySeries
from greenmeter.carbon.regions import GridIntensity
from greenmeter.idle_baseline import IdleBaseline
from greenmeter.sampler import ComponentTrace, Measurement
from greenmeter.sensors.base import Sensor

SCHEMA_VERSION = 1
COUNTED_KINDS = ("cpu", "gpu", "dram")
"""Kinds summed into ``energy_j.total``; each also has its own ``energy_j`` entry."""
J_PER_KWH = 3.6e6
SCHEDULER_VARIABLES = (
    "SLURM_JOB_ID", "SLURM_JOB_NODELIST", "SLURMD_NODENAME", "SLURM_NODEID", "SLURM_PROCID",
    "SLURM_LOCALID", "SLURM_NTASKS", "RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE",
)
"""Identifiers that let reports of one multi-node job be merged later."""


@dataclass
class ComponentResult:
    kind: str
    name: str
    index: int | None
    source: str
    method: str
    counted: bool
    energy_j: float | None
    mean_power_w: float | None
    samples: int
    partial: bool
    covered_s: float
    details: dict = field(default_factory=dict)
    idle_power_w: float | None = None
    """With ``--idle-baseline``: this component's power before the command started."""
    net_energy_j: float | None = None
    """With ``--idle-baseline``: ``energy_j - idle_power_w x covered_s``, the energy above idle."""


@dataclass
class Carbon:
    region: str | None
    zone_id: str | None
    """None when an intensity file was used without a region."""
    zone_name: str
    intensity_g_per_kwh: float
    intensity_source: str
    intensity_year: int
    basis: str
    region_fallback: bool
    pue: float
    energy_kwh: float
    """IT energy measured or estimated here, before PUE."""
    energy_kwh_with_pue: float
    co2_g: float
    pue_source: str | None = None
    """Where the PUE came from: the cloud provider's published figure, or None (given / default)."""
    time_resolved: bool = False
    """True when the intensity is the energy-weighted mean of an hourly (or finer) series."""
    intensity_outside_s: float = 0.0
    """Seconds of the run outside the series' range, charged its nearest value."""


@dataclass
class RunResult:
    run_id: str
    command: list[str]
    exit_code: int | None
    """None while the command still runs (a checkpoint)."""
    interrupted: bool
    started_at: datetime
    ended_at: datetime
    duration_s: float
    host: dict
    components: list[ComponentResult]
    carbon: Carbon
    warnings: list[str]
    partial: bool = False
    """True for a checkpoint written while the command still ran."""
    schema_version: int = SCHEMA_VERSION
    greenmeter_version: str = __version__
    timeline: list[tuple[float, list[float | None]]] = field(default_factory=list, repr=False)
    timeline_file: dict | None = None
    """The report's ``timeline`` field once the timeline CSV is written (greenmeter/timeline.py)."""
    idle_baseline_s: float | None = None
    """Seconds of idle sampling before the command (``--idle-baseline``); None without."""
    tags: dict[str, str] = field(default_factory=dict)
    ci: dict[str, str] | None = None
    """The CI job that ran it (``labels.ci_context``); None outside CI."""
    units: float | None = None
    unit_name: str | None = None
    repeat_group: str | None = None
    """Shared by the repetitions of one ``run --repeat N``; ``repetition`` is 1..N."""
    repetition: int | None = None
    repetitions: int | None = None
    budget: BudgetCheck | None = None
    cross_check: dict | None = None
    """CodeCarbon's figures for the same run (``--cross-check``, greenmeter/crosscheck.py)."""

    @property
    def energy_j(self) -> dict[str, float | None]:
        return energy_by_kind(self.components)

    @property
    def energy_j_per_unit(self) -> float | None:
        total = self.energy_j["total"]
        return total / self.units if total is not None and self.units else None

    @property
    def co2_g_per_unit(self) -> float | None:
        return self.carbon.co2_g / self.units if self.units else None

    @property
    def energy_net_j(self) -> dict[str, float | None] | None:
        """Like ``energy_j``, above the idle baseline; None without ``--idle-baseline``."""
        if self.idle_baseline_s is None:
            return None
        return energy_by_kind(self.components, "net_energy_j")


def energy_by_kind(components: list[ComponentResult],
                   field_name: str = "energy_j") -> dict[str, float | None]:
    """Joules per counted kind and in total. A kind nothing measured or estimated is
    None, not 0; detail components (counted=False) are never added."""
    out: dict[str, float | None] = {}
    for kind in COUNTED_KINDS:
        values = [getattr(c, field_name) for c in components
                  if c.counted and c.kind == kind and getattr(c, field_name) is not None]
        out[kind] = sum(values) if values else None
    present = [v for v in out.values() if v is not None]
    return {"total": sum(present) if present else None, **out}


def new_run_id(started_at: datetime) -> str:
    """Sortable by time, unique across concurrent runs."""
    return f"{started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    """What does not change during a run; computed once, not at every checkpoint."""
    from greenmeter.sensors.estimate import cpu_model, read_cpuinfo

    return {
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu_model": cpu_model(read_cpuinfo()) or platform.processor() or None,
    }


def host_info(components: list[ComponentResult]) -> dict:
    info = {
        **_machine(),
        "gpu_models": sorted({c.name for c in components if c.kind == "gpu"}),
    }
    scheduler = {name: os.environ[name] for name in SCHEDULER_VARIABLES if name in os.environ}
    if scheduler:
        info["scheduler"] = scheduler
    return info


def component_results(sensors: list[Sensor], measurement: Measurement,
                      idle_power_w: list[float | None] | None = None) -> list[ComponentResult]:
    results = []
    traces = iter(measurement.traces)
    idle = iter(idle_power_w if idle_power_w is not None else [])
    for sensor in sensors:
        try:
            details = sensor.details()
        except Exception as exc:  # a report without details beats no report
            details = [{"details_error": str(exc)} for _ in sensor.components]
        for comp, extra in zip(sensor.components, details):
            trace: ComponentTrace = next(traces)
            energy = trace.energy_j
            covered = trace.covered_s
            idle_w = next(idle, None)
            results.append(ComponentResult(
                kind=comp.kind, name=comp.name, index=comp.index, source=comp.source,
                method=comp.method, counted=comp.counted, energy_j=energy,
                mean_power_w=(energy / covered) if energy is not None and covered > 0 else None,
                samples=trace.reads,
                partial=trace.failed_reads > 0 or energy is None,
                covered_s=covered,
                details=extra,
                idle_power_w=idle_w,
                net_energy_j=(energy - idle_w * covered
                              if energy is not None and idle_w is not None else None),
            ))
    return results


def carbon_for(total_j: float | None, grid: GridIntensity, pue: float, pue_source: str | None = None,
               series: IntensitySeries | None = None, intervals: list | None = None) -> Carbon:
    energy_kwh = (total_j or 0.0) / J_PER_KWH
    if series is None:
        return Carbon(
            region=grid.region, zone_id=grid.zone_id, zone_name=grid.name,
            intensity_g_per_kwh=grid.intensity_g_per_kwh, intensity_source=grid.source,
            intensity_year=grid.year, basis=grid.basis, region_fallback=grid.fallback, pue=pue,
            energy_kwh=energy_kwh, energy_kwh_with_pue=energy_kwh * pue,
            co2_g=energy_kwh * pue * grid.intensity_g_per_kwh, pue_source=pue_source,
        )
    # Hour by hour: the mean is energy-weighted, so co2_g = energy x pue x mean still holds.
    account = series.account(intervals or [])
    first_s = intervals[0][0] if intervals else series.start_s
    year_s = min(max(first_s, series.start_s), series.end_s - 1)  # the year the figures describe
    return Carbon(
        region=grid.region, zone_id=None if grid.fallback else grid.zone_id,
        zone_name=series.source if grid.fallback else grid.name,
        intensity_g_per_kwh=account.mean_intensity_g_per_kwh, intensity_source=series.source,
        intensity_year=datetime.fromtimestamp(year_s, tz=timezone.utc).year, basis=series.basis,
        region_fallback=False, pue=pue, energy_kwh=energy_kwh, energy_kwh_with_pue=energy_kwh * pue,
        co2_g=account.co2_g * pue, pue_source=pue_source, time_resolved=True,
        intensity_outside_s=account.outside_s,
    )


def build_result(run_id: str, command: list[str], exit_code: int | None, interrupted: bool,
                 sensors: list[Sensor],
                 measurement: Measurement, grid: GridIntensity, pue: float,
                 started_at: datetime, notes: list[str], partial: bool = False,
                 pue_source: str | None = None, series: IntensitySeries | None = None,
                 idle: IdleBaseline | None = None, **fields) -> RunResult:
    """``fields``: the RunResult fields the caller knows and the measurement does not
    (``tags``, ``ci``, ``units``, ``repeat_group``...)."""
    components = component_results(sensors, measurement, idle.power_w if idle else None)
    total_j = energy_by_kind(components)["total"]
    intervals = None
    if series is not None:
        intervals = energy_intervals(measurement.timeline, [c.counted for c in components],
                                     started_at.timestamp(), total_j or 0.0)
    carbon = carbon_for(total_j, grid, pue, pue_source, series, intervals)
    warnings = list(notes)
    for sensor in sensors:
        try:
            warnings.extend(sensor.warnings())
        except Exception as exc:
            warnings.append(f"{type(sensor).__name__} warnings unavailable: {exc}")
    warnings.extend(f"sensor error: {e}" for e in measurement.sensor_errors)
    for comp in components:
        if comp.counted and comp.partial:
            warnings.append(f"{comp.kind} {comp.name}: partial figure, covers "
                            f"{comp.covered_s:.1f} s of {measurement.duration_s:.1f} s")
    if carbon.intensity_outside_s > 0:
        warnings.append(f"{carbon.intensity_outside_s:.0f} s of the run fall outside the intensity series "
                        f"({series.source}): charged its nearest value")
    if carbon.basis != "lifecycle":
        warnings.append(f"intensity basis is {carbon.basis!r}, not life-cycle like greenmeter's default "
                        f"figures ({carbon.intensity_source}): compare with other runs with care")
    if carbon.region_fallback:
        warnings.append(f"no region configured: using the world average "
                        f"{grid.intensity_g_per_kwh:g} gCO2e/kWh; set --region for a real figure")
    return RunResult(
        run_id=run_id,
        command=list(command),
        exit_code=exit_code,
        interrupted=interrupted,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=measurement.duration_s),
        duration_s=measurement.duration_s,
        host=host_info(components),
        components=components,
        carbon=carbon,
        warnings=warnings,
        partial=partial,
        timeline=measurement.timeline,
        idle_baseline_s=idle.duration_s if idle else None,
        **fields,
    )
