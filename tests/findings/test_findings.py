"""The findings end to end: ``greenmeter run`` over the fake libnvidia-ml.so.1 with GPU
workloads built to produce each finding (``FAKE_NVML_GPU<i>_PHASES``: seconds, watts,
utilisation, memory, throttle reasons), and a well-utilised one that produces none.

Phases are timed from the fake library's first nvmlInit (the sensor opening, just
before the command starts); a loaded machine shifts the run against them by a fraction
of a second, so the tests check what each phase implies (a start-up, a stall, a tail)
and the findings' figures against the run's own timeline, not wall-clock times.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from greenmeter.reports.timeline import read_timeline

from conftest import MARKER_CHILD, assert_refused, read_report

PY = sys.executable
BUSY = "300:95:40000:0"
"""A well-fed GPU: 300 W, 95 % utilisation, 40 GB of 80 GB in use, no throttling."""
IDLE = "60:0:40000:1"
BURN = (
    "import multiprocessing as mp, time\n"
    "def burn(s):\n"
    "    t = time.time()\n"
    "    while time.time() - t < s: pass\n"
    "if __name__ == '__main__':\n"
    "    ps = [mp.Process(target=burn, args=({s},)) for _ in range(2)]\n"
    "    [p.start() for p in ps]; [p.join() for p in ps]\n"
)
"""Two processes busy for ``s`` seconds: the CPU side of input-bound and cpu-only."""
LOADED = ("--advice-threshold", "cpu_busy_cores=0.1")
"""The test machine's cores are shared with other test runs (two spinning processes were
seen to get 0.3 of a core between them): "busy" is set low enough to hold however the
cores are shared, and well above a command that sleeps (0)."""


@pytest.fixture
def run(greenmeter, gm_env, fake_lib, tmp_path):
    """``run(*args, gpus=..., **fake_env)`` -> (CompletedProcess, report); not quiet, so
    the summary's advice lines are on stderr."""

    def go(*args: str, **fake_env: object):
        env = {k: v for k, v in gm_env.items() if not k.startswith(("FAKE_NVML_", "CUDA_"))}
        env.update({k: str(v) for k, v in fake_env.items()})
        env["LD_LIBRARY_PATH"] = str(fake_lib)
        report = tmp_path / "r.json"
        report.unlink(missing_ok=True)
        proc = greenmeter(
            "run", "--interval", "0.1", "--json", str(report), "--csv", "runs.csv", *args, env=env
        )
        return proc, read_report(report)

    return go


def ids(report: dict) -> list[str]:
    return [f["id"] for f in report["findings"]]


def one(report: dict, finding: str) -> dict:
    [found] = [f for f in report["findings"] if f["id"] == finding]
    assert found["label"] == "heuristic"
    assert found["what_to_try"]
    return found


def advice_lines(proc) -> list[str]:
    """The summary's advice lines (rich wraps long lines; each starts with 'advice:')."""
    text = proc.stderr.decode()
    return [line for line in text.splitlines() if line.startswith("advice:")]


def spans(report: dict, tmp_path: Path, gpu: int) -> list[tuple[float, float, float]]:
    """(seconds, joules, mean utilisation) of the GPU per span of the stored timeline."""
    columns, points = read_timeline(tmp_path / report["timeline"]["file"])
    energy = columns.index(report["timeline"]["columns"][1 + gpu]) - 1
    util = columns.index(f"gpu:Fake GPU {gpu}#{gpu}:gpu_util_pct_s") - 1
    out = []
    for (t_a, a), (t_b, b) in itertools.pairwise(points):
        if t_b > t_a:
            out.append((t_b - t_a, b[energy] - a[energy], (b[util] - a[util]) / (t_b - t_a)))
    return out


def test_a_well_utilised_gpu_gives_no_finding(run):
    proc, report = run("--", "sleep", "2.5", FAKE_NVML_GPU0_PHASES=f"60:{BUSY}")
    assert proc.returncode == 0, proc.stderr
    assert report["findings"] == []
    assert advice_lines(proc) == []
    gpu = report["components"][0]
    assert gpu["details"]["memory_total_mib"] == 81920
    assert gpu["details"]["mean_utilization_pct"] == 95


