"""How a run's headline figures are written wherever they appear (terminal, Markdown,
HTML): what they rest on (measured, estimated, mixed) and energy per unit beside
throughput. Pure text; the writers lay it out."""

from __future__ import annotations

from dataclasses import dataclass

from greenmeter.quantities import (
    ENERGY_STEPS,
    MASS_STEPS,
    format_count,
    format_figure,
    format_rate,
)
from greenmeter.results import COUNTED_KINDS, ESTIMATED, MEASURED, RunResult, singular


def headline_basis(result: RunResult) -> str:
    """``estimated, not measured`` / ``partly estimated (cpu)`` / ``measured``."""
    basis = result.energy_basis
    if basis["total"] == ESTIMATED:
        return "estimated, not measured"
    if basis["total"] == MEASURED:
        return "measured"
    guessed = [k for k in COUNTED_KINDS if basis[k] not in (None, MEASURED)]
    return f"partly estimated ({', '.join(guessed)})" if guessed else "no figure"


@dataclass(frozen=True)
class PerUnit:
    """One kind of unit's figures, written: ``per sample``, ``≈1.8 mJ``, ``≈0.23 µg``,
    ``2,000 samples``, ``1.91 k samples/s``."""

    label: str
    energy: str
    co2: str
    count: str
    rate: str


def per_unit_figures(result: RunResult) -> list[PerUnit]:
    """Energy and CO2e per unit beside throughput, per kind of unit: the trade-off people
    tune. An estimate's per-unit figures are rounded as the estimate is."""
    total, span, co2_span = (
        result.energy_j["total"],
        result.energy_range_j["total"],
        result.co2_range_g,
    )

    def per(value, ends, count):
        return value / count, None if ends is None else (ends[0] / count, ends[1] / count)

    out = []
    for unit in result.units_of_work:
        energy = per(total, span, unit.count) if total is not None else (None, None)
        co2 = per(result.carbon.co2_g, co2_span, unit.count)
        out.append(
            PerUnit(
                label=f"per {singular(unit.name)}",
                energy=format_figure(*energy, ENERGY_STEPS, with_range=False),
                co2=format_figure(*co2, MASS_STEPS, with_range=False) + " CO2e",
                count=f"{format_count(unit.count)} {unit.name}",
                rate=format_rate(unit.count / result.duration_s, unit.name)
                if result.duration_s > 0
                else "-",
            )
        )
    return out


def per_unit_lines(result: RunResult) -> list[str]:
    """``per sample (2,000 samples, 1.91 k samples/s): ≈1.8 mJ, ≈0.23 µg CO2e``."""
    return [
        f"{u.label} ({u.count}, {u.rate}): {u.energy}, {u.co2}" for u in per_unit_figures(result)
    ]
