"""The sensors of this machine: every backend that can measure here, and the
estimate for whatever none of them measures."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from greenmeter.sensors.base import SensorSet, SensorUnavailable
from greenmeter.sensors.gpu_selection import NoGpuHere, refuse_unknown
from greenmeter.sensors.process_tree import ProcessTree, ProcessTreeActivity

if TYPE_CHECKING:
    from greenmeter.sensors.estimate import EstimateSettings


def open_sensors(
    tree: ProcessTree, *, settings: EstimateSettings | None = None, gpus: str | None = None
) -> SensorSet:
    """Open every backend that can measure here; the estimate covers what none measures,
    as ``settings`` (the user's estimate settings) say.

    ``gpus`` is a ``--gpus`` value; a GPU it names that no vendor has raises
    :class:`greenmeter.sensors.gpu_selection.GpuSelectionError` (before anything is
    launched)."""
    from greenmeter.sensors import amdsmi, estimate, nvml, rapl

    found = SensorSet()
    # Each vendor resolves the --gpus entries it knows; an entry is refused only when
    # every vendor that sees GPUs left it unmatched (one dict per such vendor).
    unmatched: list[dict[str, str]] = []
    vendors = {
        "gpu": lambda missing: nvml.open_nvml(
            gpus,
            os.environ.get("CUDA_VISIBLE_DEVICES"),
            tree,
            cuda_device_order=os.environ.get("CUDA_DEVICE_ORDER"),
            unmatched=missing,
        ),
        "AMD GPU": lambda missing: amdsmi.open_amdsmi(gpus, os.environ, tree, unmatched=missing),
    }
    gaps: dict[str, SensorUnavailable] = {}
    for what, open_vendor in vendors.items():
        missing: dict[str, str] = {}
        try:
            found.sensors.append(open_vendor(missing))
        except NoGpuHere as exc:
            gaps[what] = exc
        except SensorUnavailable as exc:
            found.unavailable[what] = exc
        if missing or what not in gaps | found.unavailable:  # this vendor sees GPUs
            unmatched.append(missing)
    try:
        refuse_unknown(gpus, unmatched)
    except BaseException:
        for sensor in found.sensors:
            sensor.close()
        raise
    gpu_sensors = [s for s in found.sensors if any(c.kind == "gpu" for c in s.components)]
    if gpus not in (None, "none") and not gpu_sensors and not found.unavailable:
        # GPUs were asked for: say that none is measured, and why.
        reason = "; ".join(gap.reason for gap in gaps.values())
        fix = next((gap.fix for gap in gaps.values() if gap.fix), None)
        found.unavailable["gpu"] = SensorUnavailable(
            f"--gpus {gpus} selects nothing: {reason}", fix
        )
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
    found.sensors.append(ProcessTreeActivity(tree))  # busy cores and memory for the timeline
    return found