def test_idle_gpu_splits_start_up_stalls_and_tail_as_the_timeline_shows(run, tmp_path):
    phases = f"1.2:{IDLE},0.8:{BUSY},0.8:{IDLE},0.8:{BUSY},30:{IDLE}"
    proc, report = run("--", "sleep", "4.8", FAKE_NVML_GPU0_PHASES=phases)
    assert proc.returncode == 0, proc.stderr
    assert ids(report) == ["idle-gpu"]
    found = one(report, "idle-gpu")
    e = found["evidence"]
    assert e["stall_count"] == 1
    assert 0.4 < e["stalls_s"] < 1.2  # the 0.8 s stall, give or take a sample
    assert e["startup_s"] > 0.4 and e["tail_s"] > 0.6
    # The figures are the timeline's own: energy in the spans under 10 % utilisation.
    gpu = spans(report, tmp_path, 0)
    idle = [(dt, j) for dt, j, util in gpu if util < 10]
    idle_j = sum(j for _, j in idle)
    assert e["idle_j"] == pytest.approx(idle_j, rel=1e-6, abs=1e-3)
    assert e["startup_j"] + e["stalls_j"] + e["tail_j"] == pytest.approx(idle_j, abs=1e-2)
    assert e["startup_s"] + e["stalls_s"] + e["tail_s"] == pytest.approx(
        sum(dt for dt, _ in idle), abs=1e-2
    )
    energy_j = report["components"][0]["energy_j"]
    assert e["idle_share_pct"] == pytest.approx(idle_j / energy_j * 100, abs=0.1)
    # Idle at 60 W, busy at 300 W (the fake's truth): the idle spans hold their length
    # times 60 W, plus at most the busy part of the two spans where work stopped (a
    # reading stands for the span before it).
    idle_s = sum(dt for dt, _ in idle)
    assert 60 * idle_s * 0.99 <= idle_j <= 60 * idle_s + 2 * 240 * max(dt for dt, _ in idle)
    assert found["energy_at_stake_j"] == pytest.approx(idle_j, abs=1e-2)
    co2_per_j = report["carbon"]["co2_g"] / report["energy_j"]["total"]
    assert found["co2_at_stake_g"] == pytest.approx(idle_j * co2_per_j, rel=1e-3)
    assert len(advice_lines(proc)) == 1


def test_unused_gpu_and_at_most_three_advice_lines(run, tmp_path):
    """GPU 1 idles all along; GPU 0 is busy half the time, with a small batch, at its
    power limit: four findings, three lines, the last saying there is one more."""
    gpu0 = "1.5:80:0:1000:1,30:250:30:4000:4"
    proc, report = run(
        "--summary-md",
        "summary.md",
        "--",
        "sleep",
        "4",
        FAKE_NVML_GPUS=2,
        FAKE_NVML_GPU0_PHASES=gpu0,
        FAKE_NVML_GPU1_PHASES="60:55:0:0:1",
    )
    assert proc.returncode == 0, proc.stderr
    assert set(ids(report)) == {"unused-gpu", "idle-gpu", "small-batch", "power-capped"}
    assert ids(report)[-1] == "power-capped"  # time at the limit is not waste: last
    unused = one(report, "unused-gpu")
    assert unused["evidence"]["gpus"] == ["GPU 1 (Fake GPU 1)"]
    assert unused["evidence"]["idle_power_w"] == [pytest.approx(55, rel=0.03)]
    gpu1_j = report["components"][1]["energy_j"]
    assert unused["energy_at_stake_j"] == pytest.approx(gpu1_j, abs=1e-2)
    assert [f["evidence"].get("gpu") for f in report["findings"] if f["id"] == "idle-gpu"] == [
        "GPU 0 (Fake GPU 0)"  # the unused GPU is not also said to be idle
    ]
    small = one(report, "small-batch")["evidence"]
    assert small["memory_total_mib"] == 81920 and small["peak_memory_mib"] == 4000
    assert small["memory_headroom_mib"] == 81920 - 4000
    assert 25 <= small["mean_util_pct"] <= 31
    capped = one(report, "power-capped")["evidence"]
    assert 50 < capped["throttled_share_pct"] < 90
    lines = advice_lines(proc)
    assert len(lines) == 3
    assert "[+1 more in the report]" in proc.stderr.decode().replace("\n", " ")
    # The CI step summary has the same three lines, as a list.
    summary = (tmp_path / "summary.md").read_text().splitlines()
    bullets = [line for line in summary if line.startswith("- advice: ")]
    assert [b.split()[2] for b in bullets] == ids(report)[:3]
    assert bullets[-1].endswith("[+1 more in the report]")


def test_no_advice_silences_the_summaries_but_the_report_keeps_them(run, tmp_path):
    proc, report = run(
        "--no-advice",
        "--summary-md",
        "summary.md",
        "--",
        "sleep",
        "1.5",
        FAKE_NVML_GPU0_PHASES="60:55:0:0:1",
    )
    assert proc.returncode == 0, proc.stderr
    assert ids(report) == ["unused-gpu"]
    assert advice_lines(proc) == []
    assert b"unused-gpu" not in proc.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert "greenmeter" in summary and "advice" not in summary


def test_thermal(run):
    proc, report = run("--", "sleep", "2", FAKE_NVML_GPU0_PHASES="60:300:95:40000:64")
    assert proc.returncode == 0, proc.stderr
    assert ids(report) == ["thermal"]
    assert one(report, "thermal")["evidence"]["throttled_share_pct"] > 90


