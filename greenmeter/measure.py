"""``greenmeter run``'s pipeline in one function: options -> run -> result -> exporters."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from greenmeter import exit_codes
from greenmeter.atomic_write import write_text_atomic
from greenmeter.carbon.regions import GridIntensity
from greenmeter.process_tree import ProcessTree
from greenmeter.report_csv import append_row, result_to_row
from greenmeter.report_json import result_to_json
from greenmeter.results import build_result
from greenmeter.runner import CommandNotRunnable, SignalForwarder, run_command
from greenmeter.sampler import Sampler
from greenmeter.sensors import open_sensors

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
    checkpoint_interval_s: float = CHECKPOINT_EVERY_S


def _stderr_usable() -> bool:
    # None when started with fd 2 closed: print(file=None) and rich would use stdout.
    return sys.stderr is not None and not sys.stderr.closed


def _stderr_gone() -> None:
    """Nobody reads stderr any more (a closed pipe): point fd 2 at /dev/null, so neither
    later messages nor Python's flush at exit fail (which would change the exit code)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _say(message: str) -> None:
    if not _stderr_usable():
        return
    try:
        print(f"greenmeter: {message}", file=sys.stderr, flush=True)
    except OSError:
        _stderr_gone()


def fallback_json_path(run_id: str) -> Path:
    """Where the report goes when its own path cannot be written (directory removed,
    disk full): the temporary directory, usually another file system."""
    return Path(tempfile.gettempdir()) / f"greenmeter-{run_id}.json"


def write_reports(result, json_path: Path, csv_path: Path) -> list[str]:
    """Write the JSON report and append the CSV row; return what failed, in words.

    Each is tried on its own: a full disk under one must not cost the other. A JSON
    report that cannot be written is saved to :func:`fallback_json_path` instead."""
    failures = []
    text = result_to_json(result)
    try:
        write_text_atomic(json_path, text)
    except OSError as exc:
        fallback = fallback_json_path(result.run_id)
        try:
            write_text_atomic(fallback, text)
            saved = f"saved to {fallback} instead"
        except OSError as exc2:
            saved = f"nor to {fallback}: {exc2.strerror or exc2}"
        failures.append(f"report not written to {json_path}: {exc.strerror or exc}; {saved}")
    try:
        append_row(csv_path, result_to_row(result))
    except OSError as exc:
        failures.append(f"CSV row not appended to {csv_path}: {exc.strerror or exc}")
    return failures


def _print_summary(result) -> None:
    if not _stderr_usable():
        return
    from greenmeter.summary import print_summary

    try:
        print_summary(result)
    except (OSError, SystemExit):  # rich turns a broken pipe into SystemExit(1)
        _stderr_gone()


def measure_command(options: RunOptions) -> int:
    """Run the command under measurement; return the exit code greenmeter should exit with."""
    tree = ProcessTree()
    found = open_sensors(tree, tdp_w=options.cpu_tdp_w)
    notes = [f"{what}: {gap.reason}" + (f" Fix: {gap.fix}" if gap.fix else "")
             for what, gap in found.unavailable.items()]
    for note in notes:  # said once, here, before the command's own output
        _say(note)

    def result_of(measurement, exit_code, interrupted, partial):
        return build_result(options.run_id, options.command, exit_code, interrupted, found.sensors,
                            measurement, options.grid, options.pue, started_at, notes, partial)

    checkpoint_failed = False

    def checkpoint(sampler: Sampler) -> None:
        # A partial report that survives kill -9 of greenmeter; replaced atomically.
        nonlocal checkpoint_failed
        try:
            partial = result_of(sampler.snapshot(), None, False, True)
            write_text_atomic(options.json_path, result_to_json(partial))
        except Exception as exc:  # the run goes on; the final write will report it
            if not checkpoint_failed:  # once, not every interval of a long run
                _say(f"checkpoint not written (will keep trying): {exc}")
            checkpoint_failed = True

    try:
        with SignalForwarder() as forwarder:
            sampler = Sampler(found.sensors, options.interval_s, on_tick=checkpoint,
                              tick_every_s=options.checkpoint_interval_s)
            started_at = datetime.now(timezone.utc)
            sampler.start()
            try:
                outcome = run_command(options.command, forwarder, on_spawned=tree.attach)
            except CommandNotRunnable as exc:
                sampler.stop()
                _say(str(exc))
                return exc.exit_code
            tree.finish(outcome.cpu_s)
            measurement = sampler.stop()
            # From here on the command has ended: whatever fails is greenmeter's own
            # failure, and it never hides the command's exit code (125 only replaces 0).
            exit_code = outcome.exit_code
            own_failure = exit_code or exit_codes.GREENMETER_ERROR
            try:
                result = result_of(measurement, outcome.exit_code, outcome.interrupted, False)
                failures = write_reports(result, options.json_path, options.csv_path)
            except Exception as exc:
                _say(f"internal error, no report: {type(exc).__name__}: {exc}")
                return own_failure
            for failure in failures:
                _say(failure)
            if not options.quiet:
                _print_summary(result)
            return own_failure if failures else exit_code
    finally:
        for sensor in found.sensors:
            sensor.close()
