"""Total power over the run in one line of block characters, for the terminal summary."""

from __future__ import annotations

from greenmeter.timeline import Point, downsample, intervals, total_power

BLOCKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"  # one eighth to full height


def sparkline(values: list[float], top: float) -> str:
    """One block per value, its height the value's share of ``top`` (0 -> the lowest block)."""
    if not top > 0:
        return BLOCKS[0] * len(values)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[min(last, max(0, round(v / top * last)))] for v in values)


def total_power_w(points: list[Point], counted: list[bool], width: int) -> list[float]:
    """Mean total power of the counted components over up to ``width`` equal spans of time."""
    return [total_power(step, counted) for step in intervals(downsample(points, width + 1))]