def test_input_bound_when_the_gpu_starves_while_the_cpu_is_busy(run):
    # 0.5 s fed, 0.5 s starved, over and over, while two processes keep the CPU busy.
    phases = ",".join([f"0.5:{BUSY}", "0.5:120:20:40000:0"] * 6)
    proc, report = run(*LOADED, "--", PY, "-c", BURN.format(s=3), FAKE_NVML_GPU0_PHASES=phases)
    assert proc.returncode == 0, proc.stderr
    assert "input-bound" in ids(report)
    e = one(report, "input-bound")["evidence"]
    assert 25 < e["starved_share_pct"] < 75
    assert e["mean_util_pct_starved"] < 50
    assert e["busy_cores_starved"] >= 0.1


def test_cpu_only_when_the_gpus_idle_and_the_cpu_works(run):
    proc, report = run(
        *LOADED, "--", PY, "-c", BURN.format(s=2.5), FAKE_NVML_GPU0_PHASES="60:55:0:500:1"
    )
    assert proc.returncode == 0, proc.stderr
    assert ids(report) == ["cpu-only"]  # not also unused-gpu: one finding says it all
    e = one(report, "cpu-only")["evidence"]
    assert e["busy_cores"] >= 0.1
    assert e["gpu_energy_j"] == pytest.approx(report["components"][0]["energy_j"], abs=1e-2)


def test_fail_on_exits_119_only_when_the_command_succeeded(run):
    proc, report = run(
        "--fail-on",
        "idle-gpu,unused-gpu",
        "--",
        "sleep",
        "0.6",
        FAKE_NVML_GPU0_PHASES="60:55:0:0:1",
    )
    assert proc.returncode == 119, proc.stderr
    assert b"--fail-on: the run has unused-gpu (exit 119)" in proc.stderr
    proc, report = run(
        "--fail-on",
        "unused-gpu",
        "--",
        "sh",
        "-c",
        "sleep 0.6; exit 3",
        FAKE_NVML_GPU0_PHASES="60:55:0:0:1",
    )
    assert proc.returncode == 3  # the command's own failure wins
    assert ids(report) == ["unused-gpu"]
    proc, _ = run("--fail-on", "thermal", "--", "sleep", "0.6", FAKE_NVML_GPU0_PHASES="60:55:0:0:1")
    assert proc.returncode == 0  # a finding not named does not fail the run


def test_regression_against_the_commands_own_history(run):
    """Three runs of 0.3 s, then one of 0.9 s: three times the joules per sample."""
    script = "import os, time; time.sleep(float(os.environ['T']))"

    def measure(seconds: float, model: str = "m1"):
        return run(
            *("--units", "10", "--unit-name", "samples", "--tag", f"model={model}"),
            *("--", PY, "-c", script),
            T=seconds,
            FAKE_NVML_GPU0_PHASES=f"60:{BUSY}",
        )[1]

    for _ in range(3):
        assert measure(0.3)["findings"] == []
    assert "regression" not in ids(measure(0.9, model="m2"))  # other tags: another history
    report = measure(0.9)
    assert ids(report) == ["regression"]
    found = one(report, "regression")
    e = found["evidence"]
    assert e["runs_compared"] == 3
    assert (
        e["change_pct"] > 30
    )  # three times the sleep; the interpreter's start-up is added to both
    assert e["energy_j_per_unit"] == pytest.approx(report["energy_j_per_unit"])
    at_stake = (e["energy_j_per_unit"] - e["median_j_per_unit"]) * 10
    assert found["energy_at_stake_j"] == pytest.approx(at_stake, rel=1e-3)
    assert "more J/sample than the median of your last 3 runs" in found["summary"]


def test_thresholds_are_overridable_and_checked_before_launch(run, tmp_path):
    phases = f"1.5:{IDLE},30:{BUSY}"  # 90 J idle of about 390 J: 23 %
    proc, report = run("--", "sleep", "2.5", FAKE_NVML_GPU0_PHASES=phases)
    assert ids(report) == ["idle-gpu"]
    (tmp_path / "greenmeter.toml").write_text('advice_threshold = ["idle_min_share_pct=90"]\n')
    proc, report = run("--", "sleep", "2.5", FAKE_NVML_GPU0_PHASES=phases)
    assert proc.returncode == 0 and report["findings"] == []
    (tmp_path / "greenmeter.toml").unlink()


@pytest.mark.parametrize(
    ("option", "says"),
    [
        (("--advice-threshold", "idle_pct=5"), "unknown advice threshold 'idle_pct'"),
        (("--advice-threshold", "idle_util_pct=lots"), "expected a number"),
        (("--fail-on", "idle"), "unknown finding 'idle'"),
    ],
)
def test_bad_advice_options_are_refused_before_launch(greenmeter, tmp_path, option, says):
    assert_refused(greenmeter("run", *option, "--", *MARKER_CHILD), tmp_path, says)
