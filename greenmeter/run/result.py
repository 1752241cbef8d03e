"""Where a run's :class:`~greenmeter.results.RunResult` is assembled, once, from what was
measured (the sampler's :class:`~greenmeter.run.sampler.Measurement`), how the command
ended, and what the run was asked to be (:class:`~greenmeter.run.options.RunOptions`)."""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from greenmeter.carbon.footprint import CarbonOptions, footprint
from greenmeter.quantities import format_count, format_energy_range
from greenmeter.results import (
    DEFAULT_UNIT_NAME,
    ESTIMATED,
    MIXED,
    ComponentResult,
    PhaseComponent,
    Phases,
    RunResult,
    UnitCount,
    basis_by_kind,
    energy_by_kind,
    range_by_kind,
)
from greenmeter.run.idle_baseline import IdleBaseline
from greenmeter.run.options import RunOptions
from greenmeter.run.runner import ChildOutcome
from greenmeter.run.sampler import Measurement
from greenmeter.run.units_of_work import UNITS_FILE_VAR, UnitsReading
from greenmeter.sensors.base import Sensor
from greenmeter.sensors.estimate import cpu_model, read_cpuinfo

if TYPE_CHECKING:  # imported with --cross-check only
    from greenmeter.run.crosscheck import TrackedRun
    from greenmeter.run.jobs.node_meter import NodeMeter
    from greenmeter.run.phases import PhaseRecorder

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
    phases: PhaseRecorder | None = None,
    job: NodeMeter | None = None,
) -> RunResult:
    """The run's result; ``outcome`` None for a checkpoint of a command still running.

    ``carbon``: the carbon options as they stand at the end (a live provider's series in
    place of the shipped figure); default ``options.carbon``. ``units``: what the command
    wrote to ``$GREENMETER_UNITS_FILE``. ``cross_check``: CodeCarbon's tracker over the
    same run (``--cross-check``), stopped. ``phases``: what the command marked. ``job``:
    this run's place among its node's ranks."""
    components = component_results(sensors, measurement, idle.power_w if idle else None)
    total_j = energy_by_kind(components)["total"]
    carbon_figure, carbon_warnings = footprint(
        carbon or options.carbon,
        total_j,
        measurement.timeline,
        [c.counted for c in components],
        started_at.timestamp(),
    )
    marked_units = phases.marked_units if phases is not None else {}
    unit_counts, unit_notes = counted_units(options, units, marked_units)
    main_unit = unit_counts[0] if unit_counts else None
    warnings = [*notes, *unit_notes, *(job.warnings() if job is not None else ())]
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
    estimate_note = estimate_warning(components)
    if estimate_note:
        warnings.append(estimate_note)
    if cross_check is not None and cross_check.error:
        warnings.append(f"cross-check: {cross_check.error}")
    budget = options.budget.check(total_j, carbon_figure.co2_g) if options.budget else None
    phase_figures = None
    if phases is not None:
        phase_figures = phases.phases(
            [PhaseComponent(c.kind, c.name, c.source, c.method, c.counted, c.energy_j,
                            c.energy_range_j)
             for c in components],
            measurement.duration_s,
            carbon_figure.co2_g / total_j if total_j else None,
        )  # fmt: skip
        warnings.extend(phase_warnings(phases, phase_figures))
    result = RunResult(
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
        units=main_unit.count if main_unit else None,
        unit_name=main_unit.name if main_unit else None,
        other_units=tuple(unit_counts[1:]),
        leaves_out=tuple(leaves_out(components)),
        budget=budget if outcome is not None else None,
        cross_check=None
        if cross_check is None
        else cross_check.as_dict(energy_by_kind(components), carbon_figure.co2_g),
        phases=phase_figures,
        job=job.summary() if job is not None else None,
        channels=measurement.channels,
        activity=measurement.activity,
        scheduled_start=None
        if options.scheduled_start is None
        else options.scheduled_start.as_dict(
            carbon_figure.intensity_g_per_kwh if carbon_figure.time_resolved else None,
            carbon_figure.intensity_source if carbon_figure.time_resolved else None,
        ),
    )
    if outcome is None:
        return result  # a checkpoint: advice is for a finished run
    from greenmeter.run.advice import findings_of

    return dataclasses.replace(result, findings=findings_of(result, options))


def estimate_warning(components: list[ComponentResult]) -> str | None:
    """The warning that a figure is an estimate, with its range; None when all measured."""

    basis, span = basis_by_kind(components), range_by_kind(components)
    estimated = [kind for kind in ("cpu", "gpu", "dram") if basis[kind] in (ESTIMATED, MIXED)]
    if not estimated or span["total"] is None:
        return None
    what = " and ".join(estimated)
    share = "all" if basis["total"] == ESTIMATED else "part"
    return (
        f"{what} energy estimated, not measured ({share} of the total): the total may lie "
        f"anywhere in {format_energy_range(*span['total'])} (`greenmeter doctor`: how to measure)"
    )


def leaves_out(components: list[ComponentResult]) -> list[str]:
    """What a reader might assume the figures include and they do not."""
    cpu = [c for c in components if c.counted and c.kind == "cpu"]
    if any(c.method == ESTIMATED for c in cpu) and not any(
        c.source == "estimate-static" for c in cpu
    ):
        return [
            "the machine's idle share (CPU package idle power, the rest of the server): "
            "the estimate charges busy CPU time only; --static-share adds it"
        ]
    return []


def counted_units(
    options: RunOptions, reading: UnitsReading | None, marked: dict[str, float] | None = None
) -> tuple[list[UnitCount], list[str]]:
    """(units of every kind, the first being the run's main unit; notes). A kind the
    command counted itself wins over ``--units`` for it: the command knows what it did.
    Its count in ``$GREENMETER_UNITS_FILE`` first, else the sum of what it marked with
    ``add_units`` (``marked``: per unit name)."""
    notes = [reading.warning] if reading and reading.warning else []
    default_name = options.unit_name or DEFAULT_UNIT_NAME
    counts = {u.name: u.count for u in options.units}
    written = [(count, name or default_name) for count, name in (reading.counts if reading else [])]
    in_file = {name for _, name in written}
    added = [(count, name) for name, count in (marked or {}).items() if name not in in_file]
    for (count, name), how in [
        *((c, f"wrote {{}} to ${UNITS_FILE_VAR}") for c in written),
        *((c, "counted {} with add_units") for c in added),
    ]:
        given = counts.get(name)
        if given is not None and given != count:
            notes.append(
                f"--units {format_count(given)} {name} given, but the command "
                + how.format(format_count(count))
                + ": using the command's count"
            )
        counts[name] = count
    return [UnitCount(count, name) for name, count in counts.items()], notes


def phase_warnings(recorder: PhaseRecorder, phases: Phases | None) -> list[str]:
    """What the reader of the phase table must know."""
    if phases is None:
        return []
    out = [f"mark ignored: {problem}" for problem in phases.ignored]
    unclosed = [p.path for p in phases.phases if p.unclosed]
    if unclosed:
        out.append(f"phases still open when the run ended (closed there): {', '.join(unclosed)}")
    if recorder.top_level_overlap():
        out.append(
            "top-level phases overlapped in time: their sum exceeds the marked time "
            "(each phase's own figure is right)"
        )
    return out


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
        for comp, extra, factors in zip(sensor.components, details, sensor.range_factors()):
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
                    energy_range_j=(
                        (energy * factors[0], energy * factors[1])
                        if energy is not None and factors is not None
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
