"""Hardware backends behind one interface (:mod:`greenmeter.sensors.base`).

Backends only measure; integration over the run lives in :mod:`greenmeter.sampler` and
reporting in :mod:`greenmeter.results` and the exporters.
"""

from __future__ import annotations

import os

from greenmeter.process_tree import ProcessTree
from greenmeter.sensors.base import SensorSet, SensorUnavailable


def powercap_root() -> str:
    """Where RAPL zones are looked for: ``GREENMETER_POWERCAP_ROOT`` (a fake tree in tests,
    the host's tree bind-mounted elsewhere in a container) or the kernel's place."""
    from greenmeter.sensors.rapl import DEFAULT_POWERCAP_ROOT

    return os.environ.get("GREENMETER_POWERCAP_ROOT") or DEFAULT_POWERCAP_ROOT


def open_sensors(tree: ProcessTree, *, tdp_w: float | None = None,
                 gpus: str | None = None) -> SensorSet:
    """Open every backend that can measure here; the estimate covers what none measures.

    ``gpus`` is a ``--gpus`` value; a GPU it names that does not exist raises
    :class:`greenmeter.sensors.nvml.GpuSelectionError` (before anything is launched)."""
    from greenmeter.sensors import estimate, nvml, rapl

    found = SensorSet()
    try:
        found.sensors.append(nvml.open_nvml(
            gpus, os.environ.get("CUDA_VISIBLE_DEVICES"), tree,
            cuda_device_order=os.environ.get("CUDA_DEVICE_ORDER"),
        ))
    except nvml.NoGpuHere as exc:
        if gpus not in (None, "none"):  # GPUs were asked for: say why none is measured
            found.unavailable["gpu"] = exc
    except SensorUnavailable as exc:
        found.unavailable["gpu"] = exc
    try:
        cpu_dram = rapl.open_rapl(powercap_root())
    except rapl.NoRaplZones:
        pass  # VMs, containers, non-x86: nothing to fix; the estimate says it is one
    except SensorUnavailable as exc:
        found.unavailable["RAPL"] = exc
    else:
        found.sensors.append(cpu_dram)
        for kind, gap in cpu_dram.unavailable.items():
            found.unavailable[f"RAPL {kind}"] = gap
    measured_kinds = {c.kind for s in found.sensors for c in s.components if c.counted}
    found.sensors.append(
        estimate.open_estimate(tree, kinds={"cpu", "dram"} - measured_kinds, tdp_w=tdp_w)
    )
    return found
