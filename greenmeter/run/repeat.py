"""``run --repeat N --warmup K``: the loop around the one-run pipeline (``measure_command``).

K warm-up runs go first, unmeasured and unrecorded (caches, JIT, disk): a warm-up that
fails stops everything with its exit code, since the measured runs would fail too. Then N
measured repetitions, each with its own JSON report and CSV row, sharing a ``repeat_group``
id and numbered by ``repetition`` (1..N); then their statistics, on stderr, in the CI
summary and, with ``--html``, on one page for the group (no page per repetition: the
group's page shows each of them in detail).

Exit code: the first repetition whose command failed gives its code; otherwise 125 if a
report could not be written, 121 if a repetition went over a budget, 119 if one has a
finding named by ``--fail-on``, else 0. A repetition
that was interrupted (SIGINT, SIGTERM, SIGHUP) ends the loop.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from greenmeter import exit_codes
from greenmeter.quantities import ENERGY_STEPS, format_duration, format_figure
from greenmeter.reports.run_files import default_json_path, repetition_path
from greenmeter.results import RepeatStats, RunResult, new_run_id
from greenmeter.run.measure import RunOutcome, measure_command
from greenmeter.run.messages import print_rich_safely, say
from greenmeter.run.options import RunOptions
from greenmeter.run.runner import CommandNotRunnable, SignalForwarder, run_command
from greenmeter.run.units_of_work import child_environment, create_units_file, remove_units_file


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
            say(
                f"warm-up {i}/{count} exited with {outcome.exit_code}"
                + (" (interrupted)" if outcome.interrupted else "")
                + ": nothing measured"
            )
            return outcome.exit_code
    return None


def exit_code_of(outcomes: list[RunOutcome]) -> int:
    """The first failing command's code; else 125 (report not written), 121 (budget),
    119 (``--fail-on``), 0."""
    for outcome in outcomes:
        command_code = outcome.exit_code if outcome.result is None else outcome.result.exit_code
        if command_code != 0:
            return command_code
    codes = {o.exit_code for o in outcomes}
    for code in (exit_codes.GREENMETER_ERROR, exit_codes.BUDGET_EXCEEDED, exit_codes.ADVICE):
        if code in codes:
            return code
    return 0


def repetition_options(
    base: RunOptions, i: int, repeat: int, group: str | None, explicit_json: bool
) -> RunOptions:
    """Repetition ``i`` of ``repeat``: its own run id and files (``run-2.json`` for an
    explicit ``--json``), numbered in ``group``; quiet, since the statistics come at the end.
    No HTML page of its own: the group has one (:func:`run_repeated`)."""
    if group is None:
        return base
    run_id = base.labels.run_id if i == 1 else new_run_id(datetime.now(timezone.utc))
    outputs = base.outputs
    json_path = (
        repetition_path(outputs.json_path, i) if explicit_json else default_json_path(run_id)
    )
    return replace(
        base,
        labels=replace(
            base.labels, run_id=run_id, repeat_group=group, repetition=i, repetitions=repeat
        ),
        outputs=replace(outputs, json_path=json_path, html_path=None),
        quiet=True,
    )


def run_repeated(
    base: RunOptions, repeat: int, warmup: int, explicit_json: bool, summary_paths: list[Path]
) -> int:
    """Warm up, run ``repeat`` measured repetitions, say their statistics, write the CI
    summaries; return greenmeter's exit code. ``base`` is the first repetition's options;
    ``explicit_json``: its JSON path was given (``--json``), not the default one."""
    group = uuid.uuid4().hex[:12] if repeat > 1 else None
    outcomes: list[RunOutcome] = []
    try:
        stop_code = warm_up(base.argv, warmup) if warmup else None
        if stop_code is not None:
            return stop_code
        for i in range(1, repeat + 1):
            outcome = measure_command(repetition_options(base, i, repeat, group, explicit_json))
            outcomes.append(outcome)
            result = outcome.result
            if group is not None and not base.quiet and result is not None:
                say(
                    f"repetition {i}/{repeat}: exit {result.exit_code}, "
                    f"{format_duration(result.duration_s)}, "
                    + format_figure(
                        result.energy_j["total"],
                        result.energy_range_j["total"],
                        ENERGY_STEPS,
                        with_range=False,
                    )
                )
            if result is None or result.interrupted:
                break
    except KeyboardInterrupt:  # Ctrl-C between two repetitions, when no command runs
        say("interrupted between repetitions")
        return exit_codes.SIGNAL_BASE + 2
    results = [o.result for o in outcomes if o.result is not None]
    stats = RepeatStats.of(results, warmup) if group and len(results) > 1 else None
    if results:
        _report(results, stats, base.quiet, summary_paths, base.advice.show)
    code = exit_code_of(outcomes)
    if group is not None and base.outputs.html_path is not None and results:
        if not _write_group_page(base.outputs.html_path, results, stats, base.quiet) and code == 0:
            return exit_codes.GREENMETER_ERROR
    return code


_FIGURE = re.compile(r"\d[\d.,–-]*(\s*[nµmkMG]?(J|Wh|W|g|s)\b)?")
"""A number with its unit, as warnings write figures."""


def _write_group_page(
    path: Path, results: list[RunResult], stats: RepeatStats | None, quiet: bool
) -> bool:
    """The repeat group's HTML page (one repetition's page when only one ran); False when
    it could not be written (said on stderr)."""
    from greenmeter.reports.atomic_write import write_text_atomic
    from greenmeter.reports.html.page import repeat_page, run_page

    try:
        write_text_atomic(path, repeat_page(results, stats) if stats else run_page(results[0]))
    except Exception as exc:  # a drawing bug must not cost the runs' outcome
        say(f"HTML report not written: {exc}")
        return False
    if not quiet:
        say(f"HTML report: {path}")
    return True


def _report(
    results: list[RunResult],
    stats: RepeatStats | None,
    quiet: bool,
    summary_paths: list[Path],
    advice: bool,
) -> None:
    from greenmeter.reports.step_summary import append_summary, summary_markdown

    if stats is not None and not quiet:
        from greenmeter.reports.figures import headline_basis
        from greenmeter.reports.summary import print_repeat_stats

        basis = headline_basis(results[-1])
        print_rich_safely(lambda: print_repeat_stats(stats, basis=basis), "repetition statistics")
        # The same warning with other figures (each repetition's estimate range) once.
        said: dict[str, str] = {}
        for warning in (w for r in results for w in r.warnings):
            said.setdefault(_FIGURE.sub("#", warning), warning)
        for warning in said.values():
            say(f"warning: {warning}")
    if summary_paths:
        text = summary_markdown(results, stats, advice)
        for path in summary_paths:
            try:
                append_summary(path, text)
            except OSError as exc:
                say(f"summary not written to {path}: {exc}")
