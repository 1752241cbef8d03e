"""Peak memory (RSS) of greenmeter while it measures a command, against bare Python and
CodeCarbon 3.3.2's ``codecarbon monitor``.

The command is ``sleep``, whose own peak RSS (~1-2 MiB) is far below the wrappers', so
the peak the kernel reports for the wrapper's process and its waited-for children
(``wait4``'s ``ru_maxrss``: the largest, not the sum) is the wrapper's own.

    python benchmarks/memory.py [--seconds 3] [--repeat 3] [--codecarbon-venv DIR | --no-codecarbon]

Target (issue 8): under 40 MiB (CodeCarbon: about 108 MiB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import GREENMETER, codecarbon_venv, describe, greenmeter_env


def peak_rss_mib(argv: list[str], env: dict[str, str], cwd: str) -> float:
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return rusage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long the command sleeps")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--codecarbon-venv", type=Path, help="reuse (or create) this venv")
    parser.add_argument("--no-codecarbon", action="store_true")
    args = parser.parse_args()

    print(describe())
    sleep = ["sleep", f"{args.seconds:g}"]
    commands = {
        f"python -c 'import time; time.sleep({args.seconds:g})'": [
            sys.executable,
            "-c",
            f"import time; time.sleep({args.seconds:g})",
        ],
        f"greenmeter run -- sleep {args.seconds:g}": [*GREENMETER, "run", "--", *sleep],
        f"greenmeter run -q -- sleep {args.seconds:g}": [*GREENMETER, "run", "-q", "--", *sleep],
        f"greenmeter run --interval 0.01 -- sleep {args.seconds:g}": [
            *GREENMETER,
            "run",
            "--interval",
            "0.01",
            "--",
            *sleep,
        ],
    }
    if not args.no_codecarbon:
        bin_dir = codecarbon_venv(args.codecarbon_venv)
        if bin_dir is not None:
            commands[
                f"codecarbon monitor --offline --country-iso-code USA -- sleep {args.seconds:g}"
            ] = [
                str(bin_dir / "codecarbon"),
                "monitor",
                "--offline",
                "--country-iso-code",
                "USA",
                "--",
                *sleep,
            ]
    env = greenmeter_env()
    peaks: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as cwd:
        for argv in commands.values():  # warm-up: bytecode written
            subprocess.run(
                [*argv[:-1], "0"],
                env=env,
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for _ in range(args.repeat):
            for name, argv in commands.items():
                peaks[name].append(peak_rss_mib(argv, env, cwd))

    print(f"\npeak RSS over {args.repeat} runs each (MiB)\n")
    print("| command | median | max |")
    print("| --- | ---: | ---: |")
    for name, values in peaks.items():
        print(f"| `{name}` | {statistics.median(values):.1f} | {max(values):.1f} |")
    worst = max(max(v) for name, v in peaks.items() if name.startswith("greenmeter"))
    print(
        f"\ngreenmeter's highest peak: {worst:.1f} MiB (target: < 40 MiB) "
        f"{'MET' if worst < 40 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
