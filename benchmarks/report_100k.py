"""How long ``greenmeter report`` takes on a 100,000-run history.

Generates a realistic CSV history (every column ``greenmeter run`` writes; 20 commands,
tags, branches, hosts, regions, a few repeat groups), then times the real command in a
subprocess (Python start-up and imports included, as a user sees it), a few repetitions
each, and prints the median per case. Run from the repository root:

    python3 benchmarks/report_100k.py [--runs 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from greenmeter.reports.csv_row import COLUMNS  # noqa: E402


def generate_history(path: Path, runs: int, seed: int = 6) -> None:
    rng = random.Random(seed)
    commands = [
        json.dumps(["python", f"train_{i}.py", "--epochs", str(i % 5 + 1)]) for i in range(20)
    ]
    branches = ["main", "feature-a", "feature-b", "fix-io"]
    hosts = [f"runner-{i}" for i in range(8)]
    regions = [("DE", "DEU", 342.06), ("FR", "FRA", 56.0), ("", "WORLD", 472.94)]
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for i in range(runs):
            began = start + timedelta(seconds=30 * i)
            duration = rng.uniform(1, 600)
            cpu = duration * rng.uniform(5, 60)
            dram = duration * rng.uniform(0.5, 3)
            total = cpu + dram
            region, zone, intensity = regions[i % 3]
            units = rng.choice(["", 1000 * (i % 7 + 1)])
            co2 = total / 3.6e6 * intensity
            writer.writerow(
                {
                    "run_id": f"{began:%Y%m%dT%H%M%SZ}-{i:08x}",
                    "started_at": began.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "ended_at": (began + timedelta(seconds=duration))
                    .isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
                    "duration_s": round(duration, 6),
                    "command": commands[i % 20],
                    "exit_code": 0 if rng.random() > 0.05 else 1,
                    "interrupted": False,
                    "partial": False,
                    "hostname": hosts[i % 8],
                    "energy_total_j": round(total, 6),
                    "energy_cpu_j": round(cpu, 6),
                    "energy_gpu_j": "",
                    "energy_dram_j": round(dram, 6),
                    "cpu_method": "estimated",
                    "gpu_method": "",
                    "dram_method": "estimated",
                    "region": region,
                    "zone_id": zone,
                    "intensity_g_per_kwh": intensity,
                    "intensity_source": "ember",
                    "intensity_year": 2024,
                    "basis": "lifecycle",
                    "pue": 1.0,
                    "energy_kwh": total / 3.6e6,
                    "co2_g": round(co2, 9),
                    "greenmeter_version": "0.1.0",
                    "tags": json.dumps({"model": f"m{i % 4}", "team": "ml"}, sort_keys=True),
                    "git_commit": f"{i // 50:040x}",
                    "git_branch": branches[i % 4],
                    "ci_provider": "github",
                    "ci_job": "test",
                    "ci_run_id": str(1000 + i // 10),
                    "ci_runner": hosts[i % 8],
                    "units": units,
                    "unit_name": "samples" if units else "",
                    "energy_j_per_unit": total / units if units else "",
                    "co2_g_per_unit": co2 / units if units else "",
                    "repeat_group": f"{i // 5:012x}" if i % 10 < 5 else "",
                    "repetition": i % 5 + 1 if i % 10 < 5 else "",
                    "budget_exceeded": "",
                }
            )


CASES = {
    "all runs, table": [],
    "--group-by branch": ["--group-by", "branch"],
    "--group-by command,tag:model": ["--group-by", "command,tag:model"],
    "--group-by day --since 2025-01-10": ["--group-by", "day", "--since", "2025-01-10"],
    "--group-by run (100k rows out)": ["--group-by", "run", "--format", "csv"],
}


def time_report(history: Path, args: list[str], repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "greenmeter",
                "report",
                str(history),
                "--format",
                "table",
                *args,
            ],
            env=env,
            capture_output=True,
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"greenmeter report {' '.join(args)} failed:\n{proc.stderr.decode()}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "runs.csv"
        generate_history(history, args.runs)
        size_mb = history.stat().st_size / 1e6
        baseline = time_report_startup(args.repeat)
        print(
            f"greenmeter report on {args.runs:,} runs ({size_mb:.1f} MB CSV), "
            f"median of {args.repeat}, wall clock including Python start-up; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
        )
        print(f"{'case':<40} {'median s':>9}")
        floor = "python -c 'import pandas' (floor)"
        print(f"{floor:<40} {baseline:>9.2f}")
        for name, case_args in CASES.items():
            print(f"{name:<40} {time_report(history, case_args, args.repeat):>9.2f}")


def time_report_startup(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import pandas"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


if __name__ == "__main__":
    main()
