"""Whole jobs on a real SLURM (slurm-wlm 22.05 + munge) of two nodes on this machine,
started once for the module (tests/slurm_cluster.py) and stopped afterwards.

Each node has its own fake powercap tree, chosen from SLURMD_NODENAME by a one-line shell
wrapper, at its own power: the job's total must be each node's power x the time any of
its ranks ran, summed over the nodes, not over the ranks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO
from job_reports import assert_covers, by_node, device, load_reports, measured_union_s
from powercap_tree import PowercapTree, spawn_driver, stop_driver
from slurm_cluster import NODE_PORTS, Cluster, missing_programs

PY = sys.executable
JOB_RANK = str(REPO / "tests" / "job_rank.py")
FAKE_TORCHRUN = str(REPO / "tests" / "fake_torchrun.py")
PACKAGE_W = {"n1": 30.0, "n2": 50.0}
NODE_POWERCAP = [
    "sh",
    "-c",
    'GREENMETER_POWERCAP_ROOT="$GM_TREES/$SLURMD_NODENAME/sys/class/powercap" exec "$@"',
    "node-powercap",
]
"""The wrapper that gives each SLURM node its own powercap tree."""
GREENMETER = [*NODE_POWERCAP, PY, "-m", "greenmeter", "run", "-q"]

missing = missing_programs()
pytestmark = [
    pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the test cluster runs its daemons as root"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = Path(
        tempfile.mkdtemp(prefix="gm-slurm-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    drivers = []
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        for name in NODE_PORTS:
            tree = PowercapTree(base / name)
            tree.add_zone("intel-rapl:0", "package-0", 20_000_000_000)
            drivers.append(spawn_driver(tree, {"intel-rapl:0": PACKAGE_W[name]}))
        cluster.start()
        cluster.trees = base
        yield cluster
    finally:
        cluster.stop()
        for driver in drivers:
            stop_driver(driver)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def job_env(cluster, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREENMETER_", "SLURM_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        GM_TREES=str(cluster.trees),
        GREENMETER_JOBS_DIR=str(tmp_path / "jobs"),
        SLURM_CONF=str(cluster.conf),
    )
    return env


def srun(cluster, job_env, tmp_path, *argv: str) -> subprocess.CompletedProcess:
    return cluster.run(["srun", *argv], env=job_env, cwd=tmp_path, timeout=120)


def assert_node_totals(runs: list[dict]) -> None:
    """Each node's CPU energy is its power x the time it was measured, within 2 %, and
    it was measured for all the time any of its ranks ran."""
    nodes = by_node(runs)
    assert sorted(nodes) == ["n1", "n2"]
    total = sum(r["energy_j"]["cpu"] for r in runs)
    truth = sum(PACKAGE_W[name] * measured_union_s(ranks) for name, ranks in nodes.items())
    assert total == pytest.approx(truth, rel=0.02)
    for name, ranks in nodes.items():
        energy = sum(r["energy_j"]["cpu"] for r in ranks)
        assert energy == pytest.approx(PACKAGE_W[name] * measured_union_s(ranks), rel=0.02), name
        assert_covers(ranks)


def test_srun_with_one_greenmeter_per_rank_counts_each_node_once(cluster, job_env, tmp_path):
    proc = srun(
        cluster, job_env, tmp_path, "-N2", "-n4", "--overcommit",
        *GREENMETER, "--", PY, JOB_RANK, "handover", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + cluster.logs()[-3000:]
    runs = load_reports(tmp_path / "greenmeter-runs")
    assert [r["job"]["rank"] for r in runs] == [0, 1, 2, 3]
    assert len({(r["job"]["job_id"], r["job"]["step_id"]) for r in runs}) == 1
    assert all(r["job"]["launcher"] == "slurm" and r["job"]["world_size"] == 4 for r in runs)
    assert all(r["host"]["hostname"] == runs[0]["host"]["hostname"] for r in runs)
    for name, ranks in by_node(runs).items():
        assert sorted(r["job"]["local_rank"] for r in ranks) == [0, 1], name
        (meter,) = [r for r in ranks if r["job"]["node_meter"]]
        (other,) = [r for r in ranks if not r["job"]["node_meter"]]
        assert other["job"]["measured_by"] == meter["run_id"]
        assert device(other, "node")["measured_s"] > 0.2  # took the node over
    assert_node_totals(runs)


def test_srun_with_one_greenmeter_per_node_over_a_launcher(cluster, job_env, tmp_path):
    proc = srun(
        cluster, job_env, tmp_path, "-N2", "--ntasks-per-node=1",
        *GREENMETER, "--", PY, FAKE_TORCHRUN, "--nproc-per-node", "2", "--no-python",
        PY, "-c", "import time; time.sleep(1.5)",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = load_reports(tmp_path / "greenmeter-runs")
    assert len(runs) == 2
    assert all(r["job"]["node_meter"] and r["job"]["local_rank"] == 0 for r in runs)
    assert all(r["duration_s"] > 1.5 for r in runs)
    assert_node_totals(runs)


def test_sbatch_wait_runs_a_step_of_ranks_and_sums_per_node(cluster, job_env, tmp_path):
    step = " ".join(
        ["srun", *(f"'{a}'" for a in GREENMETER), "--", PY, "-c", "'import time; time.sleep(1)'"]
    )
    proc = cluster.run(
        ["sbatch", "--wait", "-N2", "-n2", "-o", str(tmp_path / "batch.out"), "--wrap", step],
        env=job_env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + (tmp_path / "batch.out").read_text()
    runs = load_reports(tmp_path / "greenmeter-runs")
    assert len(runs) == 2
    assert {r["job"]["step_id"] for r in runs} == {"0"}
    assert all(r["job"]["node_meter"] and r["exit_code"] == 0 for r in runs)
    assert_node_totals(runs)


def test_scancel_signals_reach_each_rank_once_and_every_report_is_written(
    cluster, job_env, tmp_path
):
    srun_proc = cluster.popen(
        ["srun", "-N2", "-n4", "--overcommit", *GREENMETER, "--", PY, JOB_RANK, "signals"],
        env=job_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < 4 and time.monotonic() < deadline:
            assert srun_proc.poll() is None, srun_proc.communicate()
            time.sleep(0.1)
        jobs = cluster.run(["squeue", "-h", "-o", "%i"], env=job_env).stdout.split()
        assert len(jobs) == 1, jobs
        # A preemption notice (what --signal=USR1@60 sends), then the cancellation.
        assert cluster.run(["scancel", "--signal=USR1", jobs[0]], env=job_env).returncode == 0
        time.sleep(1.0)
        assert cluster.run(["scancel", jobs[0]], env=job_env).returncode == 0
        srun_proc.communicate(timeout=60)
    finally:
        if srun_proc.poll() is None:
            srun_proc.kill()
            srun_proc.communicate()
    counts = {p.name: p.read_text().split() for p in tmp_path.glob("signals-*")}
    assert counts == {f"signals-{r}": ["1", "1"] for r in range(4)}
    runs = load_reports(tmp_path / "greenmeter-runs")
    assert len(runs) == 4
    assert all(not r["partial"] and r["interrupted"] and r["exit_code"] == 143 for r in runs)
