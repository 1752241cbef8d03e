"""Energy and carbon budgets for one run (``run --max-energy 50kJ --max-co2 10g``).

The report records the check either way; greenmeter exits with
``exit_codes.BUDGET_EXCEEDED`` only when the command itself succeeded (its own failure
code wins).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Budget:
    max_energy_j: float | None
    """Against ``energy_j.total``: the IT energy, before PUE."""
    max_co2_g: float | None
    """Against ``carbon.co2_g`` (PUE included)."""

    def check(self, energy_j: float | None, co2_g: float) -> "BudgetCheck":
        energy_over = None
        if self.max_energy_j is not None and energy_j is not None:
            energy_over = energy_j > self.max_energy_j
        co2_over = None
        if self.max_co2_g is not None and energy_j is not None:
            co2_over = co2_g > self.max_co2_g
        return BudgetCheck(
            max_energy_j=self.max_energy_j, max_co2_g=self.max_co2_g,
            energy_exceeded=energy_over, co2_exceeded=co2_over,
            exceeded=bool(energy_over or co2_over),
        )


@dataclass
class BudgetCheck:
    max_energy_j: float | None
    max_co2_g: float | None
    energy_exceeded: bool | None
    co2_exceeded: bool | None
    """None: no such budget, or nothing was measured or estimated to check it against."""
    exceeded: bool

    def describe(self) -> str:
        from greenmeter.summary import format_co2, format_energy

        def verdict(exceeded: bool | None) -> str:
            return {True: "over", False: "within", None: "unchecked (no figure), limit"}[exceeded]

        parts = []
        if self.max_energy_j is not None:
            parts.append(f"energy {verdict(self.energy_exceeded)} "
                         f"{format_energy(self.max_energy_j)}")
        if self.max_co2_g is not None:
            parts.append(f"CO2e {verdict(self.co2_exceeded)} {format_co2(self.max_co2_g)}")
        return "budget " + ("EXCEEDED: " if self.exceeded else "kept: ") + ", ".join(parts)
