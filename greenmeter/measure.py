"""``greenmeter run``'s pipeline in one function: options -> run -> result -> exporters."""

from __future__ import annotations

import signal
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from greenmeter import exit_codes
from greenmeter.atomic_write import write_text_atomic
from greenmeter.budget import Budget
from greenmeter.carbon.intensity_series import IntensitySeries
from greenmeter.carbon.regions import GridIntensity
from greenmeter.idle_baseline import measure_idle
from greenmeter.messages import print_summary_safely, say
from greenmeter.process_tree import ProcessTree
from greenmeter.report_csv import append_row, result_to_row
from greenmeter.report_json import result_to_json
from greenmeter.results import RunResult, build_result
from greenmeter.runner import CommandNotRunnable, SignalForwarder, run_command
from greenmeter.sampler import Sampler
from greenmeter.sensors import open_sensors
from greenmeter.timeline import write_timeline
from greenmeter.units_of_work import (UNITS_FILE_VAR, UnitsReading, child_environment,
                                      create_units_file, read_units_file, remove_units_file)

if TYPE_CHECKING:  # imported when --cross-check is given, by the CLI
    from greenmeter.crosscheck import CodeCarbonCrossCheck

CHECKPOINT_EVERY_S = 10.0
"""Default of ``--checkpoint-interval``: at most this much of a run is lost to kill -9."""


@dataclass
class RunOptions:
    """Everything ``run`` needs, already validated (see ``cli.run_command``)."""

    run_id: str
    command: list[str]
    grid: GridIntensity
    pue: float
    interval_s: float
    json_path: Path
    csv_path: Path
    quiet: bool
    cpu_tdp_w: float | None
    pue_source: str | None = None
    intensity_series: IntensitySeries | None = None
    """An hourly (or finer) intensity from --intensity-file: CO2 hour by hour."""
    carbon_provider: str | None = None
    """A live provider asked for the run's hours when it ends (falls back to the shipped figure)."""
    gpus: str | None = None
    """``--gpus``: all, none, or NVML indexes/UUIDs; None = the command's CUDA_VISIBLE_DEVICES."""
    html_path: Path | None = None
    idle_baseline_s: float | None = None
    """``--idle-baseline``: seconds of idle sampling before the command starts."""
    checkpoint_interval_s: float = CHECKPOINT_EVERY_S
    cross_check: CodeCarbonCrossCheck | None = None
    """``--cross-check codecarbon``, checked before launch (greenmeter/crosscheck.py)."""
    tags: dict[str, str] = field(default_factory=dict)
    ci: dict[str, str] | None = None
    units: float | None = None
    unit_name: str | None = None
    budget: Budget | None = None
    repeat_group: str | None = None
    repetition: int | None = None
    repetitions: int | None = None


@dataclass
class RunOutcome:
    exit_code: int
    """What greenmeter exits with for this run: the command's code if it failed (or could
    not be started); else 125 if the report could not be written; else BUDGET_EXCEEDED if
    the run went over a budget; else 0."""
    result: RunResult | None
    """None when the command could not be started (or its result could not be built)."""


def write_json(result, json_path: Path) -> str | None:
    """The report and, first, its timeline beside it (so the report never names a file
    that is not there yet). A timeline that cannot be written is not fatal: returns why,
    for the caller to say (once), and the report's ``timeline`` is null."""
    problem = None
    try:
        result.timeline_file = write_timeline(json_path, result.components, result.timeline)
    except OSError as exc:
        result.timeline_file = None
        problem = f"timeline not written: {exc}"
    write_text_atomic(json_path, result_to_json(result))
    return problem


def fallback_json_path(run_id: str) -> Path:
    """Where the report goes when its own path cannot be written (directory removed,
    disk full): the temporary directory, usually another file system."""
    return Path(tempfile.gettempdir()) / f"greenmeter-{run_id}.json"


