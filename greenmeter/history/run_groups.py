"""The runs of one HTML page grouped by what they ran (the command and the tags), and each
later group compared with the first by ``greenmeter compare``'s comparison: the same
metrics, the same Welch's t-test, the same verdicts. Failed and unfinished runs are left
out of the statistics (their energy is not the same work's) and named."""

from __future__ import annotations

import json

from greenmeter.history.compare import compare_frames, comparison_rows
from greenmeter.history.load import reports_frame
from greenmeter.reports.command_labels import command_words, label_commands
from greenmeter.reports.html.run_details import failed, tags_text
from greenmeter.reports.html.statistics import GroupComparison, RunGroup

LABEL_LIMIT = 50


def _key(report: dict) -> tuple[tuple[str, ...], str]:
    tags = report.get("tags") if isinstance(report.get("tags"), dict) else {}
    return tuple(command_words(report.get("command"))), json.dumps(tags, sort_keys=True)


def group_comparison(reports: list[dict]) -> GroupComparison:
    """``reports`` in page order (run #1 first); groups in the order of their first run."""
    members: dict[tuple, list[int]] = {}
    for n, report in enumerate(reports, start=1):
        members.setdefault(_key(report), []).append(n)
    keys = list(members)
    commands = label_commands([list(k[0]) for k in keys], limit=LABEL_LIMIT)
    differ = len({k[0] for k in keys}) > 1
    groups, finished = [], []
    for key, label in zip(keys, commands.labels):
        runs = members[key]
        tags = tags_text(reports[runs[0] - 1].get("tags"))
        text = " ".join(part for part in (label if differ else "", tags) if part) or label
        left_out = [n for n in runs if failed(reports[n - 1]) or reports[n - 1].get("partial")]
        groups.append(RunGroup(text, runs, left_out))
        finished.append(reports_frame([reports[n - 1] for n in runs if n not in left_out]))
    headers, rows = ["groups"], []
    for i, candidate in enumerate(finished[1:], start=2):
        headers, metric_rows = comparison_rows(compare_frames(finished[0], candidate))
        headers = ["groups", *headers]
        rows += [[f"G{i} vs G1", *row] for row in metric_rows]
    return GroupComparison(groups, headers, rows)
