"""``greenmeter run``'s pipeline in one function: options -> run -> result -> exporters."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import datetime, timezone

from greenmeter import exit_codes
from greenmeter.carbon.footprint import CarbonOptions
from greenmeter.reports.atomic_write import write_text_atomic
from greenmeter.reports.run_files import write_report, write_run_files
from greenmeter.results import RunResult
from greenmeter.run.idle_baseline import measure_idle
from greenmeter.run.messages import print_summary_safely, say
from greenmeter.run.options import RunOptions
from greenmeter.run.result import build_result
from greenmeter.run.runner import CommandNotRunnable, SignalForwarder, run_command
from greenmeter.run.sampler import Sampler
from greenmeter.run.units_of_work import (
    child_environment,
    create_units_file,
    read_units_file,
    remove_units_file,
)
from greenmeter.sensors.machine import open_sensors
from greenmeter.sensors.process_tree import ProcessTree


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    """What greenmeter exits with for this run: the command's code if it failed (or could
    not be started); else 125 if the report could not be written; else BUDGET_EXCEEDED if
    the run went over a budget; else 0."""
    result: RunResult | None
    """None when the command could not be started (or its result could not be built)."""


def measure_command(options: RunOptions) -> RunOutcome:
    """Run the command once under measurement and write its report."""
    tree = ProcessTree()
    found = open_sensors(tree, settings=options.estimate, gpus=options.gpus)
    notes = [
        f"{what}: {gap.reason}" + (f" Fix: {gap.fix}" if gap.fix else "")
        for what, gap in found.unavailable.items()
    ]
    for note in notes:  # said once, here, before the command's own output
        say(note)
    json_path = options.outputs.json_path
    idle = None
    started_at = datetime.now(timezone.utc)  # set again just before the sampler starts
    checkpoint_failed = False

    def checkpoint(sampler: Sampler) -> None:
        # A partial report that survives kill -9 of greenmeter; replaced atomically.
        nonlocal checkpoint_failed
        try:
            partial = build_result(
                options,
                found.sensors,
                sampler.snapshot(),
                started_at=started_at,
                outcome=None,
                notes=notes,
                idle=idle,
            )
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

    units_path = create_units_file()
    try:
        with SignalForwarder() as forwarder:
            if options.idle_baseline_s:
                if not options.quiet:
                    say(
                        f"measuring idle power for {options.idle_baseline_s:g} s "
                        f"before starting the command"
                    )
                idle = measure_idle(
                    found.sensors,
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
                found.sensors,
                options.interval_s,
                on_tick=checkpoint,
                tick_every_s=options.checkpoint_interval_s,
            )
            # CodeCarbon takes ~1.5 s to start: before greenmeter's first read, so both
            # windows are the command's.
            tracked = options.cross_check.start() if options.cross_check else None
            started_at = datetime.now(timezone.utc)
            sampler.start()
            try:
                outcome = run_command(
                    options.argv,
                    forwarder,
                    on_spawned=tree.attach,
                    env=child_environment(units_path),
                )
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
                carbon = _carbon_at_end(options.carbon, started_at, measurement.duration_s, notes)
                result = build_result(
                    options,
                    found.sensors,
                    measurement,
                    started_at=started_at,
                    outcome=outcome,
                    notes=notes,
                    idle=idle,
                    carbon=carbon,
                    units=read_units_file(units_path),
                    cross_check=tracked,
                )
                failures, file_notes = write_run_files(result, json_path, options.outputs.csv_path)
            except Exception as exc:
                say(f"internal error, no report: {type(exc).__name__}: {exc}")
                return RunOutcome(own_failure, None)
            for note in file_notes:
                say(note)
            return RunOutcome(_export(result, options, failures, notes, own_failure), result)
    finally:
        for sensor in found.sensors:
            sensor.close()
        remove_units_file(units_path)


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
    if not options.quiet:
        print_summary_safely(result, already_said=notes)
        if reports_written:
            say(f"report: {options.outputs.json_path}; history: {options.outputs.csv_path}")
        if html_written:
            say(f"HTML report: {html_path}")
    elif exceeded:
        say(result.budget.describe())
    if failures:
        return own_failure
    if result.exit_code == 0 and exceeded:
        return exit_codes.BUDGET_EXCEEDED
    return result.exit_code
