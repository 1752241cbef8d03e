"""``greenmeter doctor``'s findings: every sensor candidate on this machine, what a run
will measure and what it will estimate, and how to close each gap.

:func:`collect` builds a plain dict (the ``--json`` output, stable for scripts) from what
the backends report; ``greenmeter.reports.doctor`` prints it for people. Nothing here
changes anything.
"""

from __future__ import annotations

import os

from greenmeter import __version__
from greenmeter.sensors import rapl
from greenmeter.sensors.base import SensorUnavailable

DOCTOR_SCHEMA_VERSION = 1


def gather(powercap_root: str | os.PathLike) -> dict:
    """Ask every backend, then :func:`collect`."""
    from greenmeter.sensors import amdsmi, estimate, nvml

    return collect(
        powercap_root,
        estimate_inputs=estimate.describe_inputs(),
        nvml_report=nvml.diagnose(),
        amdsmi_report=amdsmi.diagnose(),
    )


def collect(
    powercap_root: str | os.PathLike,
    *,
    estimate_inputs: dict,
    nvml_report: dict,
    amdsmi_report: dict | None = None,
) -> dict:
    """The doctor's findings.

    ``estimate_inputs`` is :func:`greenmeter.sensors.estimate.describe_inputs`;
    ``nvml_report`` is :func:`greenmeter.sensors.nvml.diagnose`, ``amdsmi_report``
    :func:`greenmeter.sensors.amdsmi.diagnose` (None: not asked)."""
    zones = rapl.discover_zones(powercap_root)
    rapl_gaps: dict[str, SensorUnavailable] = {}
    rapl_error: SensorUnavailable | None = None
    measured_kinds: set[str] = set()
    try:
        selected, rapl_gaps = rapl.select_zones(zones, powercap_root)
        measured_kinds = {z.kind for z in selected if z.counted}
    except SensorUnavailable as exc:
        rapl_error = exc
    plan = [
        _cpu_plan(measured_kinds, rapl_gaps, rapl_error, estimate_inputs),
        _dram_plan(zones, measured_kinds, rapl_gaps, rapl_error, estimate_inputs),
        _gpu_plan(nvml_report, amdsmi_report or {}),
    ]
    return {
        "doctor_schema_version": DOCTOR_SCHEMA_VERSION,
        "greenmeter_version": __version__,
        "plan": plan,
        "rapl": {
            "root": os.fspath(powercap_root),
            "zones": [dict(z.as_dict(), counts_as=_counts_as(z)) for z in zones],
            "error": _gap(rapl_error),
        },
        "nvml": nvml_report,
        "amdsmi": amdsmi_report,
        "estimate": estimate_inputs,
    }


def _gap(exc: SensorUnavailable | None) -> dict | None:
    return None if exc is None else {"reason": exc.reason, "fix": exc.fix}


def _counts_as(zone: rapl.Zone) -> str:
    if zone.kind is None:
        return "unused"
    if not zone.counted:
        return f"detail ({zone.kind})"
    return zone.kind if zone.usable else f"{zone.kind}, not readable"


VM_CPU_FIX = (
    "For a better estimate, give what your provider publishes: "
    "--cpu-watts-per-vcpu WATTS (power of one busy vCPU), or the host's package TDP and "
    "thread count: --cpu-tdp WATTS --cpu-host-threads N (or cpu_watts_per_vcpu, cpu_tdp "
    "and cpu_host_threads in greenmeter.toml)."
)
VM_NO_RAPL = (
    "this is a virtual machine: hypervisors do not pass the host's RAPL counters to "
    "guests, so no driver or permission inside the VM can give a measurement"
)


def _cpu_plan(
    measured: set[str], gaps: dict, error: SensorUnavailable | None, inputs: dict
) -> dict:
    if "cpu" in measured:
        return {"kind": "cpu", "method": "measured", "source": "rapl", "reason": None, "fix": None}
    why = gaps.get("cpu") or error
    vm = inputs.get("virtual_machine") and isinstance(why, (rapl.NoRaplZones, type(None)))
    if vm:  # loading a driver cannot help a guest: advice for the estimate only
        reasons, fixes = [VM_NO_RAPL], [VM_CPU_FIX]
    else:
        reasons = [why.reason if why else "RAPL shows no CPU package"]
        fixes = [why.fix] if why and why.fix else []
    if not vm and inputs.get("tdp_w") is None:
        reasons.append(
            f"CPU model {inputs.get('cpu_model') or 'unknown'!r} has no TDP in the "
            f"bundled table: the estimate uses {inputs.get('cpu_basis')}"
        )
        fixes.append(
            "For a better estimate, give the CPU's TDP: --cpu-tdp WATTS "
            "(or cpu_tdp in greenmeter.toml, or GREENMETER_CPU_TDP)."
        )
    return {
        "kind": "cpu",
        "method": "estimated",
        "source": "estimate-cpu-time",
        "basis": inputs.get("cpu_basis"),
        "reason": "; ".join(reasons),
        "fix": " ".join(fixes) or None,
    }


def _dram_plan(
    zones: list[rapl.Zone],
    measured: set[str],
    gaps: dict,
    error: SensorUnavailable | None,
    inputs: dict,
) -> dict:
    if "dram" in measured:
        return {"kind": "dram", "method": "measured", "source": "rapl", "reason": None, "fix": None}
    estimated = {"kind": "dram", "method": "estimated", "source": "estimate-rss"}
    if inputs.get("virtual_machine") and not zones:
        return {
            **estimated,
            "reason": VM_NO_RAPL,
            "fix": "none inside the VM: the estimate is the command's resident memory x a "
            "per-GB power",
        }
    why = gaps.get("dram") or (error if any(z.kind == "dram" for z in zones) else None)
    if why is not None:
        return {**estimated, "reason": why.reason, "fix": why.fix}
    if not zones and error is not None:
        return {**estimated, "reason": error.reason, "fix": error.fix}
    return {
        **estimated,
        "reason": "RAPL shows no dram domain here (client CPUs and AMD CPUs have none)",
        "fix": "none: the hardware has no DRAM counter; the estimate is the command's "
        "resident memory x a per-GB power",
    }


def _gpu_plan(nvml_report: dict, amdsmi_report: dict) -> dict:
    sources, devices = [], 0
    for prefix, report in (("nvml", nvml_report), ("amdsmi", amdsmi_report)):
        gpus = report.get("gpus") or []
        if not (report.get("available") and gpus):
            continue
        counters = sum(1 for g in gpus if g.get("energy_counter"))
        sources.append(
            f"{prefix}-energy"
            if counters == len(gpus)
            else f"{prefix}-power"
            if counters == 0
            else f"{prefix}-energy/{prefix}-power"
        )
        devices += len(gpus)
    if sources:
        return {
            "kind": "gpu",
            "method": "measured",
            "source": " + ".join(sources),
            "reason": None,
            "fix": None,
            "devices": devices,
        }
    # GPUs have no estimate: a run reports gpu as null, not as a guess. Where ROCm is
    # installed but broken, its reason is the one to fix; otherwise NVIDIA's, as before.
    report = amdsmi_report if amdsmi_report.get("library") else nvml_report
    return {
        "kind": "gpu",
        "method": None,
        "source": None,
        "reason": report.get("reason") or "no GPU found",
        "fix": report.get("fix"),
    }