def write_reports(result, json_path: Path, csv_path: Path) -> list[str]:
    """Write the JSON report and append the CSV row; return what failed, in words.

    Each is tried on its own: a full disk under one must not cost the other. A JSON
    report that cannot be written is saved to :func:`fallback_json_path` instead."""
    failures = []
    try:
        problem = write_json(result, json_path)
        if problem:
            say(problem)
    except OSError as exc:
        fallback = fallback_json_path(result.run_id)
        try:
            write_json(result, fallback)
            saved = f"saved to {fallback} instead"
        except OSError as exc2:
            saved = f"nor to {fallback}: {exc2.strerror or exc2}"
        failures.append(f"report not written to {json_path}: {exc.strerror or exc}; {saved}")
    try:
        append_row(csv_path, result_to_row(result))
    except OSError as exc:
        failures.append(f"CSV row not appended to {csv_path}: {exc.strerror or exc}")
    return failures


def _live_series(options: RunOptions, started_at: datetime, duration_s: float,
                 notes: list[str]) -> IntensitySeries | None:
    """The provider's intensity over the run, or None (and a note) to fall back to shipped data."""
    from greenmeter.carbon.providers import ProviderError, fetch_intensity

    start_s = started_at.timestamp()
    try:
        return fetch_intensity(options.carbon_provider, options.grid.zone_id, start_s,
                               start_s + duration_s).series
    except ProviderError as exc:
        grid = options.grid
        note = (f"live intensity unavailable ({exc}); used the shipped figure "
                f"{grid.intensity_g_per_kwh:g} gCO2e/kWh ({grid.source} {grid.year})")
        say(note)
        notes.append(note)
        return None


def _units(options: RunOptions,
           reading: UnitsReading) -> tuple[float | None, str | None, list[str]]:
    """The command's own count wins over ``--units``: it knows what it did."""
    notes = [reading.warning] if reading.warning else []
    units, name = options.units, options.unit_name
    if reading.units is not None:
        if units is not None and units != reading.units:
            notes.append(f"--units {units:g} given, but the command wrote {reading.units:g} "
                         f"to ${UNITS_FILE_VAR}: using the command's count")
        units, name = reading.units, reading.unit_name or name
    return units, (name or "units") if units is not None else None, notes


