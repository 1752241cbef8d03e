"""Phases and units marked from inside ``greenmeter run``: Python's ``greenmeter.phase``
and ``add_units``, ``greenmeter mark`` and ``printf`` from a shell, and a ``Meter``
inside a run. The GPU is the fake libnvidia-ml.so.1 at a constant power, whose energy
counter is computed from CLOCK_MONOTONIC at each read: a phase's truth is power x its
duration."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from conftest import read_report

PY = sys.executable
POWER_W = 200.0


@pytest.fixture
def marked_run(greenmeter, gm_env, fake_lib, tmp_path):
    """``marked_run(argv, quiet=True)`` -> (CompletedProcess, report): ``greenmeter run``
    on one fake GPU drawing ``POWER_W``."""

    def run(argv: list[str], quiet: bool = True, *extra: str):
        env = {k: v for k, v in gm_env.items() if not k.startswith(("FAKE_NVML_", "CUDA_"))}
        env.update(
            LD_LIBRARY_PATH=str(fake_lib),
            FAKE_NVML_GPUS="1",
            FAKE_NVML_GPU0_PROFILE=f"const:{POWER_W:g}",
        )
        report = tmp_path / "r.json"
        args = ["run", *(["-q"] if quiet else []), "--json", str(report), "--csv", "r.csv", *extra]
        proc = greenmeter(*args, "--", *argv, env=env)
        return proc, (read_report(report) if report.exists() else None)

    return run


def python(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def by_path(report: dict) -> dict[str, dict]:
    return {p["path"]: p for p in report["phases"]["list"]}


def test_each_phase_is_power_times_its_duration_and_they_add_up_to_the_run(marked_run, tmp_path):
    proc, report = marked_run(
        python(
            """
            import time, greenmeter
            time.sleep(0.1)
            with greenmeter.phase("train"):
                for epoch in range(2):
                    with greenmeter.phase("epoch"):
                        time.sleep(0.6)
                        greenmeter.add_units(1000, "tokens")
            with greenmeter.phase("tiny"):
                time.sleep(0.005)

            @greenmeter.phase("eval")
            def evaluate():
                time.sleep(0.5)

            evaluate()
            time.sleep(0.1)
            """
        ),
        False,
        "--html",
        "r.html",
    )
    assert proc.returncode == 0, proc.stderr
    assert report["schema_version"] == 2
    phases = by_path(report)
    assert list(phases) == ["train", "train/epoch", "tiny", "eval"]
    for path in ("train", "train/epoch", "eval"):
        p = phases[path]
        assert p["duration_s"] > 0.45
        assert p["energy_j"]["gpu"] == pytest.approx(POWER_W * p["duration_s"], rel=0.01), path
        (gpu,) = [c for c in p["components"] if c["kind"] == "gpu"]
        assert gpu["method"] == "measured" and gpu["source"] == "nvml-energy"
    evaluation = phases["eval"]  # the GPU measured, the CPU estimated, with its range
    assert evaluation["energy_basis"] == {
        "total": "mixed", "cpu": "estimated", "gpu": "measured", "dram": "estimated"
    }  # fmt: skip
    gpu_low, gpu_high = evaluation["energy_range_j"]["gpu"]
    assert gpu_low == gpu_high == pytest.approx(evaluation["energy_j"]["gpu"])
    cpu_low, cpu_high = evaluation["energy_range_j"]["cpu"]
    assert cpu_low <= evaluation["energy_j"]["cpu"] <= cpu_high
    epoch = phases["train/epoch"]
    assert epoch["parent"] == "train" and epoch["count"] == 2
    assert epoch["units"] == {"tokens": 2000.0}
    assert epoch["energy_j_per_unit"]["tokens"] == pytest.approx(epoch["energy_j"]["total"] / 2000)
    per_epoch = epoch["energy_per_occurrence_j"]
    assert per_epoch["count"] == 2
    assert per_epoch["mean"] == pytest.approx(epoch["energy_j"]["total"] / 2, rel=1e-9)
    tiny = phases["tiny"]  # 5 ms: still its own reads, still counted
    assert tiny["count"] == 1 and 0.005 <= tiny["duration_s"] < 0.1
    assert 0 < tiny["energy_j"]["gpu"] < POWER_W * 0.1
    # The run is not changed by marking it, and its top-level phases plus the unmarked
    # time are the run.
    gpu_run = report["energy_j"]["gpu"]
    assert gpu_run == pytest.approx(POWER_W * report["duration_s"], rel=0.01)
    top = [p for p in phases.values() if p["parent"] is None]
    unmarked = report["phases"]["unmarked"]
    for kind in ("total", "gpu", "cpu"):
        marked = sum(p["energy_j"][kind] for p in top) + unmarked["energy_j"][kind]
        assert marked == pytest.approx(report["energy_j"][kind], rel=1e-9, abs=1e-9)
    assert sum(p["duration_s"] for p in top) + unmarked["duration_s"] == pytest.approx(
        report["duration_s"], abs=1e-5
    )
    co2_per_j = report["carbon"]["co2_g"] / report["energy_j"]["total"]
    assert phases["eval"]["co2_g"] == pytest.approx(phases["eval"]["energy_j"]["total"] * co2_per_j)
    # The command's own count of units is the run's.
    assert report["units"] == 2000 and report["unit_name"] == "tokens"
    assert report["phases"]["max_lag_s"] < 1.0
    assert b"phases" in proc.stderr and b"epoch" in proc.stderr  # the summary's table
    page = (tmp_path / "r.html").read_text()
    assert page.count('<rect class="band') == 3  # train, tiny, eval: top-level bands
    assert "<h3>Phases</h3>" in page and "<title>eval: " in page


def test_ten_thousand_marks_stay_bounded_and_aggregated(marked_run, tmp_path):
    proc, report = marked_run(
        python(
            """
            import greenmeter
            with greenmeter.phase("epoch"):
                for i in range(5000):
                    with greenmeter.phase("step"):
                        greenmeter.add_units(2, "samples")
            """
        )
    )
    assert proc.returncode == 0, proc.stderr
    phases = report["phases"]
    assert phases["marks"] == 2 + 3 * 5000
    step = by_path(report)["epoch/step"]
    assert step["count"] == 5000 and step["units"] == {"samples": 10000.0}
    assert len(step["occurrences"]) == 200  # listed for charts, bounded
    each = step["energy_per_occurrence_j"]
    assert each["sampled"] == 5000 and each["min"] <= each["p50"] <= each["p95"] <= each["max"]
    assert each["mean"] * 5000 == pytest.approx(step["energy_j"]["total"], rel=1e-6)
    assert step["energy_j"]["gpu"] <= by_path(report)["epoch"]["energy_j"]["gpu"] + 1e-9
    assert (tmp_path / "r.json").stat().st_size < 100_000
    assert not [w for w in report["warnings"] if "mark" in w]


def test_a_shell_marks_with_greenmeter_mark_and_printf(marked_run, tmp_path):
    script = tmp_path / "ci.sh"
    script.write_text(
        textwrap.dedent(
            f"""\
            set -e
            mark() {{ {PY} -m greenmeter mark "$@"; }}
            mark begin build
            sleep 0.6
            mark end build
            mark begin test
            printf 'begin unit\\n' > "$GREENMETER_CONTROL"
            sleep 0.6
            mark units 40 tests
            printf 'end unit\\n' > "$GREENMETER_CONTROL"
            printf 'bogus line\\n' > "$GREENMETER_CONTROL"
            mark end test
            """
        )
    )
    proc, report = marked_run(["bash", str(script)])
    assert proc.returncode == 0, proc.stderr
    phases = by_path(report)
    assert list(phases) == ["build", "test", "test/unit"]
    for p in phases.values():
        assert p["energy_j"]["gpu"] == pytest.approx(POWER_W * p["duration_s"], rel=0.01)
    assert phases["test/unit"]["units"] == {"tests": 40.0} == phases["test"]["units"]
    assert phases["build"]["duration_s"] >= 0.6
    assert any("mark ignored: not understood" in w and "bogus" in w for w in report["warnings"])


def test_greenmeter_mark_outside_a_run_does_nothing_and_succeeds(greenmeter):
    proc = greenmeter("mark", "begin", "build")
    assert proc.returncode == 0 and b"mark ignored" in proc.stderr
    proc = greenmeter("mark", "units", "-3")
    assert proc.returncode == 125 and proc.stderr.count(b"\n") == 1


def test_a_meter_inside_a_run_is_a_phase_of_it_and_counts_nothing_twice(marked_run, tmp_path):
    proc, report = marked_run(
        python(
            """
            import time, greenmeter
            time.sleep(0.2)
            m = greenmeter.Meter("inner", json="inner.json", csv="inner.csv")
            with m:
                time.sleep(0.6)
            print(m.result, repr(m))
            """
        )
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"None <greenmeter.Meter 'inner': was a phase")
    inner = by_path(report)["inner"]
    assert inner["energy_j"]["gpu"] == pytest.approx(POWER_W * inner["duration_s"], rel=0.01)
    assert report["energy_j"]["gpu"] == pytest.approx(POWER_W * report["duration_s"], rel=0.01)
    assert not (tmp_path / "inner.json").exists() and not (tmp_path / "inner.csv").exists()


def test_a_run_that_marks_nothing_has_no_phases(marked_run):
    proc, report = marked_run(["true"])
    assert proc.returncode == 0 and report["phases"] is None
    assert json.dumps(report)  # and stays valid JSON
