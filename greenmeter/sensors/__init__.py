"""Hardware backends behind one interface (:mod:`greenmeter.sensors.base`).

Backends only measure; integration over the run lives in :mod:`greenmeter.sampler` and
reporting in :mod:`greenmeter.results` and the exporters.
"""

from __future__ import annotations

from greenmeter.process_tree import ProcessTree
from greenmeter.sensors.base import SensorSet


def open_sensors(tree: ProcessTree, *, tdp_w: float | None = None) -> SensorSet:
    """Open every backend that can measure here; the estimate covers what none measures."""
    from greenmeter.sensors import estimate

    found = SensorSet()
    measured_kinds = {c.kind for s in found.sensors for c in s.components if c.counted}
    found.sensors.append(
        estimate.open_estimate(tree, kinds={"cpu", "dram"} - measured_kinds, tdp_w=tdp_w)
    )
    return found