def measure_command(options: RunOptions) -> RunOutcome:
    """Run the command once under measurement and write its report."""
    tree = ProcessTree()
    found = open_sensors(tree, tdp_w=options.cpu_tdp_w, gpus=options.gpus)
    notes = [f"{what}: {gap.reason}" + (f" Fix: {gap.fix}" if gap.fix else "")
             for what, gap in found.unavailable.items()]
    for note in notes:  # said once, here, before the command's own output
        say(note)

    idle = None
    started_at = None  # set just before the sampler starts, so before any checkpoint

    def result_of(measurement, exit_code, interrupted, partial, series=options.intensity_series,
                  reading=UnitsReading(None, None, None)):
        units, unit_name, unit_notes = _units(options, reading)
        return build_result(options.run_id, options.command, exit_code, interrupted,
                            found.sensors, measurement, options.grid, options.pue, started_at,
                            notes + unit_notes, partial, options.pue_source, series, idle,
                            tags=options.tags, ci=options.ci, units=units, unit_name=unit_name,
                            repeat_group=options.repeat_group, repetition=options.repetition,
                            repetitions=options.repetitions)

    checkpoint_failed = False

    def checkpoint(sampler: Sampler) -> None:
        # A partial report that survives kill -9 of greenmeter; replaced atomically.
        nonlocal checkpoint_failed
        try:
            partial = result_of(sampler.snapshot(), None, False, True)
            problem = write_json(partial, options.json_path)
        except OSError as exc:  # the run goes on; the final write will report it
            problem = (f"checkpoint not written to {options.json_path} (will keep trying): "
                       f"{exc.strerror or exc}")
        except Exception as exc:
            problem = f"checkpoint not written (will keep trying): {type(exc).__name__}: {exc}"
        if problem and not checkpoint_failed:  # once, not every interval of a long run
            say(problem)
            checkpoint_failed = True

    units_path = create_units_file()
    try:
        with SignalForwarder() as forwarder:
            if options.idle_baseline_s:
                if not options.quiet:
                    say(f"measuring idle power for {options.idle_baseline_s:g} s "
                        f"before starting the command")
                idle = measure_idle(found.sensors, options.idle_baseline_s, options.interval_s,
                                    cancelled=lambda: bool(forwarder.received))
                if idle is None:
                    signo = forwarder.received[0]
                    say(f"{signal.Signals(signo).name} during the idle baseline: "
                        f"the command was not started")
                    return RunOutcome(exit_codes.SIGNAL_BASE + signo, None)
            sampler = Sampler(found.sensors, options.interval_s, on_tick=checkpoint,
                              tick_every_s=options.checkpoint_interval_s)
            # CodeCarbon takes ~1.5 s to start: before greenmeter's first read, so both
            # windows are the command's.
            tracked = options.cross_check.start() if options.cross_check else None
            started_at = datetime.now(timezone.utc)
            sampler.start()
            try:
                outcome = run_command(options.command, forwarder, on_spawned=tree.attach,
                                      env=child_environment(units_path))
                tree.finish(outcome.cpu_s)  # before the sampler's last read, which uses it
            except CommandNotRunnable as exc:
                say(str(exc))
                return RunOutcome(exc.exit_code, None)
            finally:
                measurement = sampler.stop()
                if tracked is not None:
                    tracked.stop()
            # From here on the command has ended: whatever fails is greenmeter's own failure,
            # and it never hides the command's exit code (125 only replaces 0).
            own_failure = outcome.exit_code or exit_codes.GREENMETER_ERROR
            try:
                series = options.intensity_series
                if options.carbon_provider:
                    series = _live_series(options, started_at, measurement.duration_s, notes)
                result = result_of(measurement, outcome.exit_code, outcome.interrupted, False,
                                   series, read_units_file(units_path))
                if options.budget is not None:
                    result.budget = options.budget.check(result.energy_j["total"],
                                                         result.carbon.co2_g)
                if tracked is not None:
                    result.cross_check = tracked.as_dict(result.energy_j, result.carbon.co2_g)
                    if tracked.error:
                        result.warnings.append(f"cross-check: {tracked.error}")
                failures = write_reports(result, options.json_path, options.csv_path)
            except Exception as exc:
                say(f"internal error, no report: {type(exc).__name__}: {exc}")
                return RunOutcome(own_failure, None)
            return RunOutcome(_export(result, options, failures, notes, own_failure), result)
    finally:
        for sensor in found.sensors:
            sensor.close()
        remove_units_file(units_path)


def _export(result: RunResult, options: RunOptions, failures: list[str], notes: list[str],
            own_failure: int) -> int:
    """After the reports: the HTML page, the summary and the messages; returns the exit code."""
    for failure in failures:
        say(failure)
    reports_written = not failures
    html_written = False
    if options.html_path is not None:
        from greenmeter.html_report import write_run_html

        try:
            write_run_html(result, options.html_path)
            html_written = True
        except Exception as exc:  # a drawing bug must not cost the run's outcome
            failures.append(f"HTML report not written: {exc}")
            say(failures[-1])
    exceeded = result.budget is not None and result.budget.exceeded
    if not options.quiet:
        print_summary_safely(result, already_said=notes)
        if reports_written:
            say(f"report: {options.json_path}; history: {options.csv_path}")
        if html_written:
            say(f"HTML report: {options.html_path}")
    elif exceeded:
        say(result.budget.describe())
    if failures:
        return own_failure
    if result.exit_code == 0 and exceeded:
        return exit_codes.BUDGET_EXCEEDED
    return result.exit_code
