"""``--idle-baseline SECONDS``: the machine's power before the command starts.

Device-wide sensors (RAPL, NVML) count everything the machine draws, the command's share
and the idle floor alike. Sampling the same sensors for a few seconds before the command
starts gives each component's idle power; a report then carries both the gross energy
and the energy above idle (``net = gross - idle power x time``), as GMT and Kepler do.

Estimated components model the command's own process tree, which does not exist yet
during the baseline: their idle power is 0 and their net energy equals the gross.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from greenmeter.run.sampler import Sampler
from greenmeter.sensors.base import Sensor


@dataclass(frozen=True)
class IdleBaseline:
    duration_s: float
    power_w: list[float | None]
    """Per component, in the sampler's order (sensors, then their components); None for a
    component that could not be read during the baseline."""


def measure_idle(
    sensors: list[Sensor], seconds: float, interval_s: float, cancelled: Callable[[], bool]
) -> IdleBaseline | None:
    """Sample ``sensors`` for ``seconds`` (wrap-safe, like a run); None if ``cancelled()``
    became true meanwhile (a signal: the command is then not started)."""
    sampler = Sampler(sensors, interval_s)
    sampler.start()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancelled():
            sampler.stop()
            return None
        time.sleep(min(0.05, left))
    measurement = sampler.stop()
    return IdleBaseline(
        duration_s=measurement.duration_s,
        power_w=[
            trace.energy_j / trace.covered_s
            if trace.energy_j is not None and trace.covered_s > 0
            else None
            for trace in measurement.traces
        ],
    )
