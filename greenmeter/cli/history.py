"""The commands that read run history: ``report``, ``compare``, ``export``, ``html``.

Their result is their output, so it goes to stdout (or ``--output FILE``); warnings about
skipped files and rows go to stderr. pandas is imported inside the commands only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from greenmeter import exit_codes
from greenmeter.cli.params import PERCENT, output_file, writable_file

HISTORY_PATH = click.Path(exists=True, path_type=Path)


def _warn(message: str) -> None:
    click.echo(f"greenmeter: warning: {message}", err=True)


def _note(message: str) -> None:
    click.echo(f"greenmeter: note: {message}", err=True)


def _paths_or_default(paths: tuple[Path, ...]) -> list[Path]:
    from greenmeter.reports.run_files import DEFAULT_OUTPUT_DIR

    if paths:
        return list(paths)
    if DEFAULT_OUTPUT_DIR.is_dir():
        return [DEFAULT_OUTPUT_DIR]
    raise click.UsageError(
        f"no history given and no ./{DEFAULT_OUTPUT_DIR}/ here; "
        f"name CSV files, JSON reports or directories"
    )


def _keys(ctx, param, values: tuple[str, ...]) -> list[str]:
    from greenmeter.history.select import check_key

    keys = [k.strip() for value in values for k in value.split(",") if k.strip()]
    try:
        return [check_key(k) for k in keys]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _key(ctx, param, value: str | None) -> str | None:
    keys = _keys(ctx, param, (value,)) if value else []
    if len(keys) > 1:
        raise click.BadParameter(f"one key, not {len(keys)} ({value})")
    return keys[0] if keys else None


def _selections(ctx, param, values: tuple[str, ...]):
    from greenmeter.history.select import Selection

    try:
        return [Selection.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _time_bound(ctx, param, value: str | None):
    if value is None:
        return None
    from greenmeter.history.select import parse_time_bound

    try:
        return parse_time_bound(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def beside_stdout(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """An extra output of a command whose result already goes to stdout: a file only."""
    if value == "-":
        raise click.BadParameter("'-': standard output carries the report itself; give a file")
    return output_file(ctx, param, value)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from greenmeter.reports.atomic_write import write_text_atomic

        write_text_atomic(out, text)


def output_option(example: str = ""):
    """``-o/--output FILE`` of a command whose result is its output (``-``: stdout)."""
    return click.option(
        "-o",
        "--output",
        "out",
        callback=output_file,
        metavar="FILE",
        help=f"Write here instead of stdout ('-': stdout){example}.",
    )


def selection_options(f):
    f = click.option(
        "--until",
        callback=_time_bound,
        metavar="TIME",
        help="Only runs started before this time (same forms as --since).",
    )(f)
    f = click.option(
        "--since",
        callback=_time_bound,
        metavar="TIME",
        help="Only runs started at or after: 2024-05-01, 2024-05-01T12:00Z, or "
        "an age such as 12h, 7d, 2w.",
    )(f)
    f = click.option(
        "--filter",
        "selections",
        multiple=True,
        callback=_selections,
        metavar="KEY=VALUE",
        help="Only runs where KEY is VALUE, e.g. branch=main, tag:model=resnet "
        "(repeatable; all must hold).",
    )(f)
    return f


REPORT_EPILOG = """\b
Examples:
  greenmeter report                                      # ./greenmeter-runs/
  greenmeter report runs.csv --group-by branch --since 7d
  greenmeter report ci-artifacts/ --group-by tag:model,region --format markdown
  greenmeter report --group-by run --filter group=3f2a9c1b7d4e --format json -o runs.json
  greenmeter report greenmeter-runs/ --group-by phase    # phases from the JSON reports
  greenmeter report --group-by job,node                  # cluster jobs, a row per node
  greenmeter report --job 4242                           # one job: its nodes and total
  greenmeter report --rate --group-by tag:model --by tag:task --reference published.csv

