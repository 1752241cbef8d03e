"""Findings about the GPUs: where their energy went while they did little.

Each function takes the run's GPU timelines (``spans.py``) and returns its findings'
parts; ``analyse.py`` turns them into :class:`~greenmeter.results.Finding` s with the
energy at stake in CO2e. Utilisation is NVML's (the share of time a kernel ran) or AMD
SMI's ``gfx_activity``, so it says that a GPU waited, never how well its kernels used it.
"""

from __future__ import annotations

from greenmeter.findings.draft import Draft
from greenmeter.findings.spans import GpuTimeline, Span
from greenmeter.findings.thresholds import Thresholds
from greenmeter.quantities import format_duration, format_energy


def _util(span: Span) -> float:
    return span.means["gpu_util_pct"] or 0.0


def _busy(span: Span, t: Thresholds) -> bool:
    return _util(span) >= t.idle_util_pct


def _sum_j(spans: list[Span]) -> float:
    return sum(s.energy_j for s in spans)


def _sum_s(spans: list[Span]) -> float:
    return sum(s.duration_s for s in spans)


def _r(value: float, digits: int = 3) -> float:
    return round(value, digits)


def _active(gpu: GpuTimeline, t: Thresholds) -> list[Span]:
    """From the first busy span to the last, both included."""
    busy = [k for k, s in enumerate(gpu.spans) if _busy(s, t)]
    return gpu.spans[busy[0] : busy[-1] + 1] if busy else []


def is_unused(gpu: GpuTimeline, t: Thresholds) -> bool:
    return not any(_busy(s, t) for s in gpu.spans)


def unused_gpus(gpus: list[GpuTimeline], t: Thresholds) -> Draft | None:
    unused = [g for g in gpus if is_unused(g, t)]
    if not unused:
        return None
    energy = sum(g.energy_j for g in unused)
    duration = max(_sum_s(g.spans) for g in unused)
    names = ", ".join(g.label for g in unused)
    return Draft(
        "unused-gpu",
        f"{names} never reached {t.idle_util_pct:g} % utilisation, yet drew "
        f"{format_energy(energy)} ({energy / duration if duration else 0:.0f} W idle)",
        {
            "gpus": [g.label for g in unused],
            "energy_j": _r(energy),
            "idle_power_w": [_r(g.energy_j / duration if duration else 0.0) for g in unused],
            "max_util_pct": [_r(max(_util(s) for s in g.spans)) for g in unused],
        },
        energy,
        "Hide the GPUs the command does not use (CUDA_VISIBLE_DEVICES), or ask the "
        "scheduler for fewer (--gpus, --gres): an idle GPU still draws tens of watts.",
    )


def idle_gpu(gpu: GpuTimeline, t: Thresholds) -> Draft | None:
    """Energy spent below the idle threshold, split into start-up (before the first busy
    span), stalls (idle spans between busy ones) and the tail (after the last)."""
    busy = [k for k, s in enumerate(gpu.spans) if _busy(s, t)]
    if not busy or gpu.energy_j <= 0:
        return None
    first, last = busy[0], busy[-1]
    startup = gpu.spans[:first]
    tail = gpu.spans[last + 1 :]
    stalls = [s for s in gpu.spans[first : last + 1] if not _busy(s, t)]
    stall_count = sum(
        1
        for k in range(first, last + 1)
        if not _busy(gpu.spans[k], t) and _busy(gpu.spans[k - 1], t)
    )
    idle_j = _sum_j(startup) + _sum_j(stalls) + _sum_j(tail)
    share = idle_j / gpu.energy_j * 100
    if share < t.idle_min_share_pct:
        return None
    parts = {"start-up": startup, "stalls": stalls, "tail": tail}
    words = ", ".join(
        f"{name} {format_energy(_sum_j(spans))} ({format_duration(_sum_s(spans))})"
        for name, spans in parts.items()
        if spans
    )
    remedies = {
        "start-up": "load and preprocess the data and build the model before the GPU is "
        "allocated, or cache them",
        "stalls": "overlap input with compute (more DataLoader workers, pin_memory=True, "
        "prefetching) and avoid synchronising on every step",
        "tail": "release the GPU before evaluation on the CPU or checkpoint writing (write "
        "checkpoints asynchronously, or run that part as its own CPU job)",
    }
    # The largest part first: its remedy is the one a summary line has room for.
    ranked = sorted((p for p in parts if parts[p]), key=lambda p: -_sum_j(parts[p]))
    advice = [f"{p}: {remedies[p]}" for p in ranked if _sum_j(parts[p]) >= idle_j * 0.2]
    return Draft(
        "idle-gpu",
        f"{gpu.label} spent {format_energy(idle_j)} ({share:.0f} % of its energy) below "
        f"{t.idle_util_pct:g} % utilisation: {words}",
        {
            "gpu": gpu.label,
            "idle_j": _r(idle_j),
            "idle_share_pct": _r(share, 1),
            "startup_j": _r(_sum_j(startup)),
            "startup_s": _r(_sum_s(startup)),
            "stalls_j": _r(_sum_j(stalls)),
            "stalls_s": _r(_sum_s(stalls)),
            "stall_count": stall_count,
            "tail_j": _r(_sum_j(tail)),
            "tail_s": _r(_sum_s(tail)),
        },
        idle_j,
        "; ".join(advice) + ".",
    )


