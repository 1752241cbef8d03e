"""``mpirun -np 4 greenmeter run -- ...`` with Debian's Open MPI: four ranks on one node,
the node measured once. mpirun listens on the machine's interfaces, so it runs in a
network namespace with loopback only (and is told to use it:
/work/shared/notes/real-services.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO
from job_reports import assert_covers, device, load_reports, measured_union_s
from powercap_tree import PowercapTree, spawn_driver, stop_driver

PY = sys.executable
JOB_RANK = str(REPO / "tests" / "job_rank.py")
PACKAGE_W = 45.0

pytestmark = pytest.mark.skipif(
    shutil.which("mpirun") is None or shutil.which("unshare") is None,
    reason="Open MPI (openmpi-bin) or unshare is not installed",
)


def test_mpirun_ranks_measure_their_node_once(gm_env, tmp_path):
    base = Path(
        tempfile.mkdtemp(prefix="gm-mpi-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    tree = PowercapTree(base)
    tree.add_zone("intel-rapl:0", "package-0", 1_000_000_000)
    driver = spawn_driver(tree, {"intel-rapl:0": PACKAGE_W})
    env = {
        **gm_env,
        "GREENMETER_POWERCAP_ROOT": str(tree.root),
        "GREENMETER_JOBS_DIR": str(tmp_path / "jobs"),
    }
    mpirun = (
        "ip link set lo up && exec mpirun --allow-run-as-root --oversubscribe -np 4 "
        "--mca oob_tcp_if_include lo --mca btl_tcp_if_include lo --mca btl self,tcp "
        f"{PY} -m greenmeter run -q -- {PY} {JOB_RANK} handover 4"
    )
    try:
        proc = subprocess.run(
            ["unshare", "--net", "sh", "-c", mpirun],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop_driver(driver)
        shutil.rmtree(base, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    runs = load_reports(tmp_path / "greenmeter-runs")
    assert [r["job"]["rank"] for r in runs] == [0, 1, 2, 3]
    assert all(r["job"]["launcher"] == "openmpi" for r in runs)
    assert len({r["job"]["job_id"] for r in runs}) == 1
    assert runs[0]["job"]["job_id_source"] == "OMPI_MCA_ess_base_jobid"
    assert sorted(r["job"]["local_rank"] for r in runs) == [0, 1, 2, 3]
    assert sum(bool(r["job"]["node_meter"]) for r in runs) == 1
    assert sum(device(r, "node")["measured_s"] > 0 for r in runs) >= 2  # handed over
    total = sum(r["energy_j"]["cpu"] for r in runs)
    assert total == pytest.approx(PACKAGE_W * measured_union_s(runs), rel=0.02)
    assert_covers(runs)
