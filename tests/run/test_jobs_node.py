"""Ranks of one job on one node measure the node once (greenmeter/run/jobs/), through
torchrun's environment contract (tests/fake_torchrun.py: PyTorch is not installed in CI),
a fake powercap tree and the fake NVML library."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO
from job_reports import assert_covers, device, load_reports, union_s
from powercap_tree import PowercapTree, spawn_driver, stop_driver

PY = sys.executable
FAKE_TORCHRUN = str(REPO / "tests" / "fake_torchrun.py")
GREENMETER = [PY, "-m", "greenmeter", "run", "-q", "--checkpoint-interval", "0.2"]
PACKAGE_W, DRAM_W = 40.0, 8.0


def sleeper(*seconds_by_local_rank: float) -> list[str]:
    """A command that sleeps its local rank's number of seconds."""
    table = list(seconds_by_local_rank)
    return [PY, "-c", f"import os,time; time.sleep({table}[int(os.environ['LOCAL_RANK'])])"]


@pytest.fixture
def shm_tree():
    """A powercap tree on tmpfs: a disk-backed tree lags its clock under load
    (/work/shared/notes/real-services.md), and 2 % of a 1 s rank is 20 ms."""
    base = Path(
        tempfile.mkdtemp(prefix="gm-jobs-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    tree = PowercapTree(base)
    tree.add_zone("intel-rapl:0", "package-0", 10_000_000_000)
    tree.add_zone("intel-rapl:0:0", "dram", 3_000_000_000)
    driver = spawn_driver(tree, {"intel-rapl:0": PACKAGE_W, "intel-rapl:0:0": DRAM_W})
    yield tree
    stop_driver(driver)
    shutil.rmtree(base, ignore_errors=True)


JOB_RANK = str(REPO / "tests" / "job_rank.py")


TORCHRUN = shutil.which("torchrun")


@pytest.mark.parametrize(
    "launcher",
    [
        "tests/fake_torchrun.py",
        pytest.param(
            "torchrun",
            marks=pytest.mark.skipif(
                TORCHRUN is None,
                reason="PyTorch is not installed (too heavy for CI: tests/fake_torchrun.py "
                "plays torchrun's environment contract instead)",
            ),
        ),
    ],
)
def test_four_ranks_under_torchrun_measure_the_node_once_and_hand_over(
    gm_env, tmp_path, shm_tree, launcher
):
    out = tmp_path / "greenmeter-runs"  # each rank's default report: <run_id>.json
    env = {
        **gm_env,
        "GREENMETER_POWERCAP_ROOT": str(shm_tree.root),
        "GREENMETER_JOBS_DIR": str(tmp_path / "jobs"),
    }
    start = [TORCHRUN] if launcher == "torchrun" else [PY, FAKE_TORCHRUN, "--run-id", "job-a"]
    proc = subprocess.run(
        [*start, "--nproc-per-node", "4", "--no-python",
         *GREENMETER, "--", PY, JOB_RANK, "handover", "4"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = load_reports(out)
    assert [r["job"]["rank"] for r in runs] == [0, 1, 2, 3]
    assert len({r["job"]["job_id"] for r in runs}) == 1
    assert runs[0]["job"]["job_id_source"] == "TORCHELASTIC_RUN_ID"
    assert all(r["job"]["launcher"] == "torchrun" and r["job"]["world_size"] == 4 for r in runs)
    assert all(r["job"]["path"] == "measured" for r in runs)
    meters = [r for r in runs if r["job"]["node_meter"]]
    assert len(meters) == 1, [r["job"] for r in runs]
    first = meters[0]["run_id"]
    assert all(r["job"]["measured_by"] in (None, first) for r in runs)
    assert sum(r["job"]["measured_by"] == first for r in runs) >= 1
    # The node's CPU and DRAM over all the time any rank ran, split among the ranks
    # that held the node in turn; no interval twice.
    node = [device(r, "node") for r in runs]
    intervals = [iv for d in node for iv in d["intervals"]]
    held_s = sum(b - a for a, b in intervals)
    assert held_s == pytest.approx(union_s(intervals), abs=0.01)
    assert_covers(runs)
    assert sum(1 for d in node if d["measured_s"] > 0) >= 2  # handed over at least once
    cpu = sum(r["energy_j"]["cpu"] for r in runs)
    dram = sum(r["energy_j"]["dram"] for r in runs)
    assert cpu == pytest.approx(PACKAGE_W * held_s, rel=0.02)
    assert dram == pytest.approx(DRAM_W * held_s, rel=0.02)
    for r, d in zip(runs, node):  # each share: its held time, give or take ~40 ms of a
        # loaded machine's scheduling between a read and the clock read beside it
        assert r["energy_j"]["cpu"] == pytest.approx(PACKAGE_W * d["measured_s"], rel=0.02, abs=1.5)
    assert not any(r["warnings"] for r in runs if "ended without handing over" in str(r))
    assert not list((tmp_path / "jobs").glob("*/")), "the last rank removes the node directory"


def test_gpus_bound_to_a_rank_are_its_own_and_a_shared_gpu_counts_once(gm_env, tmp_path, fake_lib):
    out = tmp_path / "greenmeter-runs"  # each rank's default report: <run_id>.json
    powers = {0: 100.0, 1: 200.0, 2: 300.0}
    env = {
        **gm_env,
        "LD_LIBRARY_PATH": str(fake_lib),
        "FAKE_NVML_GPUS": "3",
        **{f"FAKE_NVML_GPU{i}_PROFILE": f"const:{w}" for i, w in powers.items()},
        "GREENMETER_JOBS_DIR": str(tmp_path / "jobs"),
    }
    # Ranks 0 and 1 each own a GPU; ranks 2 and 3 both see GPU 2 (by UUID, once).
    proc = subprocess.run(
        [PY, FAKE_TORCHRUN, "--nproc-per-node", "4", "--run-id", "job-g",
         "--rank-env", "CUDA_VISIBLE_DEVICES=0,1,2,GPU-fa4e0000-0000-0000-0000-000000000002",
         "--no-python", *GREENMETER, "--", *sleeper(0.8, 0.8, 0.6, 1.4)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = load_reports(out)
    uuid = [f"gpu GPU-fa4e0000-0000-0000-0000-00000000000{i}" for i in range(3)]
    for rank in (0, 1):
        own = device(runs[rank], uuid[rank])
        assert own["meter_at_start"] and own["measured_by"] is None
        assert own["measured_s"] == pytest.approx(runs[rank]["duration_s"], abs=0.05)
        assert runs[rank]["energy_j"]["gpu"] == pytest.approx(
            powers[rank] * own["measured_s"], rel=0.02
        )
        assert [d["device"] for d in runs[rank]["job"]["devices"]] == [uuid[rank]]
    shared = [device(runs[rank], uuid[2]) for rank in (2, 3)]
    assert sum(d["meter_at_start"] for d in shared) == 1
    intervals = [iv for d in shared for iv in d["intervals"]]
    assert sum(b - a for a, b in intervals) == pytest.approx(union_s(intervals), abs=0.01)
    assert_covers(runs[2:], uuid[2])
    gpu2 = runs[2]["energy_j"]["gpu"] + runs[3]["energy_j"]["gpu"]
    assert gpu2 == pytest.approx(powers[2] * union_s(intervals), rel=0.02)  # once, not twice


def test_a_killed_meter_is_reported_by_the_ranks_that_outlive_it(gm_env, tmp_path, shm_tree):
    out = tmp_path / "greenmeter-runs"  # each rank's default report: <run_id>.json
    jobs = tmp_path / "jobs"
    env = {
        **gm_env,
        "GREENMETER_POWERCAP_ROOT": str(shm_tree.root),
        "GREENMETER_JOBS_DIR": str(jobs),
    }

    # Three ranks started side by side with torchrun's variables (torchrun itself would
    # SIGTERM the survivors as soon as one worker dies, leaving nothing to take over).
    def rank(r: int) -> subprocess.Popen:
        torchrun_env = {"TORCHELASTIC_RUN_ID": "job-k", "RANK": str(r), "LOCAL_RANK": str(r)}
        return subprocess.Popen(
            [*GREENMETER, "--", *sleeper(2.5, 2.5, 2.5)],
            env={**env, **torchrun_env, "WORLD_SIZE": "3", "LOCAL_WORLD_SIZE": "3"},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    ranks = [rank(r) for r in range(3)]
    state = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = list(jobs.glob("*/node.json"))
        if found and len(list(out.glob("*.json"))) == 3:  # every rank has checkpointed
            state = json.loads(found[0].read_text())
            break
        time.sleep(0.05)
    assert state is not None and state["state"] == "measuring"
    os.kill(state["pid"], signal.SIGKILL)
    codes = sorted(rank.wait(timeout=60) for rank in ranks)
    assert codes == [-signal.SIGKILL, 0, 0]  # the survivors' commands ran to their end
    runs = [json.loads(p.read_text()) for p in out.glob("*.json")]
    dead = next(r for r in runs if r["run_id"] == state["run_id"])
    assert dead["partial"] and dead["job"]["node_meter"]
    ((taken, checkpointed),) = device(dead, "node")["intervals"]  # up to its last checkpoint
    assert checkpointed > taken and dead["energy_j"]["cpu"] > 0
    alive = [r for r in runs if not r["partial"]]
    assert len(alive) == 2
    for r in alive:
        (lost,) = r["job"]["lost_meters"]
        assert lost["run_id"] == state["run_id"] and lost["device"] == "node"
        assert any("ended without handing over" in w for w in r["warnings"])
    # Someone took over at once: the node was measured on after the kill.
    takers = [device(r, "node") for r in alive if device(r, "node")["measured_s"] > 0]
    assert takers
    took_over = min(iv[0] for d in takers for iv in d["intervals"])
    assert took_over - lost["detected_at"] < 0.2  # what one read and a state file take, loaded


def test_one_meter_over_the_launcher_measures_the_node_as_before(greenmeter, tmp_path, shm_tree):
    proc = greenmeter(
        "run", "-q", "--json", "r.json", "--",
        PY, FAKE_TORCHRUN, "--nproc-per-node", "3", "--no-python", *sleeper(1.0, 1.0, 1.0),
        env={"GREENMETER_POWERCAP_ROOT": str(shm_tree.root)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["job"] is None  # not a rank: greenmeter is outside the launcher
    covered_s = next(c for c in report["components"] if c["kind"] == "cpu")["covered_s"]
    assert report["energy_j"]["cpu"] == pytest.approx(PACKAGE_W * covered_s, rel=0.02)
    assert report["energy_j"]["dram"] == pytest.approx(DRAM_W * covered_s, rel=0.02)
