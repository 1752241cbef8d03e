"""``greenmeter report`` over the ranks of cluster jobs: sums by job, node and rank, the
view of one job, and a device measured twice at once counted once."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from greenmeter.reports.csv_row import COLUMNS, report_row

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp()


def rank_report(
    run_id: str,
    job: str,
    node: str,
    rank: int,
    held: list[tuple[float, float]],
    *,
    power_w: float = 100.0,
    start: float = 0.0,
    end: float = 10.0,
    own_j: float = 5.0,
    gpu: str | None = None,
    step: str | None = "0",
) -> dict:
    """A rank that ran from ``start`` to ``end`` (seconds after T0) and measured its node
    at ``power_w`` during ``held``, plus ``own_j`` of its own (an estimate); ``gpu``: the
    UUID of a GPU it measured, at 200 W, all along."""
    node_j = sum(b - a for a, b in held) * power_w
    devices = [
        {
            "device": "node",
            "meter_at_start": bool(held) and held[0][0] == start,
            "measured_by": None,
            "measured_s": sum(b - a for a, b in held),
            "energy_j": node_j,
            "intervals": [[T0 + a, T0 + b] for a, b in held],
        }
    ]
    gpu_j = 0.0
    if gpu is not None:
        gpu_j = 200.0 * (end - start)
        devices.append(
            {
                "device": f"gpu {gpu}",
                "meter_at_start": True,
                "measured_by": None,
                "measured_s": end - start,
                "energy_j": gpu_j,
                "intervals": [[T0 + start, T0 + end]],
            }
        )
    total = node_j + own_j + gpu_j
    meter = bool(held) and held[0][0] == start
    return {
        "schema_version": 1,
        "run_id": run_id,
        "greenmeter_version": "0.1.0",
        "command": ["python", "train.py"],
        "exit_code": 0,
        "interrupted": False,
        "partial": False,
        "started_at": iso(start),
        "ended_at": iso(end),
        "duration_s": end - start,
        "host": {"hostname": "same-machine"},
        "energy_j": {"total": total, "cpu": node_j, "gpu": gpu_j or None, "dram": own_j},
        "components": [
            {"kind": "cpu", "name": "package-0", "method": "measured", "counted": True},
            {"kind": "dram", "name": "process tree", "method": "estimated", "counted": True},
        ],
        "carbon": {"region": "DE", "zone_id": "DEU", "co2_g": total / 3.6e6 * 360.0,
                   "energy_kwh": total / 3.6e6, "intensity_g_per_kwh": 360.0, "pue": 1.0},
        "warnings": [],
        "tags": {},
        "ci": None,
        "job": {"launcher": "slurm", "job_id": job, "step_id": step, "node": node,
                "rank": rank, "local_rank": rank % 2, "world_size": 4, "node_meter": meter,
                "measured_by": None, "path": "measured", "devices": devices, "lost_meters": []},
    }  # fmt: skip


def iso(seconds_after_t0: float) -> str:
    moment = datetime.fromtimestamp(T0 + seconds_after_t0, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write(directory: Path, reports: list[dict]) -> Path:
    directory.mkdir(exist_ok=True)
    for one in reports:
        (directory / f"{one['run_id']}.json").write_text(json.dumps(one))
    return directory


@pytest.fixture
def report(tmp_path, capsys, monkeypatch):
    """``greenmeter report ARGS`` through the CLI's entry point, in this process (pandas is
    imported once for the module's calls, not once per call): (exit code, stdout, stderr)."""
    from greenmeter.cli.main import main

    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["report", *args])
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def rows(report, *args) -> tuple[list[dict], str]:
    code, out, err = report(*args, "--format", "json")
    assert code == 0, err
    return json.loads(out), err


def two_nodes_four_ranks(job: str = "4242") -> list[dict]:
    """n1 at 100 W, n2 at 150 W; on each node the first rank hands over to the second."""
    return [
        rank_report(f"{job}-r0", job, "n1", 0, [(0, 4)], end=4),
        rank_report(f"{job}-r1", job, "n1", 1, [(4, 10)], start=1),
        rank_report(f"{job}-r2", job, "n2", 2, [(0, 10)], power_w=150.0),
        rank_report(f"{job}-r3", job, "n2", 3, [], power_w=150.0, start=2, end=8),
    ]


