"""Jobs across nodes (issue 13): what coordination adds to a rank's start-up, and how long
summing a job of 1,000 node reports takes.

1. Start-up. ``greenmeter run -q -- true`` over a fake powercap tree (so the node has a
   device to elect a meter for), interleaved rounds, medians: outside any job; as a SLURM
   rank that becomes its node's meter; as a rank whose node already has a meter (another
   process holds the lock: the rank leaves a waiting thread). Then the coordination alone,
   in this process: ``NodeMeter.join()`` + ``leave()`` + ``close()`` on both paths.
2. Summing. A job of 1,000 nodes, one JSON report each (and the same as one CSV history):
   ``greenmeter report --job ID`` and ``report --group-by job,node``, medians of 3, Python
   start-up and pandas included as a user sees them.

    python3 benchmarks/jobs.py [--runs 15] [--nodes 1000]

Targets: coordination adds under 50 ms to a rank's start-up; summing 1,000 node reports
takes under 2 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import GREENMETER, REPO, describe, greenmeter_env

sys.path[:0] = [str(REPO), str(REPO / "tests")]

from greenmeter.reports.csv_row import COLUMNS, report_row  # noqa: E402
from greenmeter.run.jobs.launcher import detect_job  # noqa: E402
from greenmeter.run.jobs.node_meter import NodeMeter, node_directory  # noqa: E402
from greenmeter.sensors import rapl  # noqa: E402

from powercap_tree import PowercapTree  # noqa: E402  (tests/ helper: kernel-like trees)

SLURM = {
    "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURMD_NODENAME": "bench",
    "SLURM_PROCID": "1", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8", "SLURM_NODEID": "0",
}  # fmt: skip


def run_once(env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*GREENMETER, "run", "-q", "--json", "r.json", "--csv", "r.csv", "--", "true"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return elapsed


def hold_node_lock(jobs_dir: Path) -> subprocess.Popen:
    """A process that holds the node's meter lock, as a running meter rank would."""
    identity = detect_job(SLURM, "bench")
    directory = node_directory(identity, jobs_dir)
    code = (
        "import fcntl, os, sys, pathlib\n"
        f"d = pathlib.Path({str(directory)!r}); d.mkdir(parents=True, exist_ok=True)\n"
        "fd = os.open(d / 'node.lock', os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "p = os.open(d / 'presence.lock', os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(p, fcntl.LOCK_SH)\n"
        "print('held', flush=True); sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def startup(runs: int, tree_root: Path, tmp: Path) -> None:
    jobs_dir = tmp / "jobs"
    base = greenmeter_env(GREENMETER_POWERCAP_ROOT=str(tree_root))
    cases = {
        "outside a job": base,
        "SLURM rank, node meter": {**base, **SLURM, "GREENMETER_JOBS_DIR": str(jobs_dir)},
        "SLURM rank, node already metered": {
            **base,
            **SLURM,
            "GREENMETER_JOBS_DIR": str(jobs_dir / "held"),
        },
    }
    holder = hold_node_lock(jobs_dir / "held")
    try:
        for env in cases.values():  # warm-up: bytecode, file cache
            run_once(env, str(tmp))
        times: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for i in range(runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                times[name].append(run_once(cases[name], str(tmp)))
    finally:
        holder.stdin.close()
        holder.wait()
    plain = statistics.median(times["outside a job"])
    print("| `greenmeter run -q -- true` | median | vs outside a job |")
    print("| --- | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.0f} ms | {(median - plain) * 1000:+.0f} ms |")
    print()


def coordination_alone(tree_root: Path, tmp: Path, rounds: int = 200) -> None:
    """join + leave + close of a NodeMeter with the RAPL sensor of the fake tree."""
    sensor = rapl.open_rapl(str(tree_root))
    identity = detect_job(SLURM, "bench")
    rows = []
    for label, jobs_dir in (("node meter", tmp / "alone"), ("node already metered", tmp / "held2")):
        holder = hold_node_lock(jobs_dir) if "already" in label else None
        os.environ["GREENMETER_JOBS_DIR"] = str(jobs_dir)
        try:
            samples = []
            for i in range(rounds):
                meter = NodeMeter(identity, f"run-{i}", [sensor])
                started = time.perf_counter()
                meter.join()
                joined = time.perf_counter()
                meter.leave()
                meter.close()
                samples.append((joined - started, time.perf_counter() - started))
        finally:
            if holder is not None:
                holder.stdin.close()
                holder.wait()
        rows.append(
            (
                label,
                statistics.median(s[0] for s in samples),
                statistics.median(s[1] for s in samples),
            )
        )
    print("| coordination in-process | join (median) | join + leave + close (median) |")
    print("| --- | ---: | ---: |")
    for label, join_s, all_s in rows:
        print(f"| {label} | {join_s * 1e3:.2f} ms | {all_s * 1e3:.2f} ms |")
    print()


def node_report(i: int, job: str) -> dict:
    start = 1_780_000_000.0 + (i % 7) * 0.01
    energy = 3600.0 * (100 + i % 50)
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + ".000Z"
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + 3600)) + ".000Z"
    return {
        "schema_version": 1,
        "run_id": f"20260601T000000Z-{i:08x}",
        "greenmeter_version": "0.1.0",
        "command": ["python", "train.py", "--config", "big.yaml"],
        "exit_code": 0,
        "interrupted": False,
        "partial": False,
        "started_at": iso,
        "ended_at": end,
        "duration_s": 3600.0,
        "host": {"hostname": f"node{i:04d}", "os": "Linux", "python": "3.11", "cpu_model": "x"},
        "energy_j": {"total": energy * 9, "cpu": energy, "gpu": energy * 8, "dram": None},
        "components": [
            {"kind": "cpu", "name": "package-0", "method": "measured", "counted": True},
            *(
                {"kind": "gpu", "name": "H100", "method": "measured", "counted": True}
                for _ in range(8)
            ),
        ],
        "carbon": {"region": "DE", "zone_id": "DEU", "co2_g": energy * 9 / 3.6e6 * 360,
                   "energy_kwh": energy * 9 / 3.6e6, "intensity_g_per_kwh": 360.0, "pue": 1.1},
        "warnings": [],
        "tags": {},
        "ci": None,
        "job": {
            "launcher": "slurm+torchrun", "job_id": job, "step_id": "0", "node": f"node{i:04d}",
            "rank": i * 8, "local_rank": 0, "world_size": 8000, "node_meter": True,
            "measured_by": None, "path": "measured", "lost_meters": [],
            "devices": [
                {"device": "node", "energy_j": energy, "intervals": [[start, start + 3600]]},
                *(
                    {"device": f"gpu GPU-{i:08x}-0000-0000-0000-{g:012x}", "energy_j": energy,
                     "intervals": [[start, start + 3600]]}
                    for g in range(8)
                ),
            ],
        },
    }  # fmt: skip


def summing(nodes: int, tmp: Path, rounds: int = 5) -> None:
    reports = tmp / "reports"
    reports.mkdir()
    rows = []
    for i in range(nodes):
        report = node_report(i, "4242")
        (reports / f"{report['run_id']}.json").write_text(json.dumps(report))
        rows.append(report_row(report))
    history = tmp / "job.csv"
    with open(history, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    env = greenmeter_env()
    cases = {
        f"--job 4242 over {nodes:,} JSON reports": [str(reports), "--job", "4242"],
        f"--group-by job,node over {nodes:,} JSON reports": [
            str(reports),
            "--group-by",
            "job,node",
        ],
        f"--job 4242 over a {nodes:,}-row CSV": [str(history), "--job", "4242"],
        "(pandas' import alone: `python -c 'import pandas'`)": None,
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for i in range(rounds + 1):  # the first round warms the file cache and bytecode
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            argv = (
                [sys.executable, "-c", "import pandas"]
                if cases[name] is None
                else [*GREENMETER, "report", *cases[name], "--format", "csv"]
            )
            done = subprocess.run(
                argv,
                env=env,
                capture_output=True,
                text=True,
            )
            if i:
                times[name].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
    print(f"| `greenmeter report` ({nodes:,} nodes x 9 devices) | median of {rounds} |")
    print("| --- | ---: |")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} s |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed start-up rounds")
    parser.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args()
    print(describe())
    print()
    with tempfile.TemporaryDirectory(prefix="gm-bench-jobs-") as tmp_name:
        tmp = Path(tmp_name)
        tree = PowercapTree(tmp / "tree")
        tree.add_zone("intel-rapl:0", "package-0", 1_000_000)
        tree.add_zone("intel-rapl:0:0", "dram", 1_000_000)
        startup(args.runs, tree.root, tmp)
        coordination_alone(tree.root, tmp)
        summing(args.nodes, tmp)


if __name__ == "__main__":
    main()
