"""The run's timeline as spans: per GPU, its energy and the means of its gauges over each
span between two consecutive points; for the process tree, its busy cores.

Energy points and gauge points share their times (``greenmeter.run.sampler``), and both
hold running integrals, so a span's energy is a difference and a gauge's mean over it a
difference divided by its length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from greenmeter.results import Point, RunResult


@dataclass(frozen=True)
class Span:
    start_s: float
    end_s: float
    energy_j: float
    means: dict[str, float | None] = field(default_factory=dict)
    """Per gauge quantity (``gpu_util_pct``, ...), its mean over the span."""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class GpuTimeline:
    component: int
    label: str
    """``GPU 0 (NVIDIA H100)``."""
    energy_j: float
    spans: list[Span]
    details: dict


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _spans(
    points: list[Point], activity: list[Point], energy_at: int | None, gauges: dict[str, int]
) -> list[Span]:
    out = []
    for k in range(1, min(len(points), len(activity))):
        (t_a, e_a), (t_b, e_b) = points[k - 1], points[k]
        dt = t_b - t_a
        if dt <= 0:
            continue
        energy = 0.0 if energy_at is None else _delta(e_a[energy_at], e_b[energy_at]) or 0.0
        a, b = activity[k - 1][1], activity[k][1]
        means = {}
        for quantity, i in gauges.items():
            d = _delta(a[i], b[i])
            means[quantity] = None if d is None else d / dt
        out.append(Span(t_a, t_b, energy, means))
    return out


def gpu_timelines(result: RunResult) -> list[GpuTimeline]:
    """Every counted GPU whose utilisation was read over the run."""
    out = []
    for index, comp in enumerate(result.components):
        if comp.kind != "gpu" or not comp.counted:
            continue
        gauges = {c.quantity: i for i, c in enumerate(result.channels) if c.component == index}
        if "gpu_util_pct" not in gauges:
            continue
        spans = _spans(result.timeline, result.activity, index, gauges)
        if not spans or any(s.means["gpu_util_pct"] is None for s in spans):
            continue
        label = f"GPU {comp.index if comp.index is not None else index} ({comp.name})"
        out.append(GpuTimeline(index, label, comp.energy_j or 0.0, spans, comp.details))
    return out


def busy_cores(result: RunResult) -> list[Span]:
    """The process tree's busy cores per span (``means["cpu_busy_cores"]``); [] if unknown."""
    gauges = {
        c.quantity: i
        for i, c in enumerate(result.channels)
        if c.component is None and c.quantity == "cpu_busy_cores"
    }
    if not gauges:
        return []
    return _spans(result.timeline, result.activity, None, gauges)
