"""The HTML page's statistics: a repeat group's (the table ``run --repeat`` prints) and the
significance test between groups of runs (``greenmeter compare``'s, worked out by
``greenmeter.history.run_groups``). This module only draws them."""

from __future__ import annotations

from dataclasses import dataclass

from greenmeter.reports.html.charts import html_text
from greenmeter.reports.html.tables import html_table
from greenmeter.reports.summary import REPEAT_STATS_HEADERS, repeat_stats_rows, spread_advice
from greenmeter.results import MEASURED, RepeatStats


@dataclass(frozen=True)
class RunGroup:
    label: str
    """What its runs ran: the command's differing words, and the tags."""
    runs: list[int]
    """Run numbers on the page (1 = the oldest)."""
    left_out: list[int]
    """Of ``runs``, the failed or unfinished ones, not in the statistics."""


@dataclass(frozen=True)
class GroupComparison:
    """Runs grouped by what they ran; each later group against the first."""

    groups: list[RunGroup]
    headers: list[str]
    rows: list[list[str]]
    """Text cells: the group, then ``greenmeter compare``'s columns."""


def _numbers(runs: list[int]) -> str:
    return ", ".join(f"#{n}" for n in runs) or "-"


def groups_section(comparison: GroupComparison) -> str:
    groups = html_table(
        "Runs grouped by command and tags",
        ["group", "command and tags", "runs", "left out (failed or unfinished)"],
        [
            [
                f"G{i}",
                html_text(g.label),
                html_text(_numbers(g.runs)),
                html_text(_numbers(g.left_out)),
            ]
            for i, g in enumerate(comparison.groups, start=1)
        ],
        text_cols=(1, 2, 3),
    )
    if comparison.rows:
        verdict = html_table(
            "Each group against G1: means \u00b1 standard deviation, change of the mean, and "
            "whether it is more than noise (Welch's t-test, two-sided, p < 0.05; needs two "
            "finished runs or more in each group)",
            comparison.headers,
            [[html_text(cell) for cell in row] for row in comparison.rows],
            text_cols=(1, len(comparison.headers) - 1),
        )
    else:
        verdict = (
            "<p>Every run ran the same command with the same tags: one group, nothing to test.</p>"
        )
    return (
        '<section id="significance" aria-labelledby="significance-h">'
        '<h2 id="significance-h">Is the difference more than noise?</h2>'
        f'{groups}<div class="wide">{verdict}</div></section>'
    )


def repeat_section(stats: RepeatStats, basis: str | None = None) -> str:
    """The statistics ``run --repeat N`` prints on stderr, as a table, with the same title
    (``basis``: what the figures are, said unless measured) and the same advice."""
    warmups = f" after {stats.warmup} warm-up(s)" if stats.warmup else ""
    said = f" ({basis})" if basis and basis != MEASURED else ""
    advice = spread_advice(stats)
    return (
        '<section id="repetitions" aria-labelledby="repetitions-h">'
        f'<h2 id="repetitions-h">{stats.n} repetitions{html_text(warmups + said)}</h2>'
        + html_table(
            "Over the repetitions: mean, median, sample standard deviation and the 95 % "
            "Student-t confidence interval of the mean",
            list(REPEAT_STATS_HEADERS),
            [[html_text(cell) for cell in row] for row in repeat_stats_rows(stats)],
        )
        + (f'<p class="warn">Note: {html_text(advice)}</p>' if advice else "")
        + "</section>"
    )
