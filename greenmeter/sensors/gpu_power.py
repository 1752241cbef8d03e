"""What the GPU backends share about power: integrating sampled power where a GPU has
no energy counter, and checking a counter against that integral where it has one."""

from __future__ import annotations

from dataclasses import dataclass

CROSS_CHECK_MIN_S = 3.0
"""Below this the power samples are too few for integrated power to mean much."""
CROSS_CHECK_MIN_SAMPLES = 5
CROSS_CHECK_TOLERANCE = 0.05


@dataclass
class PowerIntegral:
    """Energy from sampled power where a GPU has no energy counter: trapezoids between
    consecutive samples, exact for power linear in time, whatever the sample times."""

    energy_j: float = 0.0
    samples: int = 0
    max_power_w: float | None = None
    _last: tuple[float, float] | None = None
    """(seconds, watts) of the previous sample."""

    def add(self, at_s: float, power_w: float) -> None:
        if self._last is not None:
            then_s, then_w = self._last
            self.energy_j += (then_w + power_w) / 2 * (at_s - then_s)
        self._last = (at_s, power_w)
        self.samples += 1
        self.max_power_w = power_w if self.max_power_w is None else max(self.max_power_w, power_w)


def counter_disagreement(counter_j: float, power: PowerIntegral, covered_s: float) -> float | None:
    """How far integrated power is from the counter's figure, as a fraction of it, when
    the run was long enough to tell and they differ by more than the tolerance."""
    if covered_s < CROSS_CHECK_MIN_S or power.samples < CROSS_CHECK_MIN_SAMPLES:
        return None
    if counter_j <= 0:
        return None
    disagreement = abs(power.energy_j - counter_j) / counter_j
    return disagreement if disagreement > CROSS_CHECK_TOLERANCE else None