def test_a_job_sums_across_nodes_each_node_once(report, tmp_path):
    runs = write(tmp_path / "runs", two_nodes_four_ranks() + two_nodes_four_ranks("77"))
    by_job, err = rows(report, str(runs), "--group-by", "job")
    assert "measured twice" not in err
    energies = {r["job"]: r["energy_j_sum"] for r in by_job}
    # n1: 100 W x 10 s, n2: 150 W x 10 s, plus 5 J of each rank's own estimate.
    assert energies == {"4242": pytest.approx(2500.0 + 20.0), "77": pytest.approx(2520.0)}
    by_node, _ = rows(report, str(runs), "--group-by", "job,node", "--filter", "job=4242")
    assert {(r["job"], r["node"]): r["energy_j_sum"] for r in by_node} == {
        ("4242", "n1"): pytest.approx(1010.0),
        ("4242", "n2"): pytest.approx(1510.0),
    }
    by_rank, _ = rows(report, str(runs), "--group-by", "rank", "--filter", "job=4242")
    assert [r["rank"] for r in by_rank] == ["0", "1", "2", "3"]
    assert [r["runs"] for r in by_rank] == [1, 1, 1, 1]


def test_one_jobs_view_has_a_row_per_node_and_the_total(report, tmp_path):
    runs = write(tmp_path / "runs", two_nodes_four_ranks() + two_nodes_four_ranks("77"))
    view, _ = rows(report, str(runs), "--job", "4242")
    assert [(r["node"], r["path"], r["runs"]) for r in view] == [
        ("n1", "measured", 2),
        ("n2", "measured", 2),
        ("total (2 nodes)", "", 4),
    ]
    assert [r["energy_j_sum"] for r in view] == pytest.approx([1010.0, 1510.0, 2520.0])
    code, table, _ = report(str(runs), "--job", "4242", "--format", "table")
    assert code == 0 and "job 4242" in table and "total (2 nodes)" in table
    code, _, err = report(str(runs), "--job", "nope")
    assert code == 125 and "no runs of this job" in err


def test_a_node_measured_twice_at_once_is_said_and_counted_once(report, tmp_path):
    # Two steps of job 9 ran at once on n1, each with its own meter of the node.
    reports = [
        rank_report("9-a", "9", "n1", 0, [(0, 10)], step="0"),
        rank_report("9-b", "9", "n1", 0, [(5, 10)], start=5, step="1"),
        rank_report("9-c", "9", "n2", 1, [(0, 10)], power_w=150.0, step="0"),
    ]
    runs = write(tmp_path / "runs", reports)
    (job,), err = rows(report, str(runs), "--group-by", "job")
    assert "job 9: node n1 measured twice at once (5.0 s) by runs 9-a and 9-b; counted once" in err
    assert job["energy_j_sum"] == pytest.approx(1000.0 + 1500.0 + 15.0)
    assert job["co2_g_sum"] == pytest.approx(2515.0 / 3.6e6 * 360.0)


def test_a_gpu_uuid_on_two_nodes_of_one_job_counts_once(report, tmp_path):
    uuid = "GPU-fa4e0000-0000-0000-0000-000000000000"
    reports = [
        rank_report("g-0", "5", "n1", 0, [(0, 10)], gpu=uuid),
        rank_report("g-1", "5", "n2", 1, [(0, 10)], gpu=uuid),  # one machine, two names
    ]
    (job,), err = rows(report, str(write(tmp_path / "runs", reports)), "--group-by", "job")
    assert f"job 5: gpu {uuid} measured twice at once (10.0 s) by runs g-0 and g-1" in err
    assert job["energy_j_sum"] == pytest.approx(2 * 1005.0 + 2000.0)


def test_the_csv_history_carries_the_job_and_ci_job_keeps_the_ci_grouping(report, tmp_path):
    reports = two_nodes_four_ranks()
    reports[0]["ci"] = {"job": "test"}

    with open(tmp_path / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for one in reports:
            writer.writerow(report_row(one))
    view, _ = rows(report, "runs.csv", "--job", "4242")
    assert view[-1]["energy_j_sum"] == pytest.approx(2520.0)
    by_ci, _ = rows(report, "runs.csv", "--group-by", "ci-job")
    assert {r["ci-job"]: r["runs"] for r in by_ci} == {"": 3, "test": 1}
