"""The sensors of this machine: every backend that can measure here, and the
estimate for whatever none of them measures."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from greenmeter.sensors.base import SensorSet, SensorUnavailable
from greenmeter.sensors.process_tree import ProcessTree

if TYPE_CHECKING:
    from greenmeter.sensors.estimate import EstimateSettings


def open_sensors(
    tree: ProcessTree, *, settings: EstimateSettings | None = None, gpus: str | None = None
) -> SensorSet:
    """Open every backend that can measure here; the estimate covers what none measures,
    as ``settings`` (the user's estimate settings) say.

    ``gpus`` is a ``--gpus`` value; a GPU it names that does not exist raises
    :class:`greenmeter.sensors.nvml.GpuSelectionError` (before anything is launched)."""
    from greenmeter.sensors import estimate, nvml, rapl

    found = SensorSet()
    try:
        found.sensors.append(
            nvml.open_nvml(
                gpus,
                os.environ.get("CUDA_VISIBLE_DEVICES"),
                tree,
                cuda_device_order=os.environ.get("CUDA_DEVICE_ORDER"),
            )
        )
    except nvml.NoGpuHere as exc:
        if gpus not in (None, "none"):  # GPUs were asked for: say that none is measured
            found.unavailable["gpu"] = SensorUnavailable(
                f"--gpus {gpus} selects nothing: {exc.reason}", exc.fix
            )
    except SensorUnavailable as exc:
        found.unavailable["gpu"] = exc
    try:
        cpu_dram = rapl.open_rapl(rapl.powercap_root())
    except rapl.NoRaplZones:
        pass  # VMs, containers, non-x86: nothing to fix; the estimate says it is one
    except SensorUnavailable as exc:
        found.unavailable["RAPL"] = exc
    else:
        found.sensors.append(cpu_dram)
        for kind, gap in cpu_dram.unavailable.items():
            found.unavailable[f"RAPL {kind}"] = gap
    measured_kinds = {c.kind for s in found.sensors for c in s.components if c.counted}
    settings = settings or estimate.EstimateSettings()
    if "cpu" in measured_kinds and settings.static_w_per_vcpu is not None:
        found.unavailable["static share"] = SensorUnavailable(
            "--static-share not charged: the CPU is measured, and its package figure "
            "already includes its idle power"
        )
    found.sensors.append(estimate.open_estimate(tree, {"cpu", "dram"} - measured_kinds, settings))
    return found