def input_bound(gpu: GpuTimeline, cpu: list[Span], t: Thresholds) -> Draft | None:
    """Between its first and last busy span, the GPU starved (under the input-bound
    utilisation) for a good share of the time while the CPU was busy. Busy cores are
    compared on their mean over the starved spans: over one short span, CPU time read in
    clock ticks is too coarse to judge."""
    active = _active(gpu, t)
    if not active or not cpu:
        return None
    starved = [s for s in active if _util(s) < t.input_bound_util_pct]
    share = _sum_s(starved) / _sum_s(active) * 100
    if not starved or share < t.input_bound_min_share_pct:
        return None
    # The GPU's spans and the CPU's come from the same points: the same (start, end).
    busy = {(c.start_s, c.end_s): c.means.get("cpu_busy_cores") or 0.0 for c in cpu}
    cores = sum(busy.get((s.start_s, s.end_s), 0.0) * s.duration_s for s in starved) / _sum_s(
        starved
    )
    if cores < t.cpu_busy_cores:
        return None
    energy = _sum_j(starved)
    return Draft(
        "input-bound",
        f"{gpu.label} was below {t.input_bound_util_pct:g} % utilisation for "
        f"{share:.0f} % of its working time while the command kept {cores:.1f} CPU cores "
        f"busy ({format_energy(energy)})",
        {
            "gpu": gpu.label,
            "starved_s": _r(_sum_s(starved)),
            "starved_share_pct": _r(share, 1),
            "starved_j": _r(energy),
            "mean_util_pct_starved": _r(
                sum(_util(s) * s.duration_s for s in starved) / _sum_s(starved), 1
            ),
            "busy_cores_starved": _r(cores, 2),
        },
        energy,
        "Feed the GPU faster: more data-loader workers (DataLoader num_workers), "
        "pin_memory=True, prefetching (prefetch_factor, tf.data prefetch), or "
        "preprocess once and cache the result.",
    )


def small_batch(gpu: GpuTimeline, t: Thresholds) -> Draft | None:
    """Low utilisation while in use, with most of the memory left free."""
    active = _active(gpu, t)
    total_mib = gpu.details.get("memory_total_mib")
    peak_mib = gpu.details.get("peak_memory_used_mib")
    if not active or not total_mib or peak_mib is None:
        return None
    util = sum(_util(s) * s.duration_s for s in active) / _sum_s(active)
    memory_pct = peak_mib / total_mib * 100
    if util >= t.small_batch_util_pct or memory_pct >= t.small_batch_memory_pct:
        return None
    energy = _sum_j(active) * (1 - util / 100)
    headroom = total_mib - peak_mib
    return Draft(
        "small-batch",
        f"{gpu.label} averaged {util:.0f} % utilisation while in use and used at most "
        f"{peak_mib:.0f} of {total_mib:.0f} MiB ({memory_pct:.0f} %): "
        f"{headroom:.0f} MiB of headroom",
        {
            "gpu": gpu.label,
            "mean_util_pct": _r(util, 1),
            "peak_memory_mib": _r(peak_mib, 1),
            "memory_total_mib": _r(total_mib, 1),
            "memory_headroom_mib": _r(headroom, 1),
            "memory_used_pct": _r(memory_pct, 1),
        },
        energy,
        f"Try a larger batch (the GPU has {headroom:.0f} MiB free at its peak), or "
        "several runs or models on one GPU; keep the learning rate in step with the batch. "
        "The energy at stake is the GPU's energy while in use times its unused share of "
        "utilisation: an upper bound.",
    )


THROTTLES = {
    "power-capped": (
        "gpu_power_capped",
        "at its power limit",
        "The GPU is power-bound: fewer joules per unit often come from a lower power "
        "limit (nvidia-smi -pl) at a small cost in speed; measure J per unit at two or "
        "three limits. A higher limit buys speed, not efficiency.",
    ),
    "thermal": (
        "gpu_thermal",
        "held down for temperature",
        "Check the cooling (airflow, fan curves, blocked inlets, room temperature): a hot "
        "GPU runs slower and leaks more power for the same clocks.",
    ),
}


def throttled(gpu: GpuTimeline, kind: str, t: Thresholds) -> Draft | None:
    quantity, words, advice = THROTTLES[kind]
    if any(s.means.get(quantity) is None for s in gpu.spans):
        return None
    seconds = sum((s.means[quantity] or 0.0) * s.duration_s for s in gpu.spans)
    total_s = _sum_s(gpu.spans)
    share = seconds / total_s * 100 if total_s else 0.0
    if share < t.throttle_min_share_pct:
        return None
    energy = sum((s.means[quantity] or 0.0) * s.energy_j for s in gpu.spans)
    return Draft(
        kind,
        f"{gpu.label} was {words} for {format_duration(seconds)} ({share:.0f} % of the run, "
        f"{format_energy(energy)})",
        {
            "gpu": gpu.label,
            "throttled_s": _r(seconds),
            "throttled_share_pct": _r(share, 1),
            "energy_j": _r(energy),
        },
        energy,
        advice,
    )


def cpu_only(gpus: list[GpuTimeline], cpu: list[Span], t: Thresholds) -> Draft | None:
    """Every GPU idle for the whole run while the CPU was busy: a CPU job on a GPU machine."""
    if not gpus or not cpu or not all(is_unused(g, t) for g in gpus):
        return None
    total_s = _sum_s(cpu)
    cores = sum((s.means.get("cpu_busy_cores") or 0.0) * s.duration_s for s in cpu) / total_s
    if cores < t.cpu_busy_cores:
        return None
    energy = sum(g.energy_j for g in gpus)
    return Draft(
        "cpu-only",
        f"the GPUs stayed below {t.idle_util_pct:g} % utilisation for the whole run while "
        f"the command kept {cores:.1f} CPU cores busy; the GPUs drew {format_energy(energy)}",
        {"gpus": [g.label for g in gpus], "gpu_energy_j": _r(energy), "busy_cores": _r(cores, 2)},
        energy,
        "Run it where there is no GPU to idle (a CPU node or runner), or check that the "
        "code really reaches the GPU (torch.cuda.is_available(), the device of the model "
        "and the tensors).",
    )
