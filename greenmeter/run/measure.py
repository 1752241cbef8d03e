"""``greenmeter run``'s pipeline in one function: options -> run -> result -> exporters."""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from greenmeter import exit_codes
from greenmeter.carbon.footprint import CarbonOptions
from greenmeter.reports.atomic_write import write_text_atomic
from greenmeter.reports.run_files import write_report, write_run_files
from greenmeter.results import RunResult
from greenmeter.run.advice import failing
from greenmeter.run.idle_baseline import measure_idle
from greenmeter.run.messages import print_summary_safely, say
from greenmeter.run.options import RunOptions
from greenmeter.run.phases import ControlChannel, PhaseRecorder
from greenmeter.run.result import build_result
from greenmeter.run.runner import CommandNotRunnable, SignalForwarder, run_command
from greenmeter.run.sampler import Measurement, Sampler
from greenmeter.run.units_of_work import (
    child_environment,
    create_units_file,
    read_units_file,
    remove_units_file,
)
from greenmeter.sensors.machine import open_sensors
from greenmeter.sensors.process_tree import ProcessTree

if TYPE_CHECKING:  # imported only for a rank of a job
    from greenmeter.run.jobs.node_meter import NodeMeter


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    """What greenmeter exits with for this run: the command's code if it failed (or could
    not be started); else 125 if the report could not be written; else BUDGET_EXCEEDED if
    the run went over a budget; else 0."""
    result: RunResult | None
    """None when the command could not be started (or its result could not be built)."""


class Window:
    """One measured stretch of time, shared by ``greenmeter run`` (around the command) and
    ``greenmeter.Meter`` (around a block of Python): the machine's sensors, the sampler,
    and the control channel through which what runs inside marks phases and units."""

    def __init__(self, options: RunOptions, tree: ProcessTree):
        self.options = options
        self.found = open_sensors(tree, settings=options.estimate, gpus=options.gpus)
        self.notes = [
            f"{what}: {gap.reason}" + (f" Fix: {gap.fix}" if gap.fix else "")
            for what, gap in self.found.unavailable.items()
        ]
        for note in self.notes:  # said once, here, before the command's own output
            say(note)
        self.job = _join_job(options, self.found.sensors)
        self.sensors = self.found.sensors if self.job is None else self.job.sensors
        """What this window samples: a rank of a job samples its node's shared devices
        only while it is their meter (greenmeter/run/jobs/)."""
        self.started_at = datetime.now(timezone.utc)  # set again when the sampler starts
        self.sampler: Sampler | None = None
        self.recorder = PhaseRecorder([c for s in self.sensors for c in s.components])
        self.control: ControlChannel | None = None

    def start(self, sampler: Sampler) -> dict[str, str]:
        """Start ``sampler`` (on this window's sensors) and the control channel; returns
        the environment variables that let what runs inside mark."""
        self.sampler = sampler
        if self.job is not None:  # takes the node's devices no other rank measures; never waits
            self.job.join()
            if self.job.error:  # said now, as a sensor gap is, before the command's output
                say(self.job.error)
                self.notes.append(self.job.error)
        self.started_at = datetime.now(timezone.utc)
        sampler.start()
        self.recorder.origin_s = sampler.started_s or 0.0
        self.control = ControlChannel(self.recorder, sampler.read_now)
        if self.control.open() is None and self.control.error:
            say(self.control.error)
        return self.control.environment()

    def stop(self) -> Measurement:
        """Marks first (each with its read), then the sampler's exact last read."""
        assert self.sampler is not None
        if self.control is not None:
            self.control.close()
        if self.job is not None:  # hand the node's devices over at this instant
            self.job.leave()
        measurement = self.sampler.stop()
        self.recorder.finish(measurement.duration_s, [t.energy_j for t in measurement.traces])
        return measurement

    def result(self, measurement: Measurement, **kwargs) -> RunResult:
        """``build_result`` for this window (kwargs: ``outcome``, ``idle``, ...)."""
        return build_result(
            self.options,
            self.sensors,
            measurement,
            started_at=self.started_at,
            notes=self.notes,
            phases=self.recorder,
            job=self.job,
            **kwargs,
        )

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.job is not None:
            self.job.close()
        for sensor in self.found.sensors:
            sensor.close()


