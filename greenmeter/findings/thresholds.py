"""The thresholds behind every finding, with their defaults (docs/advice.md explains each).

Overridden per run with ``--advice-threshold NAME=VALUE`` (repeatable), or in a settings
file as ``advice_threshold = ["idle_util_pct=5"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Thresholds:
    idle_util_pct: float = 10.0
    """A GPU below this utilisation over a span of the timeline is idle in that span."""
    idle_min_share_pct: float = 10.0
    """``idle-gpu``: said when a GPU's idle spans hold at least this share of its energy."""
    min_at_stake_j: float = 10.0
    """No finding with less energy at stake than this (a short test job is left alone)."""
    cpu_busy_cores: float = 0.9
    """The command's processes keep at least this many CPU cores busy: "the CPU is busy"."""
    input_bound_util_pct: float = 50.0
    """``input-bound``: a GPU below this utilisation while the CPU is busy is starved."""
    input_bound_min_share_pct: float = 20.0
    """... for at least this share of the time between its first and last busy span."""
    small_batch_util_pct: float = 50.0
    """``small-batch``: mean utilisation while the GPU is in use below this ..."""
    small_batch_memory_pct: float = 30.0
    """... and its peak memory use below this share of its memory."""
    throttle_min_share_pct: float = 10.0
    """``power-capped`` / ``thermal``: held down for at least this share of the run."""
    regression_pct: float = 10.0
    """``regression``: J per unit this much above the median of the command's history ..."""
    regression_runs: int = 10
    """... over its last this many runs (same command, tags and unit) ..."""
    regression_min_runs: int = 3
    """... of which at least this many must exist."""


DEFAULT_THRESHOLDS = Thresholds()
THRESHOLD_NAMES = tuple(f.name for f in fields(Thresholds))


def with_overrides(
    overrides: list[tuple[str, str]], base: Thresholds = DEFAULT_THRESHOLDS
) -> Thresholds:
    """``base`` with ``(name, value)`` pairs applied; ValueError naming the fix for an
    unknown name or a value that is not a non-negative number."""
    changes: dict[str, float | int] = {}
    for name, text in overrides:
        if name not in THRESHOLD_NAMES:
            raise ValueError(
                f"unknown advice threshold {name!r} (known: {', '.join(THRESHOLD_NAMES)})"
            )
        kind = type(getattr(base, name))
        try:
            value = kind(float(text)) if kind is float else int(text)
        except ValueError:
            raise ValueError(
                f"advice threshold {name}={text!r}: expected a "
                + ("number" if kind is float else "whole number")
            ) from None
        if value != value or value < 0 or value == float("inf"):
            raise ValueError(f"advice threshold {name}={text!r}: expected a number >= 0")
        changes[name] = value
    return replace(base, **changes)