\b
Group and filter keys: command, tag:<key>, region, zone, host, branch, commit,
ci-job, runner, group (repeat group), run, job, step, node, rank, launcher,
phase, day, week, month, tool (greenmeter or codecarbon), source, or any CSV column.
CodeCarbon's emissions.csv files are read too, each run labelled as CodeCarbon's
figure and grouped apart by source.
"""


@click.command("report", short_help="Sum and average run history per group.", epilog=REPORT_EPILOG)
@click.argument("paths", nargs=-1, type=HISTORY_PATH)
@click.option(
    "--group-by",
    "keys",
    multiple=True,
    callback=_keys,
    metavar="KEY[,KEY...]",
    help="Group runs by these keys (repeatable). Default: one line for all runs.",
)
@click.option(
    "--job",
    "job_id",
    metavar="ID",
    help="One cluster job: a row per node and the job's total (docs/clusters.md).",
)
@selection_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "csv", "json", "markdown")),
    help="Default: a table on a terminal, CSV when piped or for a .csv --output, "
    "JSON for .json, Markdown for .md.",
)
@output_option()
@click.option(
    "--html",
    "html_path",
    callback=beside_stdout,
    metavar="FILE",
    help="Also draw the JSON reports among PATHS as one HTML page (as 'greenmeter html' does).",
)
@click.option(
    "--rate",
    is_flag=True,
    help="Rate each group (--group-by; default: command) 1-5 stars by energy per unit, "
    "relative to the runs compared (docs/advice.md).",
)
@click.option(
    "--by",
    "rate_by",
    callback=_key,
    metavar="KEY",
    help="With --rate: rate within each value of KEY, e.g. tag:task.",
)
@click.option(
    "--reference",
    "reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="With --rate: published figures to rate against (CSV: name, J per unit, source).",
)
def report_command(
    paths, keys, job_id, selections, since, until, fmt, out, html_path, rate, rate_by, reference
) -> int:
    """Read run history (CSV histories, JSON reports, directories of both) and give runs,
    duration, energy, CO2e and energy per unit per group.

    A run found twice (a JSON report and its CSV row) counts once; checkpoints of runs
    still going (or whose greenmeter was killed) count as partial. A device that two runs
    of one cluster job measured at the same time counts once, with a warning. Malformed
    files and rows are skipped with a warning naming the file and line.
    """
    from greenmeter.history import codecarbon_csv, output
    from greenmeter.history.aggregate import AGGREGATE_INPUTS, aggregate
    from greenmeter.history.jobs import JOB_COLUMNS, count_devices_once, job_view
    from greenmeter.history.load import load_history
    from greenmeter.history.select import PHASE_KEY, key_columns, select

    if job_id is not None and keys:
        raise click.UsageError("--job shows one job by node: give it without --group-by")
    paths = _paths_or_default(paths)
    if (rate_by or reference) and not rate:
        raise click.UsageError("--by and --reference go with --rate")
    if rate:
        return _rate(paths, keys, selections, since, until, fmt, out, html_path, rate_by, reference)
    if html_path is not None:
        _write_html(paths, html_path)
    needed = set(AGGREGATE_INPUTS) | JOB_COLUMNS
    for key in [*keys, *(s.key for s in selections)]:
        needed |= key_columns(key)
    frame = count_devices_once(load_history(paths, _warn, needed), _warn)
    if PHASE_KEY in [*keys, *(s.key for s in selections)]:
        from greenmeter.history.phases import phase_rows

        frame = phase_rows(frame, paths, _warn)
    frame = select(frame, selections, since, until)
    keys = codecarbon_csv.group_keys(frame, keys)
    note = codecarbon_csv.method_note(frame)
    if note:
        _note(note)
    if job_id is not None:
        frame = frame[frame["job_id"].eq(job_id)]
        if frame.empty:
            raise click.UsageError(f"--job {job_id}: no runs of this job in the history")
        table = job_view(frame, job_id)
    else:
        table = aggregate(frame, keys)
    if fmt is None:
        suffix = out.suffix.lower() if out is not None else ""
        fmt = {".csv": "csv", ".json": "json", ".md": "markdown"}.get(suffix)
        if fmt is None:
            fmt = "table" if out is not None or sys.stdout.isatty() else "csv"
    what = "phases of runs" if PHASE_KEY in keys else "runs"
    title = f"greenmeter: {len(frame)} {what}" + (f" by {', '.join(keys)}" if keys else "")
    if job_id is not None:
        title = f"greenmeter: job {job_id}, {len(frame)} {what} by node"
    if fmt == "table" and len(table) > output.TABLE_MAX_ROWS:
        _warn(
            f"{len(table):,} groups: the table shows the last "
            f"{output.TABLE_MAX_ROWS}; --format csv, json or markdown give all"
        )
        table = table.tail(output.TABLE_MAX_ROWS)
    if fmt == "table" and out is None:
        output.render_table(table, sys.stdout, colour=sys.stdout.isatty(), title=title)
        return 0
    text = {
        "table": lambda: output.table_text(table, title),
        "csv": lambda: output.to_csv(table),
        "json": lambda: output.to_json(table),
        "markdown": lambda: output.to_markdown(table) + (f"\nNote: {note}\n" if note else ""),
    }[fmt]()
    _emit(text, out)
    return 0


def _rate(paths, keys, selections, since, until, fmt, out, html_path, by, reference) -> int:
    """``report --rate``: stars per member by J per unit (``greenmeter.history.rating``)."""
    from greenmeter.history import output
    from greenmeter.history.aggregate import AGGREGATE_INPUTS
    from greenmeter.history.load import load_history
    from greenmeter.history.rating import load_references, rate
    from greenmeter.history.select import key_columns, select

    references = []
    if reference is not None:
        try:
            references = load_references(reference)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--reference'") from None
    members = list(keys) or ["command"]
    needed = set(AGGREGATE_INPUTS) | {"unit_name"}
    for key in [*members, *([by] if by else []), *(s.key for s in selections)]:
        needed |= key_columns(key)
    frame = select(load_history(paths, _warn, needed), selections, since, until)
    frame = frame[~frame["partial"]]
    rating = rate(frame, members, by, references)
    if not rating["stars"].notna().any():
        _warn("no run counted units of work (--units): nothing to rate by energy per unit")
    if html_path is not None:
        from greenmeter.reports.html.page import table_section

        headers, rows = output.rating_display(rating)
        section = table_section("rating", output.rating_title(rating, by), headers, rows)
        _write_html(paths, html_path, section)
    if fmt is None:
        suffix = out.suffix.lower() if out is not None else ""
        fmt = {".csv": "csv", ".json": "json", ".md": "markdown"}.get(suffix)
        if fmt is None:
            fmt = "table" if out is not None or sys.stdout.isatty() else "csv"
    if fmt == "table" and out is None:
        output.rating_table_text(rating, by, sys.stdout, colour=sys.stdout.isatty())
        return 0
    text = {
        "table": lambda: output.rating_table_text(rating, by),
        "csv": lambda: rating.to_csv(index=False, lineterminator="\n"),
        "json": lambda: output.rating_to_json(rating, by),
        "markdown": lambda: output.rating_markdown(rating, by),
    }[fmt]()
    _emit(text, out)
    return 0


def _write_html(paths: list[Path], out: Path, before: str = "") -> None:
    from greenmeter.history.html_pages import ReportsNotReadable, write_html_report

    reports = [p for p in paths if p.is_dir() or p.suffix.lower() == ".json"]
    try:
        if not reports:
            raise ReportsNotReadable("no JSON reports or directories among PATHS to draw")
        notes = write_html_report(reports, out, before)
    except ReportsNotReadable as exc:
        raise click.BadParameter(str(exc), param_hint="'--html'") from None
    for note in notes:
        click.echo(f"greenmeter: {note}", err=True)


COMPARE_EPILOG = """\b
Examples:
  greenmeter compare main-runs.csv greenmeter-runs/runs.csv --max-increase 5%
  greenmeter compare runs.csv runs.csv --baseline-filter branch=main \\
      --candidate-filter branch=feature-x
  greenmeter compare base.json cand.json        # one run each: no significance test
  greenmeter compare a/ b/ --phase decode --unit tokens --metric energy-per-unit