def measure_command(options: RunOptions) -> RunOutcome:
    """Run the command once under measurement and write its report."""
    tree = ProcessTree()
    window = Window(options, tree)
    notes = window.notes
    json_path = options.outputs.json_path
    idle = None
    checkpoint_failed = False
    live = options.live_export
    units_path = create_units_file()

    def partial_result(sampler: Sampler) -> RunResult:
        """The run so far, from the sampler's latest reads (no sensor is read for it)."""
        return window.result(
            sampler.snapshot(), outcome=None, idle=idle, units=read_units_file(units_path)
        )

    def checkpoint(sampler: Sampler) -> None:
        # A partial report that survives kill -9 of greenmeter; replaced atomically.
        nonlocal checkpoint_failed
        try:
            partial = partial_result(sampler)
            if live is not None:  # never raises: its problems are its own
                live.checkpoint(partial)
            problem = write_report(partial, json_path)
        except OSError as exc:  # the run goes on; the final write will report it
            problem = (
                f"checkpoint not written to {json_path} (will keep trying): {exc.strerror or exc}"
            )
        except Exception as exc:
            problem = f"checkpoint not written (will keep trying): {type(exc).__name__}: {exc}"
        if problem and not checkpoint_failed:  # once, not every interval of a long run
            say(problem)
            checkpoint_failed = True

    def refresh_live(sampler: Sampler) -> None:
        live.update(lambda: partial_result(sampler))

    if live is not None:
        live.begin_run(notes)
    try:
        with SignalForwarder() as forwarder:
            if options.idle_baseline_s:
                if not options.quiet:
                    say(
                        f"measuring idle power for {options.idle_baseline_s:g} s "
                        f"before starting the command"
                    )
                idle = measure_idle(
                    window.sensors,
                    options.idle_baseline_s,
                    options.interval_s,
                    cancelled=lambda: bool(forwarder.received),
                )
                if idle is None:
                    signo = forwarder.received[0]
                    say(
                        f"{signal.Signals(signo).name} during the idle baseline: "
                        f"the command was not started"
                    )
                    return RunOutcome(exit_codes.SIGNAL_BASE + signo, None)
            sampler = Sampler(
                window.sensors,
                options.interval_s,
                on_tick=checkpoint,
                tick_every_s=options.checkpoint_interval_s,
                on_point=refresh_live if live is not None else None,
            )
            # CodeCarbon takes ~1.5 s to start: before greenmeter's first read, so both
            # windows are the command's.
            tracked = options.cross_check.start() if options.cross_check else None
            marks_env = window.start(sampler)
            try:
                outcome = run_command(
                    options.argv,
                    forwarder,
                    on_spawned=tree.attach,
                    env=child_environment(units_path, marks_env),
                )
                tree.finish(outcome.cpu_s)  # before the sampler's last read, which uses it
            except CommandNotRunnable as exc:
                say(str(exc))
                return RunOutcome(exc.exit_code, None)
            finally:
                measurement = window.stop()
                if tracked is not None:
                    tracked.stop()
            # From here on the command has ended: whatever fails is greenmeter's own failure,
            # and it never hides the command's exit code (125 only replaces 0).
            own_failure = outcome.exit_code or exit_codes.GREENMETER_ERROR
            try:
                carbon = _carbon_at_end(
                    options.carbon, window.started_at, measurement.duration_s, notes
                )
                result = window.result(
                    measurement,
                    outcome=outcome,
                    idle=idle,
                    carbon=carbon,
                    units=read_units_file(units_path),
                    cross_check=tracked,
                )
                if live is not None:  # its final figures, before the report is written
                    late = live.finish(result)
                    if late:  # a problem of the last push or textfile write
                        result = replace(result, warnings=[*result.warnings, *late])
            except Exception as exc:
                say(f"internal error, no report: {type(exc).__name__}: {exc}")
                return RunOutcome(own_failure, None)
            return finish_run(result, options, notes, own_failure)
    finally:
        window.close()
        remove_units_file(units_path)


