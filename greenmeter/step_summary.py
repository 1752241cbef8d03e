"""A Markdown summary of a ``run`` for CI pages: appended to ``$GITHUB_STEP_SUMMARY`` when
GitHub Actions sets it, and to ``--summary-md FILE`` for any other system."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from greenmeter.results import RunResult
from greenmeter.summary import format_co2, format_energy
from greenmeter.units_of_work import singular

if TYPE_CHECKING:  # the statistics are imported only when there are repetitions
    from greenmeter.repeat_stats import RepeatStats

GITHUB_STEP_SUMMARY_VAR = "GITHUB_STEP_SUMMARY"


def _cell(text: str) -> str:
    """Table cells cannot hold a raw '|' or a line break."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str, limit: int = 200) -> str:
    """A one-line code span (a heading ends at a line break), shortened if long."""
    text = " ".join(text.split("\n"))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}"


def _energy_detail(result: RunResult) -> str:
    energy = result.energy_j
    parts = []
    for kind in ("cpu", "gpu", "dram"):
        if energy.get(kind) is not None:
            methods = sorted({c.method for c in result.components if c.counted and c.kind == kind})
            parts.append(f"{kind} {format_energy(energy[kind])} {'+'.join(methods)}")
    total = format_energy(energy["total"])
    return f"**{total}**" + (f" ({', '.join(parts)})" if parts else "")


def _run_rows(result: RunResult) -> list[tuple[str, str]]:
    carbon = result.carbon
    status = str(result.exit_code) + (" (interrupted)" if result.interrupted else "")
    region = carbon.region or "world average, no region set"
    rows = [
        ("exit code", status),
        ("duration", f"{result.duration_s:.2f} s"),
        ("energy", _energy_detail(result)),
        ("CO2e", f"**{format_co2(carbon.co2_g)}** at {carbon.intensity_g_per_kwh:g} gCO2e/kWh "
                 f"({region}; {carbon.intensity_source} {carbon.intensity_year})"
                 + (f", PUE {carbon.pue:g}" if carbon.pue != 1 else "")),
    ]
    if result.units:
        rows.append((f"per {singular(result.unit_name)}",
                     f"{format_energy(result.energy_j_per_unit)}, "
                     f"{format_co2(result.co2_g_per_unit)} CO2e "
                     f"({result.units:g} {result.unit_name})"))
    if result.budget is not None:
        rows.append(("budget", ("**exceeded**: " if result.budget.exceeded else "kept: ")
                     + result.budget.describe().split(": ", 1)[1]))
    if result.tags:
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in sorted(result.tags.items()))))
    rows.append(("run", result.run_id))
    return rows


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def summary_markdown(results: list[RunResult], stats: RepeatStats | None) -> str:
    """One section: the command, then a table of the run (or of each repetition and their
    statistics)."""
    first = results[0]
    lines = [f"### greenmeter: {_code(shlex.join(first.command))}", ""]
    if len(results) == 1:
        lines += _table(("", "value"), _run_rows(first))
    else:
        lines += _table(("repetition", "exit", "duration", "energy", "CO2e"), [
            (str(r.repetition), str(r.exit_code), f"{r.duration_s:.2f} s",
             format_energy(r.energy_j["total"]), format_co2(r.carbon.co2_g))
            for r in results])
        if stats is not None:
            warmups = f" after {stats.warmup} unmeasured warm-up(s)" if stats.warmup else ""
            lines += ["", f"{stats.n} repetitions{warmups}; 95 % confidence interval of the "
                          f"mean from Student's t:", ""]
            lines += _table(("metric", "mean", "median", "std dev", "95 % CI"),
                            [tuple(row) for row in stats.formatted_rows()])
        if any(r.budget is not None and r.budget.exceeded for r in results):
            lines += ["", "**Budget exceeded** by at least one repetition."]
    return "\n".join(lines) + "\n\n"


def summary_targets(summary_md: Path | None) -> list[Path]:
    """``--summary-md`` and, on GitHub Actions, ``$GITHUB_STEP_SUMMARY``."""
    targets = [summary_md] if summary_md is not None else []
    github = os.environ.get(GITHUB_STEP_SUMMARY_VAR)
    if github:
        targets.append(Path(github))
    return targets


def append_summary(path: Path, text: str) -> None:
    """Append: a CI job may run greenmeter several times into one summary."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
