"""``greenmeter compare``: did the candidate's runs use more energy, CO2e or time than the
baseline's, and is the difference more than noise?

With at least two runs on each side, Welch's t-test (unequal variances, two-sided) gives a
p-value for the difference of the means. The gate (``--max-increase 5%``) fails only when
the candidate's mean is higher by more than the threshold AND p < 0.05: a noisy increase
does not fail a build, a significant but tiny one neither. With one run on a side there is
no test: the point values are compared and the verdict says so, and the gate does not fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from greenmeter.quantities import (
    DURATION_STEPS,
    ENERGY_STEPS,
    MASS_STEPS,
    Steps,
    figures_formatter,
)
from greenmeter.reports import markdown
from greenmeter.results import singular
from greenmeter.stats import Summary, WelchResult, describe, welch_test

ALPHA = 0.05


@dataclass(frozen=True)
class Metric:
    name: str
    column: str
    label: str
    steps: Steps
    """The units its figures are written in (``greenmeter.quantities``)."""


METRICS = {
    m.name: m
    for m in (
        Metric("energy", "energy_total_j", "energy", ENERGY_STEPS),
        Metric("co2", "co2_g", "CO2e", MASS_STEPS),
        Metric("duration", "duration_s", "duration", DURATION_STEPS),
        Metric("energy-per-unit", "energy_j_per_unit", "energy per unit", ENERGY_STEPS),
    )
}
COLUMNS_NEEDED = {m.column for m in METRICS.values()} | {"exit_code", "unit_name"}


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded figure is null there (the verdict says it)."""
    return value if value is None or math.isfinite(value) else None


@dataclass(frozen=True)
class MetricComparison:
    metric: Metric
    baseline: Summary | None
    candidate: Summary | None
    welch: WelchResult | None
    """None when a side has fewer than two runs: no test was possible."""

    @property
    def change(self) -> float | None:
        """Relative change of the mean, candidate vs baseline (0.05 = 5 % more)."""
        if self.baseline is None or self.candidate is None:
            return None
        if self.baseline.mean == 0:  # from nothing: any increase is an infinite one
            return 0.0 if self.candidate.mean == 0 else math.copysign(math.inf, self.candidate.mean)
        return self.candidate.mean / self.baseline.mean - 1.0

    @property
    def significant(self) -> bool:
        return self.welch is not None and self.welch.p_value < ALPHA

    def regressed(self, max_increase_fraction: float) -> bool:
        """Significantly higher, by more than ``max_increase_fraction`` (0.05 = 5 %)."""
        change = self.change
        return self.significant and change is not None and change > max_increase_fraction

    def verdict(self) -> str:
        if self.baseline is None or self.candidate is None:
            return "no data on one side"
        change = self.change
        direction = (
            "higher" if change and change > 0 else "lower" if change and change < 0 else "unchanged"
        )
        if self.welch is None:
            return f"{direction} (one run on a side: no significance test possible)"
        p = self.welch.p_value
        p_text = f"p = {p:.2g}" if p >= 1e-4 else "p < 0.0001"
        if self.significant:
            return f"significantly {direction} ({p_text}, Welch's t-test)"
        return f"no significant difference ({p_text}, Welch's t-test)"

    def as_dict(self) -> dict:
        def summary(s: Summary | None) -> dict | None:
            if s is None:
                return None
            return {
                "n": s.n,
                "mean": _finite(s.mean),
                "median": _finite(s.median),
                "std": _finite(s.std),
                "ci95_low": _finite(s.ci_low),
                "ci95_high": _finite(s.ci_high),
            }

        return {
            "metric": self.metric.name,
            "baseline": summary(self.baseline),
            "candidate": summary(self.candidate),
            "change": _finite(self.change),
            "welch_t": None if self.welch is None or math.isinf(self.welch.t) else self.welch.t,
            "welch_df": None if self.welch is None else self.welch.df,
            "p_value": None if self.welch is None else self.welch.p_value,
            "significant": self.significant,
            "verdict": self.verdict(),
        }


def compare_values(
    metric: Metric, baseline: list[float], candidate: list[float]
) -> MetricComparison:
    welch = welch_test(baseline, candidate) if len(baseline) >= 2 and len(candidate) >= 2 else None
    return MetricComparison(
        metric,
        describe(baseline) if baseline else None,
        describe(candidate) if candidate else None,
        welch,
    )


def compare_frames(baseline, candidate) -> list[MetricComparison]:
    """One comparison per metric both sides have figures for (energy per unit only when
    runs counted units)."""
    out = []
    for metric in METRICS.values():
        a = baseline[metric.column].dropna().tolist()
        b = candidate[metric.column].dropna().tolist()
        if metric.column == "energy_j_per_unit":
            metric = replace(metric, label=_per_unit_label(baseline, candidate))
        if a or b:
            out.append(compare_values(metric, a, b))
    return out


def _per_unit_label(*frames) -> str:
    """``energy per sample`` when the runs counted one kind of unit; else per unit."""
    names = set()
    for frame in frames:
        counted = frame["energy_j_per_unit"].notna()
        names |= {n for n in frame.loc[counted, "unit_name"].tolist() if n}
    return f"energy per {singular(names.pop())}" if len(names) == 1 else "energy per unit"


def _side(s: Summary | None, fmt) -> str:
    if s is None:
        return "-"
    text = fmt(s.mean)
    if s.std is not None:
        text += f" ± {fmt(s.std)}"
    return text + f" (n={s.n})"


def comparison_rows(comparisons: list[MetricComparison]) -> tuple[list[str], list[list[str]]]:
    headers = ["metric", "baseline mean ± sd", "candidate mean ± sd", "change", "verdict"]
    rows = []
    for c in comparisons:
        # One unit and enough digits for both sides: 0.419 and 0.197 mJ must not both
        # read 0.4 mJ, and a standard deviation must not read 0.0.
        means = [s.mean for s in (c.baseline, c.candidate) if s is not None]
        fmt = figures_formatter(means, c.metric.steps)
        if c.change is None:
            change = "-"
        elif math.isinf(c.change):
            change = "from 0"
        else:
            change = f"{c.change * 100:+.1f} %"
        rows.append(
            [
                c.metric.label,
                _side(c.baseline, fmt),
                _side(c.candidate, fmt),
                change,
                c.verdict(),
            ]
        )
    return headers, rows


def comparison_markdown(comparisons: list[MetricComparison], title: str, gate: str | None) -> str:
    text = f"### {title}\n\n" + markdown.table(*comparison_rows(comparisons))
    if gate:
        text += f"\n{gate}\n"
    return text + "\n"
