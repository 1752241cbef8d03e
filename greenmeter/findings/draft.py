"""What each finding function returns: a finding before its CO2e, which ``analyse.py``
adds at the run's own intensity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Draft:
    """Id, one line, figures, joules at stake, what to try."""

    id: str
    summary: str
    evidence: dict
    energy_at_stake_j: float
    what_to_try: str
