"""What every GPU backend's sensor does the same way (NVML and AMD SMI): one component per
device, all read together; the devices' gauges; the periodic look for processes outside the
command's tree on its GPUs; details and warnings per device. Each backend supplies its
devices and library, how long a read may wait, and how the library is shut down."""

from __future__ import annotations

import os
import time
from typing import Protocol

from greenmeter.sensors.base import MEASURED, Component, Gauge, Sensor
from greenmeter.sensors.process_tree import ProcessTree

SHARED_CHECK_INTERVAL_S = 2.0
"""How often the GPUs' process lists are compared with the command's tree: listing a GPU's
processes is slow on a busy driver, and other tenants rarely come and go faster."""


def shared_warning(label: str, other_pids: set[int]) -> str | None:
    """The warning for a GPU that processes outside the command's tree used."""
    if not other_pids:
        return None
    pids = ", ".join(str(p) for p in sorted(other_pids))
    return (
        f"{label} was shared with processes outside the command (pid {pids}): "
        "its figure is the whole device's energy, not the command's share."
    )


def disagreement_warning(
    label: str, counter_j: float, power_j: float, disagreement: float, reference: str
) -> str:
    """The warning for a counter and integrated power that differ (``gpu_power``'s
    ``counter_disagreement``); ``reference``: where the vendor's discrepancy is known."""
    return (
        f"{label}: the energy counter ({counter_j:.1f} J) and integrated power draw "
        f"({power_j:.1f} J) differ by {disagreement:.0%}; the report uses the counter "
        f"(see {reference})."
    )


class GpuDevice(Protocol):
    """One measured GPU of a backend (``nvml._Gpu``, ``amdsmi._Device``)."""

    name: str
    index: int
    has_counter: bool
    shared_checked: bool
    other_pids: set[int]

    def read(self, library) -> float | None: ...
    def activity(self) -> list[float | None]: ...
    def pids(self, library) -> set[int] | None: ...
    def details(self) -> dict: ...
    def warnings(self) -> list[str]: ...


class GpuSensor(Sensor):
    """One component per device, all read together (see the module docstring)."""

    def __init__(
        self,
        library,
        devices: list[GpuDevice],
        tree: ProcessTree,
        notes: list[str],
        *,
        sources: tuple[str, str],
        gauges: tuple[str, ...],
    ):
        """``sources``: the component source with an energy counter and without one
        (``nvml-energy``, ``nvml-power``); ``gauges``: the quantities each device gives."""
        self._library = library
        self._devices = devices
        self._tree = tree
        self._notes = notes
        self._next_shared_check_s = 0.0
        self.components = tuple(
            Component(
                kind="gpu",
                name=device.name,
                source=sources[0] if device.has_counter else sources[1],
                method=MEASURED,
                index=device.index,
            )
            for device in devices
        )
        self.gauges = tuple(Gauge(q, i) for i in range(len(devices)) for q in gauges)

    def read_energy_j(self) -> list[float | None]:
        joules = [device.read(self._library) for device in self._devices]
        if time.monotonic() >= self._next_shared_check_s:
            self._check_shared()
        return joules

    def read_activity(self) -> list[float | None]:
        return [value for device in self._devices for value in device.activity()]

    def _check_shared(self) -> None:
        before = self._tree.pids()
        if not before:
            return  # the command has not started or has ended: nothing to compare with
        found = {device: device.pids(self._library) for device in self._devices}
        # A process of the tree that exited during the listing is still ours.
        ours = before | self._tree.pids() | {os.getpid()}
        for device, pids in found.items():
            if pids is not None:
                device.shared_checked = True
                device.other_pids |= pids - ours
        self._next_shared_check_s = time.monotonic() + SHARED_CHECK_INTERVAL_S

    def details(self) -> list[dict]:
        return [device.details() for device in self._devices]

    def warnings(self) -> list[str]:
        said = list(self._notes)
        for device in self._devices:
            said += device.warnings()
        return said
