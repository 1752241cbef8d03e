"""What marking costs the measured program: ``import greenmeter``, and one call of
``greenmeter.phase`` (enter + exit) or ``greenmeter.add_units``, inside ``greenmeter
run`` and outside any run.

    python benchmarks/marks_overhead.py [--rounds 15] [--calls 20000]

Import: ``import greenmeter`` timed inside fresh interpreters (median, max), and
``-X importtime``'s own figure for greenmeter's modules.
Calls: each call timed on its own with ``perf_counter_ns`` (p50, p99, mean), in a script
run under ``greenmeter run`` (every mark goes through the control FIFO and greenmeter
reads the sensors for it) and outside (the variable unset: nothing is sent).

Targets (issue 14): import at most 5 ms; a call at most 20 us.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import GREENMETER, describe, greenmeter_env

CALLS = r"""
import json, sys, time
import greenmeter

n = int(sys.argv[1])
perf = time.perf_counter_ns

def timed(fn):
    out = []
    for _ in range(n):
        t0 = perf()
        fn()
        out.append(perf() - t0)
    return out

def a_phase():
    with greenmeter.phase("step"):
        pass

def units():
    greenmeter.add_units(512, "tokens")

def nothing():
    pass

with greenmeter.phase("bench"):
    figures = {"phase (enter + exit)": timed(a_phase), "add_units": timed(units),
               "empty call (timer floor)": timed(nothing)}
print(json.dumps(figures))
"""


def percentile_us(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] / 1000


IMPORT = (
    "import time; t = time.perf_counter(); import greenmeter; greenmeter.phase; "
    "greenmeter.add_units; print(time.perf_counter() - t)"
)


def import_times(rounds: int, env: dict[str, str]) -> list[float]:
    """Seconds of ``import greenmeter`` (and the first use of ``phase`` and
    ``add_units``) timed inside fresh interpreters: the import alone, not the
    interpreter's start-up, which on a loaded machine varies by far more."""
    out = []
    for i in range(rounds + 2):
        done = subprocess.run(
            [sys.executable, "-c", IMPORT], env=env, capture_output=True, text=True, check=True
        )
        if i >= 2:  # two warm-up rounds (bytecode written, files cached)
            out.append(float(done.stdout))
    return out


def importtime_us(env: dict[str, str]) -> int:
    """-X importtime's cumulative microseconds of greenmeter and greenmeter.marks."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import greenmeter; greenmeter.phase"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] in ("greenmeter", "greenmeter.marks"):
            total += int(parts[0].split()[-1])  # self time
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    env = greenmeter_env()
    print(describe())
    print()
    times = import_times(args.rounds, env)
    print(f"Import, {args.rounds} fresh interpreters\n")
    print("| figure | median | max |")
    print("| --- | ---: | ---: |")
    print(
        f"| `import greenmeter` + first `phase`, `add_units` | "
        f"{statistics.median(times) * 1000:.2f} ms | {max(times) * 1000:.2f} ms |"
    )
    print(
        f"\n`-X importtime`, greenmeter's own modules (self time): {importtime_us(env) / 1000:.2f} ms\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "calls.py"
        script.write_text(CALLS)
        inside = subprocess.run(
            [*GREENMETER, "run", "-q", "--json", f"{tmp}/r.json", "--csv", f"{tmp}/r.csv", "--",
             sys.executable, str(script), str(args.calls)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        outside = subprocess.run(
            [sys.executable, str(script), str(args.calls)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(Path(f"{tmp}/r.json").read_text())
    print(f"One call, {args.calls:,} calls each, timed one by one\n")
    print("| call | where | p50 | p99 | mean |")
    print("| --- | --- | ---: | ---: | ---: |")
    for where, done in (("inside `greenmeter run`", inside), ("outside any run", outside)):
        for name, values in json.loads(done.stdout).items():
            mean = statistics.fmean(values) / 1000
            p50, p99 = percentile_us(values, 50), percentile_us(values, 99)
            print(f"| {name} | {where} | {p50:.2f} us | {p99:.2f} us | {mean:.2f} us |")
    phases = report["phases"]
    step = next(p for p in phases["list"] if p["name"] == "step")
    print(
        f"\ngreenmeter read {phases['marks']:,} marks; `step` counted {step['count']:,} "
        f"occurrences; report {len(json.dumps(report)) / 1000:.0f} kB; longest lag from a "
        f"mark's stamp to greenmeter's read: {phases['max_lag_s'] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
