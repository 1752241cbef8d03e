"""What the findings cost at the end of a run: ``analyse()`` over the largest timeline a
run keeps (1,000 points) with 1 and 8 GPUs, and the tail read of a CSV history for
``regression`` (100,000 rows, of which only the last 2 MiB is read).

    python benchmarks/findings_cost.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from greenmeter.carbon.footprint import CarbonOptions, footprint
from greenmeter.carbon.regions import resolve_region
from greenmeter.findings.analyse import analyse
from greenmeter.reports.csv_row import COLUMNS
from greenmeter.results import ActivityChannel, ComponentResult, RunLabels, RunResult
from greenmeter.run.own_history import prior_j_per_unit

from machine import describe

GAUGES = (
    "gpu_util_pct",
    "gpu_memory_used_mib",
    "gpu_power_capped",
    "gpu_thermal",
    "gpu_idle_clocks",
)
COMMAND = ["python", "train.py"]


def result(gpus: int, points: int = 1000) -> RunResult:
    """A run whose GPUs idle in its first and last tenth and stall every 50 points."""
    timeline, activity = [], []
    energy = [0.0] * gpus
    gauges = [0.0] * (gpus * len(GAUGES) + 2)
    for k in range(points):
        busy = points // 10 < k < points - points // 10 and k % 50 > 5
        if k:
            for g in range(gpus):
                energy[g] += 300.0 if busy else 60.0
                base = g * len(GAUGES)
                gauges[base] += 95.0 if busy else 0.0
                gauges[base + 1] += 40000.0
                gauges[base + 2] += 1.0 if busy else 0.0
            gauges[-2] += 1.0
            gauges[-1] += 2000.0
        timeline.append((float(k), list(energy)))
        activity.append((float(k), list(gauges)))
    details = {"peak_memory_used_mib": 40000.0, "memory_total_mib": 81920.0}
    comps = [
        ComponentResult("gpu", "H100", g, "nvml-energy", "measured", True, energy[g], None,
                        points, False, points - 1.0, details)
        for g in range(gpus)
    ]  # fmt: skip
    carbon, _ = footprint(CarbonOptions(resolve_region("DE")), sum(energy), [], [], 0.0)
    channels = [ActivityChannel(q, g) for g in range(gpus) for q in GAUGES]
    channels += [ActivityChannel("cpu_busy_cores", None), ActivityChannel("rss_mib", None)]
    now = datetime.now(timezone.utc)
    return RunResult(
        labels=RunLabels("bench", COMMAND), exit_code=0, interrupted=False, started_at=now,
        ended_at=now, duration_s=points - 1.0, host={}, components=comps, carbon=carbon,
        warnings=[], timeline=timeline, channels=channels, activity=activity,
    )  # fmt: skip


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(describe())
    rows = []
    for gpus in (1, 8):
        run = result(gpus)
        found = len(analyse(run))
        ms = median_ms(lambda run=run: analyse(run), args.repeat)
        rows.append((f"analyse(), 1,000 points, {gpus} GPU(s), {found} findings", ms))
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "runs.csv"
        row = dict.fromkeys(COLUMNS, "")
        row.update(
            command=json.dumps(COMMAND), exit_code="0", partial="False",
            energy_j_per_unit="1.0", run_id="x", started_at="2025-01-01T00:00:00Z",
        )  # fmt: skip
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writerow(row)
        history.write_text(",".join(COLUMNS) + "\n" + buffer.getvalue() * 100_000)
        labels = RunLabels("y", COMMAND)
        size_mb = history.stat().st_size / 1e6
        for limit in (10, 10_000_000):
            found = len(prior_j_per_unit(history, labels, None, limit))
            ms = median_ms(
                lambda limit=limit: prior_j_per_unit(history, labels, None, limit), args.repeat
            )
            what = "the last 10 runs" if limit == 10 else f"every run in the tail ({found:,})"
            rows.append((f"regression's history, {size_mb:.0f} MB CSV: {what}", ms))
    print("\n| what | median ms |\n| --- | ---: |")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