\b
Exit status: 0; 122 if --max-increase is given and the candidate's mean of --metric
is higher by more than that with p < 0.05 (Welch's t-test, two runs or more on each
side); 125 for bad input (no runs on a side, unreadable paths, bad options).
"""


@click.command(
    "compare",
    short_help="Compare two sets of runs, with a significance test.",
    epilog=COMPARE_EPILOG,
)
@click.argument("baseline", type=HISTORY_PATH)
@click.argument("candidate", type=HISTORY_PATH)
@click.option(
    "--baseline-filter",
    multiple=True,
    callback=_selections,
    metavar="KEY=VALUE",
    help="Only baseline runs where KEY is VALUE (repeatable), e.g. branch=main.",
)
@click.option(
    "--candidate-filter",
    multiple=True,
    callback=_selections,
    metavar="KEY=VALUE",
    help="Only candidate runs where KEY is VALUE (repeatable).",
)
@click.option(
    "--metric",
    type=click.Choice(("energy", "co2", "duration", "energy-per-unit")),
    default="energy",
    show_default=True,
    help="What --max-increase gates on.",
)
@click.option(
    "--max-increase",
    "max_increase_fraction",
    type=PERCENT,
    metavar="PERCENT",
    help="Exit 122 when the candidate is significantly worse by more than this, e.g. 5%.",
)
@click.option(
    "--phase",
    metavar="PHASE",
    help="Compare one marked phase (its path, e.g. epoch/step, or its name) of each run "
    "instead of whole runs (JSON reports only).",
)
@click.option(
    "--unit",
    metavar="UNIT",
    help="With --phase: the unit energy per unit counts, when the phase counted several.",
)
@click.option(
    "--format", "fmt", type=click.Choice(("table", "json", "markdown")), help="Default: table."
)
@output_option()
@click.option(
    "--summary-md",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Append the comparison in Markdown to FILE ($GITHUB_STEP_SUMMARY, when set, gets it too).",
)
def compare_command(
    baseline,
    candidate,
    baseline_filter,
    candidate_filter,
    metric,
    max_increase_fraction,
    phase,
    unit,
    fmt,
    out,
    summary_md,
) -> int:
    """Compare the energy, CO2e and duration of BASELINE's runs and CANDIDATE's runs.

    Each side is a JSON report, a CSV history, or a directory of them, narrowed by
    --baseline-filter / --candidate-filter (e.g. the same CSV, two branches). Checkpoints
    of unfinished runs are left out. With two runs or more on each side, Welch's t-test
    says whether the difference of the means is more than noise.
    """
    import json

    from greenmeter.history import codecarbon_csv, compare
    from greenmeter.history.load import load_history
    from greenmeter.history.select import key_columns, select
    from greenmeter.reports.step_summary import append_summary, summary_targets

    if summary_md is not None:
        writable_file(summary_md, "--summary-md")
    sides = []
    for name, path, selections in (
        ("BASELINE", baseline, baseline_filter),
        ("CANDIDATE", candidate, candidate_filter),
    ):
        needed = set(compare.COLUMNS_NEEDED)
        for s in selections:
            needed |= key_columns(s.key)
        frame = load_history([path], _warn, needed)
        if phase is not None:
            from greenmeter.history.phases import phase_rows, select_phase

            frame = select_phase(phase_rows(frame, [path], _warn, unit), phase)
        frame = select(frame, selections)
        finished = frame[~frame["partial"]]
        if len(finished) < len(frame):
            _warn(f"{name}: {len(frame) - len(finished)} unfinished run(s) (checkpoints) left out")
        if finished.empty:
            raise click.UsageError(
                f"{name} {path}: no finished runs"
                + (f" with phase {phase!r}" if phase is not None else "")
                + (" match the filter" if selections else "")
            )
        sides.append(finished)
    note = codecarbon_csv.method_note(*sides)
    if note:
        _note(note)
    comparisons = compare.compare_frames(*sides)
    gated = next((c for c in comparisons if c.metric.name == metric), None)
    if max_increase_fraction is not None and gated is None:
        raise click.UsageError(f"--metric {metric}: no runs on either side have this figure")
    regressed = max_increase_fraction is not None and gated.regressed(max_increase_fraction)
    gate = None
    if max_increase_fraction is not None:
        gate = (
            f"**Regression**: {gated.metric.label} is significantly higher by more than "
            f"{max_increase_fraction * 100:g} %."
            if regressed
            else f"Gate passed: {gated.metric.label} is not significantly higher by more than "
            f"{max_increase_fraction * 100:g} %."
        )
    title = (
        f"greenmeter compare: {_side_name(baseline, baseline_filter)} -> "
        f"{_side_name(candidate, candidate_filter)}"
    )
    fmt = fmt or "table"
    if fmt == "json":
        text = (
            json.dumps(
                {
                    "baseline": str(baseline),
                    "candidate": str(candidate),
                    "metrics": [c.as_dict() for c in comparisons],
                    "gate": None
                    if max_increase_fraction is None
                    else {
                        "metric": metric,
                        "max_increase": max_increase_fraction,
                        "regressed": regressed,
                    },
                },
                indent=2,
            )
            + "\n"
        )
    elif fmt == "markdown":
        text = compare.comparison_markdown(comparisons, title, gate)
        text += f"Note: {note}\n" if note else ""
    else:
        text = _comparison_table(comparisons, title, gate, out is None and sys.stdout.isatty())
    _emit(text, out)
    markdown = compare.comparison_markdown(comparisons, title, gate)
    for path in summary_targets(summary_md):
        try:
            append_summary(path, markdown)
        except OSError as exc:
            _warn(f"summary not written to {path}: {exc}")
    if regressed:
        click.echo(
            f"greenmeter: regression: {gated.verdict()}, "
            f"{gated.change * 100:+.1f} % > {max_increase_fraction * 100:g} %",
            err=True,
        )
        return exit_codes.REGRESSION
    return 0


def _side_name(path: Path, selections) -> str:
    where = ", ".join(f"{s.key}={s.value}" for s in selections)
    return f"{path} [{where}]" if where else str(path)


def _comparison_table(comparisons, title: str, gate: str | None, colour: bool) -> str:
    import io

    from greenmeter.history.compare import comparison_rows
    from greenmeter.reports.text_table import print_table

    headers, rows = comparison_rows(comparisons)
    buffer = io.StringIO()
    print_table(
        headers,
        rows,
        title,
        buffer,
        colour,
        left=("verdict",),
        footer=gate.replace("**", "") if gate else None,
    )
    return buffer.getvalue()


@click.command("export", short_help="Write run history in another tool's format.")
@click.argument("paths", nargs=-1, type=HISTORY_PATH)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("codecarbon",)),
    required=True,
    help="codecarbon: CodeCarbon 3.3.2's emissions.csv columns.",
)
@selection_options
@click.option(
    "--project-name",
    default="greenmeter",
    show_default=True,
    help="CodeCarbon's project_name column.",
)
@output_option(", e.g. emissions.csv")
def export_command(paths, fmt, selections, since, until, project_name, out) -> int:
    """Write the runs in PATHS (CSV histories, JSON reports, directories; default
    ./greenmeter-runs/) as CodeCarbon's emissions.csv, one row per run, oldest first, so
    dashboards made for CodeCarbon read greenmeter's history."""
    from greenmeter.history.export import to_codecarbon
    from greenmeter.history.load import load_history
    from greenmeter.history.select import select

    frame = load_history(_paths_or_default(paths), _warn)
    frame = select(frame, selections, since, until).sort_values("started", kind="stable")
    # CodeCarbon's own rows are already in its format, with its version and tracking mode,
    # which a second export would lose: greenmeter's runs only.
    theirs = frame["tool"].ne("greenmeter")
    if theirs.any():
        _warn(
            f"{int(theirs.sum())} CodeCarbon run(s) in the history left out: exported are greenmeter's"
        )
        frame = frame[~theirs]
    _emit(to_codecarbon(frame, project_name).to_csv(index=False, lineterminator="\n"), out)
    return 0


@click.command("html", short_help="Write a self-contained HTML report of one or more runs.")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    callback=output_file,
    metavar="FILE",
    help="HTML file to write ('-': stdout).",
)
def html_command(runs: tuple[Path, ...], out: Path | None) -> None:
    """Draw RUNS (JSON reports, or directories of them) as one HTML page: power over
    time, energy per component, carbon and its source, and a comparison of the runs.
    The page loads nothing from the network. Same as 'greenmeter report --html FILE RUNS'.

    \b
    Example:
      greenmeter html greenmeter-runs/ -o runs.html
    """
    from greenmeter.history.html_pages import ReportsNotReadable, html_page

    try:
        page, notes = html_page(list(runs))
    except ReportsNotReadable as exc:
        raise click.BadParameter(str(exc), param_hint="RUNS") from None
    _emit(page, out)
    for note in notes:
        click.echo(f"greenmeter: {note}", err=True)
