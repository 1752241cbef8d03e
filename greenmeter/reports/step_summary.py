"""A Markdown summary of a ``run`` for CI pages: appended to ``$GITHUB_STEP_SUMMARY`` when
GitHub Actions sets it, and to ``--summary-md FILE`` for any other system."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from greenmeter.quantities import (
    ENERGY_STEPS,
    MASS_STEPS,
    format_duration,
    format_energy,
    format_figure,
    format_mass,
)
from greenmeter.reports import markdown
from greenmeter.reports.csv_row import result_to_row
from greenmeter.reports.figures import headline_basis, per_unit_figures
from greenmeter.results import COUNTED_KINDS, RepeatStats, RunResult

GITHUB_STEP_SUMMARY_VAR = "GITHUB_STEP_SUMMARY"


def _code(text: str, limit: int = 200) -> str:
    """A one-line code span (a heading ends at a line break), shortened if long."""
    text = " ".join(text.split("\n"))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}"


def _energy_detail(result: RunResult) -> str:
    energy = result.energy_j
    row = result_to_row(result)
    parts = []
    for kind in COUNTED_KINDS:
        if energy.get(kind) is not None:
            figure = format_figure(energy[kind], result.energy_range_j[kind], ENERGY_STEPS, False)
            parts.append(f"{kind} {figure} {row[f'{kind}_method']}")
    total = format_figure(energy["total"], result.energy_range_j["total"], ENERGY_STEPS)
    return f"**{total}** {headline_basis(result)}" + (f" ({', '.join(parts)})" if parts else "")


def _run_rows(result: RunResult) -> list[tuple[str, str]]:
    carbon = result.carbon
    status = str(result.exit_code) + (" (interrupted)" if result.interrupted else "")
    region = carbon.region or "world average, no region set"
    rows = [
        ("exit code", status),
        ("duration", format_duration(result.duration_s)),
        ("energy", _energy_detail(result)),
        (
            "CO2e",
            f"**{format_figure(carbon.co2_g, result.co2_range_g, MASS_STEPS)}** "
            f"at {carbon.intensity_g_per_kwh:g} gCO2e/kWh "
            f"({region}; {carbon.intensity_source} {carbon.intensity_year})"
            + (f", PUE {carbon.pue:g}" if carbon.pue != 1 else ""),
        ),
    ]
    for unit in per_unit_figures(result):
        rows.append((unit.label, f"{unit.energy}, {unit.co2} ({unit.count}, {unit.rate})"))
    if result.budget is not None:
        rows.append(
            (
                "budget",
                ("**exceeded**: " if result.budget.exceeded else "kept: ")
                + result.budget.verdicts(),
            )
        )
    for item in result.leaves_out:
        rows.append(("not included", item))
    if result.labels.tags:
        tags = sorted(result.labels.tags.items())
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in tags)))
    rows.append(("run", result.labels.run_id))
    return rows


def summary_markdown(
    results: list[RunResult], stats: RepeatStats | None, advice: bool = True
) -> str:
    """One section: the command, then a table of the run (or of each repetition and their
    statistics), then (``advice``) the findings of the last run."""
    first = results[0]
    lines = [f"### greenmeter: {_code(shlex.join(first.labels.command))}", ""]
    if len(results) == 1:
        lines.append(markdown.table(("", "value"), _run_rows(first)))
    else:
        lines.append(
            markdown.table(
                ("repetition", "exit", "duration", "energy", "CO2e"),
                [
                    (
                        str(r.labels.repetition),
                        str(r.exit_code),
                        format_duration(r.duration_s),
                        format_energy(r.energy_j["total"]),
                        format_mass(r.carbon.co2_g),
                    )
                    for r in results
                ],
            )
        )
        if stats is not None:
            from greenmeter.reports.summary import repeat_stats_rows  # the terminal's rows

            warmups = f" after {stats.warmup} unmeasured warm-up(s)" if stats.warmup else ""
            lines += [
                f"{stats.n} repetitions{warmups}; 95 % confidence interval of the "
                f"mean from Student's t:",
                "",
            ]
            lines.append(
                markdown.table(
                    ("metric", "mean", "median", "std dev", "95 % CI"), repeat_stats_rows(stats)
                )
            )
        if any(r.budget is not None and r.budget.exceeded for r in results):
            lines.append("**Budget exceeded** by at least one repetition.")
    if advice and results[-1].findings:
        from greenmeter.reports.advice import advice_lines

        lines += ["", *(f"- {markdown.cell(line)}" for line in advice_lines(results[-1].findings))]
    return "\n".join(lines).rstrip("\n") + "\n\n"


def summary_targets(summary_md: Path | None) -> list[Path]:
    """``--summary-md`` and, on GitHub Actions, ``$GITHUB_STEP_SUMMARY``."""
    targets = [summary_md] if summary_md is not None else []
    github = os.environ.get(GITHUB_STEP_SUMMARY_VAR)
    if github:
        targets.append(Path(github))
    return targets


def append_summary(path: Path, text: str) -> None:
    """Append: a CI job may run greenmeter several times into one summary."""
    with open(path, "a", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)
