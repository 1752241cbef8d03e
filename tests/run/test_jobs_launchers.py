"""Which job, node and rank a run is, read from its launcher's environment (or --job and
--node), as its report records it; and the estimate path, where each rank's estimate is
its own."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from conftest import REPO, read_report

PY = sys.executable
FAKE_TORCHRUN = str(REPO / "tests" / "fake_torchrun.py")

CASES = {
    "mpich": (
        {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"},
        [],
        {"launcher": "mpich", "job_id_source": "launcher-pid", "step_id": None, "rank": 3,
         "local_rank": 1, "world_size": 4, "local_world_size": 2, "node_rank": None},
    ),
    "openmpi": (
        {"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
         "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "PMIX_NAMESPACE": "ns9"},
        [],
        {"launcher": "openmpi", "job_id": "ns9", "job_id_source": "PMIX_NAMESPACE", "rank": 2,
         "local_rank": 0, "world_size": 4, "local_world_size": 2},
    ),
    "torchrun inside srun": (
        {"SLURM_JOB_ID": "77", "SLURM_STEP_ID": "3", "SLURMD_NODENAME": "nodeA",
         "SLURM_PROCID": "1", "SLURM_LOCALID": "0", "SLURM_NTASKS": "2", "SLURM_NODEID": "1",
         "TORCHELASTIC_RUN_ID": "none", "RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8",
         "LOCAL_WORLD_SIZE": "4", "GROUP_RANK": "1"},
        [],
        {"launcher": "slurm+torchrun", "job_id": "77", "job_id_source": "SLURM_JOB_ID",
         "step_id": "3", "node": "nodeA", "rank": 5, "local_rank": 1, "world_size": 8,
         "local_world_size": 4, "node_rank": 1},
    ),
    "options name the job": (
        {},
        ["--job", "nightly-7", "--node", "rack2-b"],
        {"launcher": "manual", "job_id": "nightly-7", "job_id_source": "--job",
         "node": "rack2-b", "rank": None},
    ),
    "options override a launcher": (
        {"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "1"},
        ["--job", "j1"],
        {"launcher": "openmpi", "job_id": "j1", "node": socket.gethostname()},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_the_launchers_environment_names_the_job_node_and_rank(greenmeter, tmp_path, case):
    env, options, expected = CASES[case]
    proc = greenmeter(
        "run", "-q", "--json", "r.json", *options, "--", "true",
        env={**env, "GREENMETER_JOBS_DIR": str(tmp_path / "jobs")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    job = read_report(tmp_path / "r.json")["job"]
    assert {k: job[k] for k in expected} == expected
    if expected["launcher"] == "mpich":  # Hydra gives no job id: the launcher's pid does
        assert job["job_id"] == f"mpich-{socket.gethostname()}-{os.getpid()}"


def test_no_launcher_or_no_job_means_no_job(greenmeter, tmp_path):
    plain = greenmeter("run", "-q", "--json", "a.json", "--", "true")
    ignored = greenmeter(
        "run", "-q", "--json", "b.json", "--no-job", "--", "true",
        env={"SLURM_JOB_ID": "5", "SLURM_PROCID": "0"},
    )  # fmt: skip
    assert plain.returncode == ignored.returncode == 0
    assert read_report(tmp_path / "a.json")["job"] is None
    assert read_report(tmp_path / "b.json")["job"] is None


def test_without_rapl_each_ranks_estimate_is_its_own(gm_env, tmp_path):
    import subprocess

    burn = (
        "import os, time\n"
        "end = time.process_time() + float(os.environ['BURN_S'])\n"
        "while time.process_time() < end: pass\n"
    )
    proc = subprocess.run(
        [PY, FAKE_TORCHRUN, "--nproc-per-node", "2", "--run-id", "est",
         "--rank-env", "BURN_S=0.2,0.8", "--no-python",
         PY, "-m", "greenmeter", "run", "-q", "--", PY, "-c", burn],
        env={**gm_env, "GREENMETER_JOBS_DIR": str(tmp_path / "jobs")},
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = sorted(
        (read_report(p) for p in (tmp_path / "greenmeter-runs").glob("*.json")),
        key=lambda r: r["job"]["rank"],
    )
    assert [r["job"]["path"] for r in runs] == ["estimated", "estimated"]
    assert [r["job"]["devices"] for r in runs] == [[], []]  # nothing shared to elect for
    cpu_s = [
        next(c for c in r["components"] if c["kind"] == "cpu")["details"]["cpu_s"] for r in runs
    ]
    # Each rank's process tree only: its own burn (plus Python's start), not the other's.
    assert cpu_s[0] == pytest.approx(0.2, abs=0.15)
    assert cpu_s[1] == pytest.approx(0.8, abs=0.15)


def test_without_a_usable_node_directory_a_rank_measures_alone_and_says_so(greenmeter, tmp_path):
    from powercap_tree import PowercapTree, single_socket

    tree = PowercapTree(tmp_path / "tree")
    single_socket(tree)
    (tmp_path / "not-a-dir").write_text("")
    proc = greenmeter(
        "run", "-q", "--json", "r.json", "--", "true",
        env={"SLURM_JOB_ID": "8", "SLURM_PROCID": "0", "GREENMETER_POWERCAP_ROOT": str(tree.root),
             "GREENMETER_JOBS_DIR": str(tmp_path / "not-a-dir" / "jobs")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    job = report["job"]
    assert job["node_meter"] is True and job["devices"][0]["measured_s"] > 0
    assert job["coordination"].startswith("job coordination unavailable")
    assert any("as if it were alone on the node" in w for w in report["warnings"])
    assert "as if it were alone on the node" in proc.stderr.decode()
