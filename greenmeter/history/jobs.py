"""Jobs across nodes in the history: each shared device counted once, and one job's view.

The ranks of a node share out its devices in time (greenmeter/run/jobs/node_meter.py), so
their energies add up to the node's. A device can still reach the history twice: two
steps of one job running at once on one node each elect a meter; ranks whose node
directories differed (a container each, ``GREENMETER_JOBS_DIR`` set apart); two "nodes"
that are one machine and report the same GPU UUID. Each run's CSV row lists the devices it
measured and when (``job_devices``); where two runs of one job measured the same device
(the node's CPU and DRAM by node name, a GPU by UUID on any node) over the same seconds,
the later claim's share of those seconds is taken out of its run's figures, and a warning
says which runs and how long.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from greenmeter.history.aggregate import aggregate

JOB_COLUMNS = frozenset(
    {"job_id", "job_step", "job_node", "job_rank", "job_launcher", "node_meter", "job_devices",
     "cpu_method", "energy_total_j", "energy_kwh", "co2_g"}
)  # fmt: skip
"""What counting devices once and the job view read."""
OVERLAP_TOLERANCE_S = 0.05
"""Handover intervals of one device meet end to start; their times are rounded to 1 ms
and taken on two processes' clocks, so a few ms of overlap is a handover, not a double."""
TOTAL = "total"


def _overlap_s(interval: list[float], taken: list[list[float]]) -> float:
    start, end = interval
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in taken)


def count_devices_once(frame: pd.DataFrame, warn: Callable[[str], None]) -> pd.DataFrame:
    """``frame`` with, for each device measured twice at once within a job, the second
    measurement's share taken out of ``energy_total_j``, ``energy_kwh`` and ``co2_g``."""
    if "job_devices" not in frame or not frame["job_devices"].notna().any():
        return frame
    rows = frame[frame["job_devices"].notna() & frame["job_id"].notna()]
    claims: dict[tuple[str, str, str], list[tuple]] = {}
    for index, job, node, run_id, devices in zip(
        rows.index, rows["job_id"], rows["job_node"], rows["run_id"], rows["job_devices"]
    ):
        try:
            parsed = json.loads(devices)
        except ValueError:
            continue
        for name, energy_j, intervals in parsed:
            where = node if name == "node" else ""  # a GPU's UUID is its own on any node
            measured_s = sum(b - a for a, b in intervals)
            for interval in intervals:
                claims.setdefault((job, name, where), []).append(
                    (interval, energy_j, measured_s, index, run_id)
                )
    excess_j: dict[int, float] = {}
    for (job, name, where), device_claims in claims.items():
        if len(device_claims) < 2:
            continue  # the usual case: one run measured it, or one interval each
        device_claims.sort(key=lambda c: c[0][0])
        before: list[tuple[list[float], str]] = []
        for interval, energy_j, measured_s, index, run_id in device_claims:
            overlap = _overlap_s(interval, [iv for iv, _ in before])
            if overlap > OVERLAP_TOLERANCE_S:
                share = overlap / measured_s if measured_s > 0 else 1.0
                excess_j[index] = excess_j.get(index, 0.0) + energy_j * share
                others = sorted({r for iv, r in before if _overlap_s(interval, [iv]) > 0})
                what = f"node {where}" if name == "node" else name
                warn(
                    f"job {job}: {what} measured twice at once ({overlap:.1f} s) by runs "
                    f"{', '.join(others)} and {run_id}; counted once"
                )
            before.append((interval, run_id))
    if not excess_j:
        return frame
    out = frame.copy()
    excess = pd.Series(excess_j).reindex(out.index, fill_value=0.0)
    old = out["energy_total_j"]
    new = (old - excess).clip(lower=0.0)
    ratio = (new / old).where(old > 0, 1.0)
    out["energy_total_j"] = new
    for column in ("energy_kwh", "co2_g"):
        if column in out:
            out[column] = out[column] * ratio
    return out


def job_view(frame: pd.DataFrame, job_id: str) -> pd.DataFrame:
    """One job: a row per node (its ranks, how its CPU was counted) and the total."""
    runs = frame[frame["job_id"].eq(job_id)].copy()
    runs["path"] = np.where(
        runs["cpu_method"].fillna("").str.contains("measured"), "measured", "estimated"
    )
    per_node = aggregate(runs, ["node", "path"])
    total = aggregate(runs, [])
    total = total.rename(columns={"group": "node"}).assign(
        node=f"{TOTAL} ({per_node['node'].nunique()} nodes)", path=""
    )
    return pd.concat([per_node, total[per_node.columns]], ignore_index=True)
