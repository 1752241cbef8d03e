"""Reading the reports of one job's ranks back, for the job tests."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path


def load_reports(directory: Path) -> list[dict]:
    """Every JSON report in ``directory``, by rank."""
    found = [json.loads(p.read_text()) for p in sorted(Path(directory).glob("*.json"))]
    return sorted(found, key=lambda r: (r["job"]["rank"] is None, r["job"]["rank"]))


def started_s(report: dict) -> float:
    return datetime.fromisoformat(report["started_at"].replace("Z", "+00:00")).timestamp()


def ended_s(report: dict) -> float:
    return datetime.fromisoformat(report["ended_at"].replace("Z", "+00:00")).timestamp()


def union_s(intervals: list[list[float]]) -> float:
    """Seconds covered by at least one of ``intervals``."""
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def ranks_union_s(reports: list[dict]) -> float:
    """The time at least one of these ranks ran."""
    return union_s([[started_s(r), ended_s(r)] for r in reports])


def device(report: dict, name: str) -> dict | None:
    return next((d for d in report["job"]["devices"] if d["device"] == name), None)


def by_node(reports: list[dict]) -> dict[str, list[dict]]:
    nodes: dict[str, list[dict]] = {}
    for r in reports:
        nodes.setdefault(r["job"]["node"], []).append(r)
    return nodes


def measured_union_s(reports: list[dict], name: str = "node") -> float:
    """The time ``name`` was measured by one of these ranks (its meter's intervals)."""
    return union_s([iv for r in reports if device(r, name) for iv in device(r, name)["intervals"]])


def assert_covers(reports: list[dict], name: str = "node") -> None:
    """The device was measured for all the time any rank ran, less greenmeter's own start
    and end around the commands (its report's times include them)."""
    import pytest

    assert measured_union_s(reports, name) == pytest.approx(
        ranks_union_s(reports), rel=0.05, abs=0.1
    )
