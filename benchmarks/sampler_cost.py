"""What greenmeter itself costs while a command runs: CPU used by greenmeter's process
while the command sleeps, at the default interval and at 10 ms (and CodeCarbon 3.3.2's
``codecarbon monitor`` for comparison).

Two figures per configuration:

- steady state: CPU time of all of greenmeter's threads (``/proc/PID/task/*/schedstat``,
  nanoseconds) between 20 % and 90 % of the run, as a percentage of one core. This is
  the sampling cost, start-up and the final report excluded.
- whole run: ``wait4``'s user + system CPU seconds for greenmeter and its command
  (``sleep``, which uses about a millisecond), start-up and report included.

    python benchmarks/sampler_cost.py [--seconds 30] [--codecarbon-venv DIR | --no-codecarbon]
                                      [--prometheus]

``--prometheus`` adds a run serving live metrics (``--prometheus-port 0``: the endpoint's
refresh after each timeline point, no scraper) and one writing the textfile at a
checkpoint every second.

Target (issue 8): well under 1 % of one core at the default interval.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from machine import GREENMETER, codecarbon_venv, describe, greenmeter_env


def thread_cpu_s(pid: int) -> float:
    """CPU seconds of every live thread of ``pid`` (schedstat: ns; else stat: ticks)."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0]) / 1e9
        except FileNotFoundError:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def measure(argv: list[str], seconds: float, env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(steady-state % of one core, whole-run CPU seconds)."""
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    time.sleep(0.2 * seconds)
    cpu_a, t_a = thread_cpu_s(proc.pid), time.monotonic()
    time.sleep(max(0.0, started + 0.9 * seconds - time.monotonic()))
    cpu_b, t_b = thread_cpu_s(proc.pid), time.monotonic()
    _, status, rusage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed")
    return 100 * (cpu_b - cpu_a) / (t_b - t_a), rusage.ru_utime + rusage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the command sleeps")
    parser.add_argument("--codecarbon-venv", type=Path, help="reuse (or create) this venv")
    parser.add_argument("--no-codecarbon", action="store_true")
    parser.add_argument("--prometheus", action="store_true", help="also the Prometheus options")
    args = parser.parse_args()

    print(describe())
    s = f"{args.seconds:g}"
    configs = {
        f"greenmeter run -q -- sleep {s} (default interval, 0.5 s)": [
            *GREENMETER,
            "run",
            "-q",
            "--",
            "sleep",
            s,
        ],
        f"greenmeter run -q --interval 0.01 -- sleep {s}": [
            *GREENMETER,
            "run",
            "-q",
            "--interval",
            "0.01",
            "--",
            "sleep",
            s,
        ],
    }
    if args.prometheus:
        configs[f"greenmeter run -q --prometheus-port 0 -- sleep {s}"] = [
            *GREENMETER, "run", "-q", "--prometheus-port", "0", "--", "sleep", s,
        ]  # fmt: skip
        configs[
            f"greenmeter run -q --prometheus-textfile m.prom --checkpoint-interval 1 -- sleep {s}"
        ] = [
            *GREENMETER, "run", "-q", "--prometheus-textfile", "m.prom",
            "--checkpoint-interval", "1", "--", "sleep", s,
        ]  # fmt: skip
    if not args.no_codecarbon:
        bin_dir = codecarbon_venv(args.codecarbon_venv)
        if bin_dir is not None:
            configs[f"codecarbon monitor --offline --country-iso-code USA -- sleep {s}"] = [
                str(bin_dir / "codecarbon"),
                "monitor",
                "--offline",
                "--country-iso-code",
                "USA",
                "--",
                "sleep",
                s,
            ]
    env = greenmeter_env()
    rows = []
    with tempfile.TemporaryDirectory() as cwd:
        subprocess.run([*GREENMETER, "run", "-q", "--", "true"], env=env, cwd=cwd)  # bytecode
        for name, argv in configs.items():
            steady_pct, total_s = measure(argv, args.seconds, env, cwd)
            rows.append((name, steady_pct, total_s))

    print(f"\nCPU used by the wrapper while the command sleeps {s} s\n")
    print("| configuration | steady state, % of one core | whole run, CPU s |")
    print("| --- | ---: | ---: |")
    for name, pct, total in rows:
        print(f"| `{name}` | {pct:.3f} % | {total:.3f} |")
    default_pct = rows[0][1]
    print(
        f"\ngreenmeter at the default interval: {default_pct:.3f} % of one core "
        f"(target: well under 1 %) {'MET' if default_pct < 0.5 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
