"""The one small interface every energy backend implements.

A backend (RAPL, NVML, the no-hardware estimate) knows its hardware and nothing about
reports. It exposes a fixed list of :class:`Component` s and, on every read, the joules
each one has accumulated since the sensor was opened. Counter wraparounds are unwrapped
and sampled power is integrated *inside* the backend, so the consumer (``sampler.py``)
only ever subtracts cumulative figures: ``energy = last read - first read``.

Beside energy a backend may offer :class:`Gauge` s (utilisation, memory, throttling,
busy CPU cores), kept the same way: as running integrals over time, so the timeline's
one thinning rule loses nothing of them either.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from greenmeter.results import ESTIMATED, MEASURED

__all__ = ["ESTIMATED", "MEASURED", "Component", "Sensor", "SensorSet", "SensorUnavailable"]


@dataclass(frozen=True)
class Component:
    """One thing whose energy is reported, e.g. ``cpu package-0`` or ``gpu 1``."""

    kind: str
    """``cpu``, ``dram`` or ``gpu`` for what is summed into totals; detail kinds such as
    ``core``, ``uncore`` or ``psys`` are reported but never added (see ``counted``)."""
    name: str
    source: str
    """Where the figure comes from, e.g. ``rapl``, ``nvml-energy``, ``nvml-power``,
    ``estimate-tdp``."""
    method: str
    """:data:`MEASURED` or :data:`ESTIMATED`."""
    index: int | None = None
    counted: bool = True
    """False for figures contained in (or containing) counted ones: RAPL core/uncore are
    inside their package, psys is the whole platform. Adding them would count twice."""


GAUGE_QUANTITIES = {
    "gpu_util_pct": "percent of the time a kernel ran (NVML utilisation, AMD gfx_activity)",
    "gpu_memory_used_mib": "device memory in use, MiB",
    "gpu_power_capped": "1 while clocks are held down by the power limit, else 0",
    "gpu_thermal": "1 while clocks are held down for temperature, else 0",
    "gpu_idle_clocks": "1 while clocks are lowered because the GPU is idle, else 0",
    "cpu_busy_cores": "CPU cores the command's process tree keeps busy",
    "rss_mib": "resident memory of the command's process tree, MiB",
}
"""Every quantity a gauge may report, whatever the backend (NVML, AMD SMI, /proc): a
backend for other hardware reports what it can under these names."""


@dataclass(frozen=True)
class Gauge:
    """One reading over time beside energy, e.g. the utilisation of ``gpu 1``."""

    quantity: str
    """A key of :data:`GAUGE_QUANTITIES`."""
    component: int | None
    """Index into the sensor's ``components``; None for the command's process tree."""


class SensorUnavailable(Exception):
    """A backend cannot measure here. ``reason`` says why; ``fix`` what a user can do."""

    def __init__(self, reason: str, fix: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


class Sensor(abc.ABC):
    """A source of cumulative energy for one or more components.

    Reads come from the sampler's thread and from the main thread at the child's exact
    start and end; the sampler serialises them, so a sensor needs no lock of its own.
    """

    components: tuple[Component, ...] = ()
    gauges: tuple[Gauge, ...] = ()

    @abc.abstractmethod
    def read_energy_j(self) -> list[float | None]:
        """Joules accumulated per component since the sensor was opened, in the order of
        ``components``. ``None`` for a component that could not be read this time: the
        sampler keeps its last good value and reports the component as partial."""

    def read_activity(self) -> list[float | None]:
        """Per gauge, in the order of ``gauges``: the running integral of its quantity over
        time (``unit x s``) since the sensor was opened, as of the last
        :meth:`read_energy_j` (no new hardware read). Each reading stands for the span since
        the read before it, so a span's mean is one subtraction divided by its length.
        ``None`` for a gauge that could not be read."""
        return []

    def max_interval_s(self) -> float | None:
        """The longest gap between reads that keeps this sensor exact (a counter must not
        wrap twice; sampled power needs a fast poll), or None if any interval will do."""
        return None

    def range_factors(self) -> list[tuple[float, float] | None]:
        """Per component, the (low, high) multiples of its figure that its model's inputs
        allow: an estimate's range. None for a measurement (its error is the hardware's)."""
        return [None for _ in self.components]

    def details(self) -> list[dict]:
        """Extra report fields per component (GPU UUID, utilisation, ...), read once at
        the end. Keys must not clash with the common component fields."""
        return [{} for _ in self.components]

    def warnings(self) -> list[str]:
        """Things the reader of the report must know (shared GPU, counter disagreement)."""
        return []

    def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing to release
        """Release the library or files behind the sensor."""


@dataclass
class SensorSet:
    """What :func:`greenmeter.sensors.open_sensors` found: the sensors to sample and,
    for every gap, why it exists and how to close it (said once on stderr)."""

    sensors: list[Sensor] = field(default_factory=list)
    unavailable: dict[str, SensorUnavailable] = field(default_factory=dict)
