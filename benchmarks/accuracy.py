"""How close greenmeter's joules are to the truth, on hardware whose truth is known.

1. RAPL counter path: a fake powercap tree (tests/powercap_tree.py) whose counters follow
   a power profile, wrapping about every 1.3 s at peak power; greenmeter's sampler and
   RAPL sensor read it as in a run (exact reads at start and end, in between as often as
   the sensor asks).
2. NVML counter path and polling path: ``greenmeter run`` end to end with the fake
   libnvidia-ml.so.1 (tests/fake_nvml), with and without the energy counter; the library
   logs the instant of every read.
2b. AMD SMI counter path (64-bit, and 32-bit wrapping once mid-run) and polling path:
   ``greenmeter run`` end to end through the real ``amdsmi`` bindings and the fake
   libamd_smi.so (tests/fake_amdsmi), each physical GPU split into two partitions (counted
   once). Left out when the bindings are not installed.
3. Estimate path: 20 short children of 0.3 s CPU each against one 6 s process, under
   greenmeter and (if it can be installed) CodeCarbon 3.3.2's ``codecarbon monitor``.

Profiles (power as an exact function of CLOCK_MONOTONIC, tests/fake_nvml.Profile):
constant, square wave (1 s period) and ramp (sawtooth, 4 s period). The truth is the
profile's exact integral between the first and the last read greenmeter made.

    python benchmarks/accuracy.py [--seconds 3] [--repeat 3] [--codecarbon-venv DIR | --no-codecarbon]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import GREENMETER, REPO, codecarbon_venv, describe, greenmeter_env

sys.path[:0] = [str(REPO), str(REPO / "tests")]

from greenmeter.run.sampler import Sampler  # noqa: E402
from greenmeter.sensors import rapl  # noqa: E402

import fake_amdsmi  # noqa: E402  (tests/ helper: the fake AMD SMI library)
import fake_nvml  # noqa: E402  (tests/ helper: the fake NVML library and exact profiles)
from powercap_tree import PowercapTree  # noqa: E402  (tests/ helper: kernel-like trees)

PROFILES = {"constant": "const:175", "square wave": "square:100:300:1", "ramp": "ramp:100:300:4"}
# RAPL zones get CPU-sized powers: package-0, package-1, package-0's DRAM.
RAPL_PROFILES = {
    "intel-rapl:0": ("constant", "const:65"),
    "intel-rapl:1": ("square wave", "square:20:120:1"),
    "intel-rapl:0:0": ("ramp", "ramp:5:25:4"),
}
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


# --- RAPL ------------------------------------------------------------------------------


def rapl_errors(seconds: float) -> dict[str, float]:
    """Relative error per profile for one run of the sampler over the fake tree.

    The tree is a real fake (discovery, names, ranges, permissions all read from files);
    only ``energy_uj`` is computed at the instant it is read, from the profile, as a
    hardware counter is and as the fake NVML library does. (A process rewriting the files
    instead lags whenever the machine is busy, and that lag, not greenmeter, would be the
    error measured.)"""
    with tempfile.TemporaryDirectory() as base:
        tree = PowercapTree(Path(base))
        counters: dict[Path, tuple[fake_nvml.Profile, int]] = {}
        for zone, (_, spec) in RAPL_PROFILES.items():
            profile = fake_nvml.Profile.parse(spec)
            range_uj = round(max(profile.low_w, profile.high_w) * 1.3e6)  # wraps ~ every 1.3 s
            name = "dram" if zone.count(":") == 2 else f"package-{zone[-1]}"
            path = tree.add_zone(zone, name, 0, range_uj)
            counters[(path / "energy_uj").resolve()] = (profile, range_uj)
        real_read_int = rapl._read_int

        def read_int(path: Path) -> int:
            counter = counters.get(Path(path).resolve())
            if counter is None:
                return real_read_int(path)
            profile, range_uj = counter
            return round(profile.energy_j(time.monotonic()) * 1e6) % range_uj

        rapl._read_int = read_int
        try:
            zones, _ = rapl.select_zones(rapl.discover_zones(tree.root), tree.root)
            sensor = rapl.RaplSensor(zones, {})
            sampler = Sampler([sensor], 0.5)
            sampler.start()
            time.sleep(seconds)
            measurement = sampler.stop()
        finally:
            rapl._read_int = real_read_int
    errors = {}
    for zone, trace, details in zip(zones, measurement.traces, sensor.details()):
        label, spec = RAPL_PROFILES[zone.zone_id]
        truth = fake_nvml.Profile.parse(spec).between_j(trace.first_s, trace.last_s)
        assert details["wraps"] >= 1, "the benchmark must go through counter wraps"
        errors[label] = (trace.energy_j - truth) / truth
    return errors


# --- NVML ------------------------------------------------------------------------------


def nvml_errors(lib: Path, seconds: float, counter: bool, work: Path) -> dict[str, float]:
    """Relative error per profile for one end-to-end run, GPU i drawing profile i."""
    log = work / "reads.log"
    log.unlink(missing_ok=True)
    env = greenmeter_env(
        LD_LIBRARY_PATH=str(lib),
        FAKE_NVML_GPUS=str(len(PROFILES)),
        FAKE_NVML_LOG=str(log),
        GREENMETER_POWERCAP_ROOT=str(work / "no-powercap"),
    )
    env = {k: v for k, v in env.items() if not k.startswith("CUDA_")}
    for i, spec in enumerate(PROFILES.values()):
        env[f"FAKE_NVML_GPU{i}_PROFILE"] = spec
        if not counter:
            env[f"FAKE_NVML_GPU{i}_NO_ENERGY"] = "1"
    (work / "no-powercap").mkdir(exist_ok=True)
    subprocess.run(
        [
            *GREENMETER,
            "run",
            "-q",
            "--json",
            str(work / "r.json"),
            "--csv",
            str(work / "r.csv"),
            "--",
            "sleep",
            f"{seconds:g}",
        ],
        env=env,
        check=True,
        cwd=work,
    )
    report = json.loads((work / "r.json").read_text())
    gpus = {c["index"]: c for c in report["components"] if c["kind"] == "gpu"}
    call = "energy" if counter else "power"
    errors = {}
    for i, (label, spec) in enumerate(PROFILES.items()):
        assert gpus[i]["source"] == ("nvml-energy" if counter else "nvml-power")
        # The sensor probes each GPU once when it opens, before the command: skipped.
        times = [r.time_s for r in fake_nvml.read_log(log) if r.gpu == i and r.call == call][1:]
        truth = fake_nvml.Profile.parse(spec).between_j(times[0], times[-1])
        errors[label] = (gpus[i]["energy_j"] - truth) / truth
    return errors


# --- AMD SMI -----------------------------------------------------------------------------


def amdsmi_errors(rocm: Path, seconds: float, path: str, work: Path) -> dict[str, float]:
    """Relative error per profile for one end-to-end run, physical GPU i drawing profile i.
    ``path`` is "counter", "wrapping counter" or "polling"."""
    log = work / "amd-reads.log"
    log.unlink(missing_ok=True)
    env = greenmeter_env(
        ROCM_PATH=str(rocm),
        FAKE_AMDSMI_GPUS=str(len(PROFILES)),
        FAKE_AMDSMI_LOG=str(log),
        GREENMETER_POWERCAP_ROOT=str(work / "no-powercap"),
    )
    env = {
        k: v for k, v in env.items() if not k.startswith(("CUDA_", "HIP_", "ROCR_", "ROCM_HOME"))
    }
    for i, spec in enumerate(PROFILES.values()):
        env[f"FAKE_AMDSMI_GPU{i}_PROFILE"] = spec
        env[f"FAKE_AMDSMI_GPU{i}_PARTITIONS"] = "2"
        if path == "polling":
            env[f"FAKE_AMDSMI_GPU{i}_NO_ENERGY"] = "1"
        if path == "wrapping counter":
            env[f"FAKE_AMDSMI_GPU{i}_WRAP_AFTER_S"] = f"{seconds / 2:g}"
    (work / "no-powercap").mkdir(exist_ok=True)
    subprocess.run(
        [*GREENMETER, "run", "-q", "--json", str(work / "amd.json"), "--csv",
         str(work / "amd.csv"), "--", "sleep", f"{seconds:g}"],
        env=env,
        check=True,
        cwd=work,
    )  # fmt: skip
    report = json.loads((work / "amd.json").read_text())
    gpus = [c for c in report["components"] if c["kind"] == "gpu"]
    assert len(gpus) == len(PROFILES), "two partitions per GPU, each GPU counted once"
    call = "power" if path == "polling" else "energy"
    errors = {}
    for i, (gpu, (label, spec)) in enumerate(zip(gpus, PROFILES.items())):
        assert gpu["source"] == ("amdsmi-power" if path == "polling" else "amdsmi-energy")
        if path == "wrapping counter":
            assert gpu["details"]["counter_wraps"] == 1
        truth = fake_amdsmi.truth_j(log, 2 * i, call, spec)  # logical GPU 2i reads GPU i
        errors[label] = (gpu["energy_j"] - truth) / truth
    return errors


# --- estimate ----------------------------------------------------------------------------


def kernel_cpu_s(argv: list[str], cwd: Path) -> float:
    """CPU seconds the kernel charges ``argv`` and its descendants, run bare."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def estimate_figures(
    work: Path, codecarbon_bin: Path | None
) -> tuple[dict[str, float], list[tuple[str, str, float, float | None]]]:
    """The kernel's CPU seconds per workload, and (tool, workload, CPU joules, CPU seconds
    seen) for both workloads under each tool."""
    many = work / "many.py"
    many.write_text(
        "import subprocess, sys\nfor _ in range(20):\n"
        f"    subprocess.run([sys.executable, '-c', {BURN.format(s=0.3)!r}])\n"
    )
    one = work / "one.py"
    one.write_text(BURN.format(s=6.0))
    workloads = {"20 children x 0.3 s CPU": many, "one process, 6 s CPU": one}
    truth = {
        label: kernel_cpu_s([sys.executable, str(script)], work)
        for label, script in workloads.items()
    }
    rows = []
    env = greenmeter_env(GREENMETER_POWERCAP_ROOT=str(work / "no-powercap"))
    (work / "no-powercap").mkdir(exist_ok=True)
    for label, script in workloads.items():
        report_path = work / "estimate.json"
        subprocess.run(
            [
                *GREENMETER,
                "run",
                "-q",
                "--json",
                str(report_path),
                "--csv",
                str(work / "estimate.csv"),
                "--",
                sys.executable,
                str(script),
            ],
            env=env,
            check=True,
            cwd=work,
        )
        report = json.loads(report_path.read_text())
        cpu = next(c for c in report["components"] if c["kind"] == "cpu")
        rows.append(("greenmeter", label, cpu["energy_j"], cpu["details"]["cpu_s"]))
    if codecarbon_bin is not None:
        for label, script in workloads.items():
            out = work / "cc"
            out.mkdir(exist_ok=True)
            (out / "emissions.csv").unlink(missing_ok=True)
            subprocess.run(
                [
                    str(codecarbon_bin / "codecarbon"),
                    "monitor",
                    "--offline",
                    "--country-iso-code",
                    "USA",
                    "--",
                    sys.executable,
                    str(script),
                ],
                cwd=out,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            row = list(csv.DictReader((out / "emissions.csv").open()))[-1]
            rows.append(("CodeCarbon 3.3.2", label, float(row["cpu_energy"]) * 3.6e6, None))
    return truth, rows


def summary(errors: list[float]) -> str:
    mean = statistics.mean(errors) * 100
    worst = max(errors, key=abs) * 100
    return f"{mean:+.3f} % | {worst:+.3f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each measured run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path")
    parser.add_argument("--codecarbon-venv", type=Path, help="reuse (or create) this venv")
    parser.add_argument("--no-codecarbon", action="store_true")
    args = parser.parse_args()
    print(describe())

    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for label, error in rapl_errors(args.seconds).items():
            results.setdefault(("RAPL counter (energy_uj, wrapping)", label), []).append(error)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            lib = fake_nvml.build(work / "fake-nvml")
        except (FileNotFoundError, subprocess.CalledProcessError) as exc:
            lib = None
            print(f"NVML rows left out: cannot build the fake library ({exc})")
        if lib is not None:
            for counter, path in (
                (True, "NVML counter (total energy)"),
                (False, "NVML polling (power, trapezoids)"),
            ):
                for _ in range(args.repeat):
                    for label, error in nvml_errors(lib, args.seconds, counter, work).items():
                        results.setdefault((path, label), []).append(error)
        try:
            rocm = fake_amdsmi.build(work / "fake-rocm")
        except (FileNotFoundError, subprocess.CalledProcessError) as exc:
            rocm = None
            print(f"AMD SMI rows left out: cannot build the fake library ({exc})")
        if rocm is not None:
            for amd_path in ("counter", "wrapping counter", "polling"):
                label = {
                    "counter": "AMD SMI counter (energy accumulator)",
                    "wrapping counter": "AMD SMI counter (32-bit, wrapping once)",
                    "polling": "AMD SMI polling (power, trapezoids)",
                }[amd_path]
                for _ in range(args.repeat):
                    for profile, error in amdsmi_errors(rocm, args.seconds, amd_path, work).items():
                        results.setdefault((label, profile), []).append(error)
        bin_dir = None if args.no_codecarbon else codecarbon_venv(args.codecarbon_venv)
        kernel, estimates = estimate_figures(work, bin_dir)

    print(f"\nerror against the exact integral, {args.repeat} runs of {args.seconds:g} s each\n")
    print("| path | profile | mean error | worst error |")
    print("| --- | --- | ---: | ---: |")
    for (path, label), errors in sorted(
        results.items(), key=lambda item: list(PROFILES).index(item[0][1])
    ):
        print(f"| {path} | {label} | {summary(errors)} |")

    print(
        "\nestimate path: short-lived children against one process (same CPU work; the "
        "children\nalso pay 20 interpreter start-ups, which the kernel's figure includes)\n"
    )
    print(
        "| tool | workload | CPU energy (J) | CPU seconds counted | kernel's CPU seconds, bare run |"
    )
    print("| --- | --- | ---: | ---: | ---: |")
    for tool, label, joules, cpu_s in estimates:
        counted = "-" if cpu_s is None else f"{cpu_s:.2f}"
        print(f"| {tool} | {label} | {joules:.2f} | {counted} | {kernel[label]:.2f} |")
    for tool in dict.fromkeys(t for t, *_ in estimates):
        many, one = (j for t, _, j, _ in estimates if t == tool)
        print(f"{tool}: 20 short children counted as {many / one:.2f} x the single process")


if __name__ == "__main__":
    main()
