"""HTML pages of stored runs (``greenmeter html``, ``greenmeter report --html``): JSON
reports and the timelines they name, read back and drawn by ``greenmeter.reports.html``."""

from __future__ import annotations

import json
from pathlib import Path

from greenmeter.history.run_groups import group_comparison
from greenmeter.reports.atomic_write import write_text_atomic
from greenmeter.reports.html.page import RunView, render_html
from greenmeter.reports.timeline import TimelineUnreadable, read_timeline


class ReportsNotReadable(ValueError):
    """Nothing to draw: a named file is not a greenmeter report, or no report was found."""


def _is_report(data) -> bool:
    return isinstance(data, dict) and "run_id" in data and isinstance(data.get("components"), list)


def load_run(path: Path) -> RunView:
    """A JSON report and the timeline CSV it names (relative to the report)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportsNotReadable(f"{path}: not readable as JSON: {exc}") from None
    if not _is_report(data):
        raise ReportsNotReadable(f"{path}: not a greenmeter report (no run_id/components)")
    run = RunView(report=data, source=str(path))
    ref = data.get("timeline")
    if not isinstance(ref, dict) or not ref.get("file"):
        run.timeline_note = "This report has no timeline."
        return run
    csv_path = path.parent / str(ref["file"])
    try:
        columns, points = read_timeline(csv_path)
    except (OSError, UnicodeDecodeError, TimelineUnreadable) as exc:
        run.timeline_note = f"The timeline {csv_path.name} could not be read: {exc}"
        return run
    energy_columns = len(data["components"]) + 1
    gauges = ref.get("activity_columns") or []
    if len(columns) != energy_columns + len(gauges):
        run.timeline_note = (
            f"The timeline {csv_path.name} has {len(columns) - 1 - len(gauges)} components, "
            f"the report {len(data['components'])}."
        )
        return run
    run.points = [(t, values[: energy_columns - 1]) for t, values in points]
    if gauges:
        run.activity = [(t, values[energy_columns - 1 :]) for t, values in points]
    return run


def collect_runs(paths: list[Path]) -> tuple[list[RunView], list[str]]:
    """Reports named or found (``*.json``) in directories, oldest first, and a note for
    every JSON file in a directory that was skipped. A named file that is not a report,
    or nothing found at all, raises :class:`ReportsNotReadable`."""
    runs, skipped = [], []
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.glob("*.json")):
                try:
                    runs.append(load_run(candidate))
                except ReportsNotReadable as exc:
                    skipped.append(f"skipped {exc}")
        elif path.exists():
            runs.append(load_run(path))
        else:
            raise ReportsNotReadable(f"{path}: no such file or directory")
    if not runs:
        raise ReportsNotReadable("no greenmeter report found in " + ", ".join(map(str, paths)))
    runs.sort(key=lambda r: str(r.report.get("started_at") or ""))
    return runs, skipped


def html_page(report_paths: list[Path], before: str = "") -> tuple[str, list[str]]:
    """One HTML page for the reports in ``report_paths`` (JSON files or directories of
    them), and notes on skipped files (say them to the user). Raises
    :class:`ReportsNotReadable` when there is nothing to draw. ``before``: a section
    (HTML) put before the runs, e.g. the rating of ``report --rate``."""
    runs, skipped = collect_runs(report_paths)
    groups = group_comparison([r.report for r in runs]) if len(runs) > 1 else None
    return render_html(runs, groups, before=before), skipped


def write_html_report(report_paths: list[Path], out: Path, before: str = "") -> list[str]:
    """:func:`html_page` written to ``out``, atomically; returns the notes."""
    page, skipped = html_page(report_paths, before)
    write_text_atomic(out, page)
    return skipped
