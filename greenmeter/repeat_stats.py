"""Statistics over the repetitions of ``run --repeat N``: mean, median, standard
deviation and the 95 % Student-t confidence interval of the mean, per metric."""

from __future__ import annotations

from dataclasses import dataclass

from greenmeter.results import RunResult
from greenmeter.stats import Summary, describe
from greenmeter.units_of_work import singular


ENERGY_SCALE = ((3.6e6, "kWh"), (1e3, "kJ"), (1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"))
CO2_SCALE = ((1e3, "kg"), (1.0, "g"), (1e-3, "mg"), (1e-6, "µg"))
SECONDS_SCALE = ((1.0, "s"), (1e-3, "ms"))


def _formatter(scale, typical: float):
    """One unit for a whole row (chosen by the mean), four significant digits: the spread
    of a series must stay visible, which a rounded '1.0 mJ +- 0.0 mJ' hides."""
    factor, unit = next(((f, u) for f, u in scale if abs(typical) >= f), scale[-1])
    return lambda value: f"{value / factor:.4g} {unit}"


@dataclass(frozen=True)
class RepeatStats:
    n: int
    warmup: int
    metrics: dict[str, Summary]
    """``energy_j``, ``duration_s``, ``co2_g`` and, when every repetition counted units,
    ``energy_j_per_unit``."""
    unit_name: str | None = None

    @classmethod
    def of(cls, results: list[RunResult], warmup: int) -> "RepeatStats":
        series = {
            "energy_j": [r.energy_j["total"] for r in results],
            "duration_s": [r.duration_s for r in results],
            "co2_g": [r.carbon.co2_g for r in results],
            "energy_j_per_unit": [r.energy_j_per_unit for r in results],
        }
        metrics = {name: describe(values) for name, values in series.items()
                   if values and all(v is not None for v in values)}
        return cls(len(results), warmup, metrics, results[0].unit_name)

    def formatted_rows(self) -> list[list[str]]:
        """[metric, mean, median, std, "low - high"] with units, for tables."""
        labels = {"energy_j": ("energy", ENERGY_SCALE), "duration_s": ("duration", SECONDS_SCALE),
                  "co2_g": ("CO2e", CO2_SCALE),
                  "energy_j_per_unit": (f"energy per {singular(self.unit_name or 'unit')}",
                                        ENERGY_SCALE)}
        rows = []
        for name, summary in self.metrics.items():
            label, scale = labels[name]
            fmt = _formatter(scale, summary.mean)
            std = "-" if summary.std is None else fmt(summary.std)
            ci = ("-" if summary.ci_low is None else
                  f"{fmt(summary.ci_low)} - {fmt(summary.ci_high)}")
            rows.append([label, fmt(summary.mean), fmt(summary.median), std, ci])
        return rows
