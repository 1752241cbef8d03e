"""Where a run's :class:`~greenmeter.results.RunResult` is assembled, once, from what was
measured (the sampler's :class:`~greenmeter.run.sampler.Measurement`), how the command
ended, and what the run was asked to be (:class:`~greenmeter.run.options.RunOptions`)."""

from __future__ import annotations

import functools
import os
import platform
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from greenmeter.carbon.footprint import CarbonOptions, footprint
from greenmeter.results import DEFAULT_UNIT_NAME, ComponentResult, RunResult, energy_by_kind
from greenmeter.run.idle_baseline import IdleBaseline
from greenmeter.run.options import RunOptions
from greenmeter.run.runner import ChildOutcome
from greenmeter.run.sampler import Measurement
from greenmeter.run.units_of_work import UNITS_FILE_VAR, UnitsReading
from greenmeter.sensors.base import Sensor
from greenmeter.sensors.estimate import cpu_model, read_cpuinfo

if TYPE_CHECKING:  # imported with --cross-check only
    from greenmeter.run.crosscheck import TrackedRun

SCHEDULER_VARIABLES = (
    "SLURM_JOB_ID", "SLURM_JOB_NODELIST", "SLURMD_NODENAME", "SLURM_NODEID", "SLURM_PROCID",
    "SLURM_LOCALID", "SLURM_NTASKS", "RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE",
)  # fmt: skip
"""Identifiers that let reports of one multi-node job be merged later."""


def build_result(
    options: RunOptions,
    sensors: list[Sensor],
    measurement: Measurement,
    *,
    started_at: datetime,
    outcome: ChildOutcome | None,
    notes: list[str],
    idle: IdleBaseline | None = None,
    carbon: CarbonOptions | None = None,
    units: UnitsReading | None = None,
    cross_check: TrackedRun | None = None,
) -> RunResult:
    """The run's result; ``outcome`` None for a checkpoint of a command still running.

    ``carbon``: the carbon options as they stand at the end (a live provider's series in
    place of the shipped figure); default ``options.carbon``. ``units``: what the command
    wrote to ``$GREENMETER_UNITS_FILE``. ``cross_check``: CodeCarbon's tracker over the
    same run (``--cross-check``), stopped."""
    components = component_results(sensors, measurement, idle.power_w if idle else None)
    total_j = energy_by_kind(components)["total"]
    carbon_figure, carbon_warnings = footprint(
        carbon or options.carbon,
        total_j,
        measurement.timeline,
        [c.counted for c in components],
        started_at.timestamp(),
    )
    unit_count, unit_name, unit_notes = counted_units(options, units)
    warnings = [*notes, *unit_notes]
    for sensor in sensors:
        try:
            warnings.extend(sensor.warnings())
        except Exception as exc:
            warnings.append(f"{type(sensor).__name__} warnings unavailable: {exc}")
    warnings.extend(f"sensor error: {e}" for e in measurement.sensor_errors)
    for comp in components:
        if comp.counted and comp.partial:
            warnings.append(
                f"{comp.kind} {comp.name}: partial figure, covers "
                f"{comp.covered_s:.1f} s of {measurement.duration_s:.1f} s"
            )
    warnings.extend(carbon_warnings)
    if cross_check is not None and cross_check.error:
        warnings.append(f"cross-check: {cross_check.error}")
    budget = options.budget.check(total_j, carbon_figure.co2_g) if options.budget else None
    return RunResult(
        labels=options.labels,
        exit_code=None if outcome is None else outcome.exit_code,
        interrupted=outcome is not None and outcome.interrupted,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=measurement.duration_s),
        duration_s=measurement.duration_s,
        host=host_info(components),
        components=components,
        carbon=carbon_figure,
        warnings=warnings,
        partial=outcome is None,
        timeline=measurement.timeline,
        idle_baseline_s=idle.duration_s if idle else None,
        units=unit_count,
        unit_name=unit_name,
        budget=budget if outcome is not None else None,
        cross_check=None
        if cross_check is None
        else cross_check.as_dict(energy_by_kind(components), carbon_figure.co2_g),
    )


def counted_units(
    options: RunOptions, reading: UnitsReading | None
) -> tuple[float | None, str | None, list[str]]:
    """(units, unit name, notes). The command's own count wins over ``--units``: it knows
    what it did."""
    reading = reading or UnitsReading(None, None, None)
    notes = [reading.warning] if reading.warning else []
    units, name = options.units, options.unit_name
    if reading.units is not None:
        if units is not None and units != reading.units:
            notes.append(
                f"--units {units:g} given, but the command wrote {reading.units:g} "
                f"to ${UNITS_FILE_VAR}: using the command's count"
            )
        units, name = reading.units, reading.unit_name or name
    return units, (name or DEFAULT_UNIT_NAME) if units is not None else None, notes


def component_results(
    sensors: list[Sensor], measurement: Measurement, idle_power_w: list[float | None] | None = None
) -> list[ComponentResult]:
    results = []
    traces = iter(measurement.traces)
    idle = iter(idle_power_w if idle_power_w is not None else [])
    for sensor in sensors:
        try:
            details = sensor.details()
        except Exception as exc:  # a report without details beats no report
            details = [{"details_error": str(exc)} for _ in sensor.components]
        for comp, extra in zip(sensor.components, details):
            trace = next(traces)
            energy = trace.energy_j
            covered = trace.covered_s
            idle_w = next(idle, None)
            results.append(
                ComponentResult(
                    kind=comp.kind,
                    name=comp.name,
                    index=comp.index,
                    source=comp.source,
                    method=comp.method,
                    counted=comp.counted,
                    energy_j=energy,
                    mean_power_w=(energy / covered) if energy is not None and covered > 0 else None,
                    samples=trace.reads,
                    partial=trace.failed_reads > 0 or energy is None,
                    covered_s=covered,
                    details=extra,
                    idle_power_w=idle_w,
                    net_energy_j=(
                        energy - idle_w * covered
                        if energy is not None and idle_w is not None
                        else None
                    ),
                )
            )
    return results


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    """What does not change during a run; computed once, not at every checkpoint."""
    return {
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu_model": cpu_model(read_cpuinfo()) or platform.processor() or None,
    }


def host_info(components: list[ComponentResult]) -> dict:
    info = {**_machine(), "gpu_models": sorted({c.name for c in components if c.kind == "gpu"})}
    scheduler = {name: os.environ[name] for name in SCHEDULER_VARIABLES if name in os.environ}
    if scheduler:
        info["scheduler"] = scheduler
    return info
