"""Start-up cost: ``greenmeter run -- true`` against ``python -c pass`` and CodeCarbon
3.3.2's ``codecarbon monitor --offline --country-iso-code USA -- true``.

The commands run interleaved (each round runs every command once, in a rotating order),
so a machine that gets busier or quieter during the benchmark shifts all of them alike.
Medians over the rounds; two warm-up rounds first (bytecode compiled, files cached).

    python benchmarks/startup.py [--runs 20] [--codecarbon-venv DIR | --no-codecarbon]
                                 [--importtime] [--baseline REV] [--prometheus]

``--baseline REV`` adds ``greenmeter run [-q] -- true`` from the commit REV of this
repository (exported to a temporary directory) to the same interleaved rounds: a
before/after comparison on one machine in one run, as a ratio. ``--prometheus`` adds
``greenmeter run -q`` with a metrics endpoint on a free port and with a textfile (issue 15:
prometheus_client is imported only then).

Targets (issue 8): greenmeter at least 10x faster than CodeCarbon's wrapper, and within
about 100 ms of bare Python.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import GREENMETER, REPO, codecarbon_venv, describe, greenmeter_env

PYTHON = "python -c pass"
GM = "greenmeter run -- true"
GM_QUIET = "greenmeter run -q -- true"
GM_ENDPOINT = "greenmeter run -q --prometheus-port 0 -- true"
GM_TEXTFILE = "greenmeter run -q --prometheus-textfile m.prom -- true"
CODECARBON = "codecarbon monitor --offline --country-iso-code USA -- true"


def time_once(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds): the CPU time (user + system, ``wait4``) is what
    the start-up costs whatever else the machine is doing, the wall-clock what it feels."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime


def import_profile(env: dict[str, str], cwd: str, top: int = 15) -> str:
    """The slowest imports (cumulative) of one ``greenmeter run -q -- true``."""
    done = subprocess.run(
        [*GREENMETER[:1], "-X", "importtime", *GREENMETER[1:], "run", "-q", "--", "true"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and len(fields) == 3 and fields[0].strip().isdigit():
            own, cumulative, name = (f.strip() for f in fields)
            rows.append((int(cumulative), int(own), name))
    rows.sort(reverse=True)
    out = ["slowest imports of 'greenmeter run -q -- true' (cumulative ms, own ms):"]
    out += [f"  {c / 1000:7.1f} {o / 1000:7.1f}  {name}" for c, o, name in rows[:top]]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--codecarbon-venv", type=Path, help="reuse (or create) this venv")
    parser.add_argument("--no-codecarbon", action="store_true")
    parser.add_argument(
        "--importtime", action="store_true", help="also print greenmeter's slowest imports"
    )
    parser.add_argument("--baseline", metavar="REV", help="also time greenmeter at commit REV")
    parser.add_argument(
        "--prometheus", action="store_true", help="also time the Prometheus options"
    )
    args = parser.parse_args()

    print(describe())
    env = greenmeter_env()
    commands: dict[str, list[str]] = {
        PYTHON: [sys.executable, "-c", "pass"],
        GM: [*GREENMETER, "run", "--", "true"],
        GM_QUIET: [*GREENMETER, "run", "-q", "--", "true"],
    }
    if args.prometheus:
        commands[GM_ENDPOINT] = [*GREENMETER, "run", "-q", "--prometheus-port", "0", "--", "true"]
        commands[GM_TEXTFILE] = [
            *GREENMETER, "run", "-q", "--prometheus-textfile", "m.prom", "--", "true",
        ]  # fmt: skip
    envs = dict.fromkeys(commands, env)
    baseline_dir = tempfile.TemporaryDirectory() if args.baseline else None
    if baseline_dir is not None:
        rev = export_revision(args.baseline, Path(baseline_dir.name))
        base_env = {**env, "PYTHONPATH": baseline_dir.name}
        for name in (GM, GM_QUIET):
            commands[f"{name} @ {rev}"] = commands[name]
            envs[f"{name} @ {rev}"] = base_env
        print(f"baseline: commit {rev} ({args.baseline})")
    if not args.no_codecarbon:
        bin_dir = codecarbon_venv(args.codecarbon_venv)
        if bin_dir is not None:
            envs[CODECARBON] = env
            commands[CODECARBON] = [
                str(bin_dir / "codecarbon"),
                "monitor",
                "--offline",
                "--country-iso-code",
                "USA",
                "--",
                "true",
            ]
    else:
        print("CodeCarbon left out (--no-codecarbon)")

    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as work:
        cwds = {}
        for i, name in enumerate(names):  # each its own directory for the files it writes
            cwds[name] = os.path.join(work, str(i))
            os.mkdir(cwds[name])
        for _ in range(2):
            for name in names:
                time_once(commands[name], envs[name], cwds[name])
        for r in range(args.runs):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                wall_s, cpu_s = time_once(commands[name], envs[name], cwds[name])
                times[name].append(wall_s)
                cpu[name].append(cpu_s)
        profile = import_profile(env, cwds[GM_QUIET]) if args.importtime else None

    median = {name: statistics.median(ts) for name, ts in times.items()}
    cpu_median = {name: statistics.median(ts) for name, ts in cpu.items()}
    print(f"\n{args.runs} interleaved rounds, seconds per command (wall-clock; CPU: user + sys)\n")
    print(
        "| command | median | min | max | CPU median | minus `python -c pass` | CodeCarbon / this |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        ts = times[name]
        over = f"{(median[name] - median[PYTHON]) * 1000:+.0f} ms" if name != PYTHON else "-"
        ratio = (
            f"{median[CODECARBON] / median[name]:.1f}x"
            if CODECARBON in median and name != CODECARBON
            else "-"
        )
        print(
            f"| `{name}` | {median[name]:.3f} | {min(ts):.3f} | {max(ts):.3f} "
            f"| {cpu_median[name]:.3f} | {over} | {ratio} |"
        )
    over_ms = (median[GM] - median[PYTHON]) * 1000
    print(
        f"\ngreenmeter over bare Python: {over_ms:.0f} ms (target: within ~100 ms) "
        f"{'MET' if over_ms <= 100 else 'NOT MET'}"
    )
    if CODECARBON in median:
        ratio = median[CODECARBON] / median[GM]
        print(
            f"CodeCarbon / greenmeter: {ratio:.1f}x (target: >= 10x) "
            f"{'MET' if ratio >= 10 else 'NOT MET'}"
        )
    for name in (GM, GM_QUIET):
        before = next((n for n in names if n.startswith(f"{name} @ ")), None)
        if before is not None:
            print(
                f"`{name}`: {median[name]:.3f} s now, {median[before]:.3f} s at "
                f"{before.split(' @ ')[1]}: {median[name] / median[before]:.2f}x "
                f"(CPU {cpu_median[name] / cpu_median[before]:.2f}x)"
            )
    for name in (GM_ENDPOINT, GM_TEXTFILE):
        if name in median:
            print(
                f"`{name}`: {(median[name] - median[GM_QUIET]) * 1000:+.0f} ms wall, "
                f"{(cpu_median[name] - cpu_median[GM_QUIET]) * 1000:+.0f} ms CPU "
                f"over `{GM_QUIET}`"
            )
    if baseline_dir is not None:
        baseline_dir.cleanup()
    if profile:
        print("\n" + profile)


def export_revision(rev: str, into: Path) -> str:
    """The files of commit ``rev`` of this repository in ``into``; its short hash."""
    short = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return short


if __name__ == "__main__":
    main()
