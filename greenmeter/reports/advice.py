"""The findings in words, the same in the terminal, in Markdown and in HTML: at most
``SUMMARY_LINES`` of them in a summary, all of them in a report."""

from __future__ import annotations

from greenmeter.quantities import format_energy, format_mass
from greenmeter.results import Finding

SUMMARY_LINES = 3


def at_stake(finding: Finding) -> str:
    """``1.2 kJ, 0.40 g CO2e at stake``."""
    return (
        f"{format_energy(finding.energy_at_stake_j)}, "
        f"{format_mass(finding.co2_at_stake_g)} CO2e at stake"
    )


def advice_lines(findings: list[Finding], limit: int = SUMMARY_LINES) -> list[str]:
    """One line per finding, largest energy at stake first, at most ``limit``; the last
    says how many more the report has."""
    lines = [
        f"advice: {f.id} ({f.label}): {f.summary}; {at_stake(f)}; "
        f"try: {_first_remedy(f.what_to_try)}"
        for f in findings[:limit]
    ]
    if len(findings) > limit:
        lines[-1] += f" [+{len(findings) - limit} more in the report]"
    return lines


def _first_remedy(text: str) -> str:
    """The first sentence (or the first of several remedies split by ';') of what to try."""
    head = text.partition(". ")[0].partition("; ")[0].rstrip(".")
    return head + "."