def finish_run(
    result: RunResult, options: RunOptions, notes: list[str], own_failure: int
) -> RunOutcome:
    """The files of a result (JSON report, CSV row, HTML), the summary, the exit code;
    ``notes``: what was said on stderr already (the summary does not repeat it)."""
    try:
        failures, file_notes = write_run_files(
            result, options.outputs.json_path, options.outputs.csv_path
        )
    except Exception as exc:
        say(f"internal error, no report: {type(exc).__name__}: {exc}")
        return RunOutcome(own_failure, None)
    for note in file_notes:
        say(note)
    return RunOutcome(_export(result, options, failures, notes, own_failure), result)


def _join_job(options: RunOptions, sensors: list) -> NodeMeter | None:
    """The run's place among its node's ranks (greenmeter/run/jobs/), when it is a rank."""
    if options.job is None:
        return None
    from greenmeter.run.jobs.node_meter import NodeMeter

    return NodeMeter(options.job, options.labels.run_id, sensors)


def _carbon_at_end(
    carbon: CarbonOptions, started_at: datetime, duration_s: float, notes: list[str]
) -> CarbonOptions:
    """With ``--carbon-provider``: the provider's intensity over the run in place of the
    shipped figure, or the shipped figure and a note saying why."""
    if carbon.provider is None:
        return carbon
    from greenmeter.carbon.providers import ProviderError, fetch_intensity

    start_s = started_at.timestamp()
    try:
        live = fetch_intensity(carbon.provider, carbon.grid.zone_id, start_s, start_s + duration_s)
    except ProviderError as exc:
        grid = carbon.grid
        note = (
            f"live intensity unavailable ({exc}); used the shipped figure "
            f"{grid.intensity_g_per_kwh:g} gCO2e/kWh ({grid.source} {grid.year})"
        )
        say(note)
        notes.append(note)
        return carbon
    return carbon.with_series(live.series)


def _export(
    result: RunResult, options: RunOptions, failures: list[str], notes: list[str], own_failure: int
) -> int:
    """After the reports: the HTML page, the summary and the messages; returns the exit code."""
    for failure in failures:
        say(failure)
    reports_written = not failures
    html_path = options.outputs.html_path
    html_written = False
    if html_path is not None:
        from greenmeter.reports.html.page import run_page

        try:
            write_text_atomic(html_path, run_page(result))
            html_written = True
        except Exception as exc:  # a drawing bug must not cost the run's outcome
            failures.append(f"HTML report not written: {exc}")
            say(failures[-1])
    exceeded = result.budget is not None and result.budget.exceeded
    failed_advice = failing(result, options)
    if not options.quiet:
        print_summary_safely(result, already_said=notes, advice=options.advice.show)
        if reports_written:
            say(f"report: {options.outputs.json_path}; history: {options.outputs.csv_path}")
        if html_written:
            say(f"HTML report: {html_path}")
    elif exceeded:
        say(result.budget.describe())
    if failed_advice and result.exit_code == 0:
        ids = ", ".join(dict.fromkeys(f.id for f in failed_advice))
        say(f"--fail-on: the run has {ids} (exit {exit_codes.ADVICE})")
    if failures:
        return own_failure
    if result.exit_code == 0 and exceeded:
        return exit_codes.BUDGET_EXCEEDED
    if result.exit_code == 0 and failed_advice:
        return exit_codes.ADVICE
    return result.exit_code
