"""The files of one run: the JSON report with its timeline beside it, and the CSV row.

Where they go by default, where a report goes when its own path cannot be written, and
the writing itself, each file on its own: a full disk under one must not cost another.
Nothing here prints; problems are returned, in words, for the caller to say.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from greenmeter.reports.atomic_write import is_special, write_text_atomic
from greenmeter.reports.csv_row import append_row, result_to_row
from greenmeter.reports.json_report import result_to_json
from greenmeter.reports.timeline import write_timeline
from greenmeter.results import RunResult

DEFAULT_OUTPUT_DIR = Path("greenmeter-runs")
"""Where ``greenmeter run`` writes, and ``greenmeter report`` reads, by default."""
DEFAULT_CSV_NAME = "runs.csv"


def default_json_path(run_id: str) -> Path:
    return DEFAULT_OUTPUT_DIR / f"{run_id}.json"


def repetition_path(path: Path, repetition: int) -> Path:
    """``run.json`` -> ``run-2.json``: an explicit ``--json`` (or ``--html``) path, one file
    per repetition."""
    return path.with_name(f"{path.stem}-{repetition}{path.suffix}")


def fallback_json_path(run_id: str) -> Path:
    """Where the report goes when its own path cannot be written (directory removed,
    disk full): the temporary directory, usually another file system."""
    return Path(tempfile.gettempdir()) / f"greenmeter-{run_id}.json"


def write_report(result: RunResult, json_path: Path) -> str | None:
    """The report and, first, its timeline beside it (so the report never names a file
    that is not there yet). A timeline that cannot be written is not fatal: returns why,
    and the report's ``timeline`` is null. A report that cannot be written raises OSError."""
    problem = timeline = None
    try:
        if not is_special(json_path):  # the timeline goes beside a report file only
            timeline = write_timeline(
                json_path, result.components, result.timeline, result.channels, result.activity
            )
    except OSError as exc:
        timeline = None
        problem = f"timeline not written: {exc}"
    write_text_atomic(json_path, result_to_json(result, timeline))
    return problem


def write_run_files(
    result: RunResult, json_path: Path, csv_path: Path
) -> tuple[list[str], list[str]]:
    """Write the JSON report and append the CSV row; returns (failures, notes) in words.

    A JSON report that cannot be written is saved to :func:`fallback_json_path` instead
    (still a failure: the file asked for is not there)."""
    failures, notes = [], []
    try:
        problem = write_report(result, json_path)
        if problem:
            notes.append(problem)
    except OSError as exc:
        fallback = fallback_json_path(result.labels.run_id)
        try:
            write_report(result, fallback)
            saved = f"saved to {fallback} instead"
        except OSError as exc2:
            saved = f"nor to {fallback}: {exc2.strerror or exc2}"
        failures.append(f"report not written to {json_path}: {exc.strerror or exc}; {saved}")
    try:
        append_row(csv_path, result_to_row(result))
    except OSError as exc:
        failures.append(f"CSV row not appended to {csv_path}: {exc.strerror or exc}")
    return failures, notes
