"""``run --repeat N --warmup K``: the loop around the one-run pipeline (``measure_command``).

K warm-up runs go first, unmeasured and unrecorded (caches, JIT, disk): a warm-up that
fails stops everything with its exit code, since the measured runs would fail too. Then N
measured repetitions, each with its own JSON report and CSV row, sharing a ``repeat_group``
id and numbered by ``repetition`` (1..N); then their statistics, on stderr and in the CI
summary.

Exit code: the first repetition whose command failed gives its code; otherwise 125 if a
report could not be written, 121 if a repetition went over a budget, else 0. A repetition
that was interrupted (SIGINT, SIGTERM, SIGHUP) ends the loop.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from greenmeter import exit_codes
from greenmeter.measure import RunOptions, RunOutcome, measure_command
from greenmeter.messages import print_rich_safely, say
from greenmeter.results import new_run_id
from greenmeter.runner import CommandNotRunnable, SignalForwarder, run_command
from greenmeter.summary import format_energy
from greenmeter.units_of_work import child_environment, create_units_file, remove_units_file


def repetition_path(path: Path, repetition: int) -> Path:
    """``run.json`` -> ``run-2.json``: an explicit ``--json`` (or ``--html``) path, one file
    per repetition."""
    return path.with_name(f"{path.stem}-{repetition}{path.suffix}")


def warm_up(command: list[str], count: int) -> int | None:
    """Run the command ``count`` times as it will be measured (same environment, units file
    included), without measuring. None when all succeeded; else the exit code to stop with
    (the failed warm-up's, or an interrupted one's)."""
    for i in range(1, count + 1):
        units_path = create_units_file()
        try:
            with SignalForwarder() as forwarder:
                outcome = run_command(command, forwarder, env=child_environment(units_path))
        except CommandNotRunnable as exc:
            say(str(exc))
            return exc.exit_code
        finally:
            remove_units_file(units_path)
        if outcome.exit_code != 0 or outcome.interrupted:
            say(f"warm-up {i}/{count} exited with {outcome.exit_code}"
                 + (" (interrupted)" if outcome.interrupted else "") + ": nothing measured")
            return outcome.exit_code
    return None


def exit_code_of(outcomes: list[RunOutcome]) -> int:
    """The first failing command's code; else 125 (report not written), 121 (budget), 0."""
    for outcome in outcomes:
        command_code = outcome.exit_code if outcome.result is None else outcome.result.exit_code
        if command_code != 0:
            return command_code
    codes = {o.exit_code for o in outcomes}
    for code in (exit_codes.GREENMETER_ERROR, exit_codes.BUDGET_EXCEEDED):
        if code in codes:
            return code
    return 0


def run_repeated(base: RunOptions, repeat: int, warmup: int, json_path: Path | None,
                 default_dir: Path, summary_paths: list[Path]) -> int:
    """Warm up, run ``repeat`` measured repetitions, say their statistics, write the CI
    summaries; return greenmeter's exit code. ``json_path`` is the explicit ``--json``
    (None: ``default_dir/<run_id>.json``); ``base.run_id`` is the first repetition's."""
    group = uuid.uuid4().hex[:12] if repeat > 1 else None
    outcomes: list[RunOutcome] = []
    try:
        stop_code = warm_up(base.command, warmup) if warmup else None
        if stop_code is not None:
            return stop_code
        for i in range(1, repeat + 1):
            run_id = base.run_id if i == 1 else new_run_id(datetime.now(timezone.utc))
            if json_path is None:
                path = default_dir / f"{run_id}.json"
            else:
                path = json_path if group is None else repetition_path(json_path, i)
            options = replace(base, run_id=run_id, json_path=path)
            if group is not None:  # one line per repetition here, the statistics at the end
                options = replace(options, repeat_group=group, repetition=i,
                                  repetitions=repeat, quiet=True,
                                  html_path=base.html_path and repetition_path(base.html_path, i))
            outcome = measure_command(options)
            outcomes.append(outcome)
            result = outcome.result
            if group is not None and not base.quiet and result is not None:
                say(f"repetition {i}/{repeat}: exit {result.exit_code}, "
                     f"{result.duration_s:.2f} s, {format_energy(result.energy_j['total'])}")
            if result is None or result.interrupted:
                break
    except KeyboardInterrupt:  # Ctrl-C between two repetitions, when no command runs
        say("interrupted between repetitions")
        return exit_codes.SIGNAL_BASE + 2
    results = [o.result for o in outcomes if o.result is not None]
    if results:
        _report(results, warmup if group else 0, base.quiet, summary_paths)
    return exit_code_of(outcomes)


def _report(results, warmup: int, quiet: bool, summary_paths: list[Path]) -> None:
    from greenmeter.step_summary import append_summary, summary_markdown

    stats = None
    if len(results) > 1:
        from greenmeter.repeat_stats import RepeatStats

        stats = RepeatStats.of(results, warmup)
    if stats is not None and not quiet:
        print_rich_safely(lambda: _print_stats(stats), "repetition statistics")
        for warning in dict.fromkeys(w for r in results for w in r.warnings):
            say(f"warning: {warning}")
    if summary_paths:
        text = summary_markdown(results, stats)
        for path in summary_paths:
            try:
                append_summary(path, text)
            except OSError as exc:
                say(f"summary not written to {path}: {exc}")


def _print_stats(stats) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"greenmeter: {stats.n} repetitions"
                        + (f" after {stats.warmup} warm-up(s)" if stats.warmup else ""),
                  title_justify="left", show_edge=False, pad_edge=False)
    for name, justify in (("metric", "left"), ("mean", "right"), ("median", "right"),
                          ("std dev", "right"), ("95 % CI of the mean", "right")):
        table.add_column(name, justify=justify)
    for row in stats.formatted_rows():
        table.add_row(*(escape(cell) for cell in row))  # a unit name is not markup
    Console(file=sys.stderr, highlight=False).print(table)
