"""``greenmeter run`` measuring GPUs end to end: the real CLI, the real pynvml module, and
the fake libnvidia-ml.so.1 (tests/fake_nvml) found through LD_LIBRARY_PATH.

The fake library logs each energy/power read with its CLOCK_MONOTONIC time and draws a
known power curve, so the truth is the curve's exact integral between greenmeter's first
and last read of each GPU.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import MARKER_CHILD, assert_refused, read_report
from fake_nvml import truth_j

PY = sys.executable
UUID = "GPU-fa4e0000-0000-0000-0000-00000000000{}".format


@pytest.fixture
def gpu_run(greenmeter, gm_env, fake_lib, tmp_path):
    """``gpu_run(*run_args, **fake_env)`` -> (CompletedProcess, report or None)."""

    def run(*args: str, lib: Path | None = fake_lib, **fake_env: object):
        env = {k: v for k, v in gm_env.items() if not k.startswith(("FAKE_NVML_", "CUDA_"))}
        env.update({k: str(v) for k, v in fake_env.items()})
        env["LD_LIBRARY_PATH"] = str(lib)
        report = tmp_path / "r.json"
        report.unlink(missing_ok=True)
        proc = greenmeter("run", "-q", "--json", str(report), *args, env=env)
        return proc, (read_report(report) if report.exists() else None)

    return run


def gpus_of(report: dict) -> dict[int, dict]:
    return {c["index"]: c for c in report["components"] if c["kind"] == "gpu"}


def test_joules_per_gpu_match_the_truth(gpu_run, tmp_path):
    profiles = {0: "square:100:300:1", 1: "square:100:300:1", 2: "ramp:100:300:4", 3: "const:175"}
    log = tmp_path / "reads.log"
    proc, report = gpu_run(
        "--",
        "sh",
        "-c",
        "sleep 2; exit 3",
        FAKE_NVML_GPUS=4,
        FAKE_NVML_LOG=log,
        FAKE_NVML_GPU3_NAME="NVIDIA A100-SXM4-80GB",
        **{f"FAKE_NVML_GPU{i}_PROFILE": p for i, p in profiles.items()},
        **{f"FAKE_NVML_GPU{i}_NO_ENERGY": 1 for i in (1, 2)},
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == b""
    gpus = gpus_of(report)
    assert sorted(gpus) == [0, 1, 2, 3]
    assert [gpus[i]["source"] for i in range(4)] == [
        "nvml-energy",
        "nvml-power",
        "nvml-power",
        "nvml-energy",
    ]
    assert {g["method"] for g in gpus.values()} == {"measured"}

    for i in (0, 3):  # the counter: within 1 %
        assert gpus[i]["energy_j"] == pytest.approx(
            truth_j(log, i, "energy", profiles[i]), rel=0.01
        )
    for i in (1, 2):  # polled power at 10 Hz: within 5 %
        assert gpus[i]["energy_j"] == pytest.approx(truth_j(log, i, "power", profiles[i]), rel=0.05)
    assert gpus[0]["energy_j"] > 350  # ~200 W for 2 s: a real figure, not a stub
    assert report["energy_j"]["gpu"] == pytest.approx(sum(g["energy_j"] for g in gpus.values()))
    # The polled GPUs forced the fast poll: ~10 reads a second.
    assert gpus[1]["samples"] >= 10

    d3 = gpus[3]["details"]
    assert gpus[3]["name"] == "NVIDIA A100-SXM4-80GB"
    assert d3["uuid"] == UUID(3)
    assert d3["max_power_w"] == 175.0
    assert gpus[3]["mean_power_w"] == pytest.approx(175.0, rel=0.01)
    assert d3["mean_utilization_pct"] == 50.0
    assert d3["peak_memory_used_mib"] == 1024.0
    assert d3["shared_gpu"] is False
    assert gpus[0]["details"]["max_power_w"] == 300.0
    assert "NVIDIA A100-SXM4-80GB" in report["host"]["gpu_models"]
    assert not any("GPU" in w for w in report["warnings"])


@pytest.mark.parametrize(
    ("visible", "gpus_option", "measured"),
    [
        ("1", None, [1]),
        (UUID(2), None, [2]),
        ("2,0", None, [0, 2]),
        ("1", "all", [0, 1, 2]),
        (None, "0,2", [0, 2]),
        ("0", UUID(1), [1]),
    ],
)
def test_gpu_selection(gpu_run, visible, gpus_option, measured):
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    args = [] if gpus_option is None else ["--gpus", gpus_option]
    proc, report = gpu_run(*args, "--", "true", FAKE_NVML_GPUS=3, **env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(gpus_of(report)) == measured
    assert {g["details"]["uuid"] for g in gpus_of(report).values()} == {UUID(i) for i in measured}


def test_gpus_from_environment_and_config(gpu_run, tmp_path):
    proc, report = gpu_run("--", "true", FAKE_NVML_GPUS=3, GREENMETER_GPUS="2")
    assert sorted(gpus_of(report)) == [2]
    (tmp_path / "greenmeter.toml").write_text('gpus = "0,1"\n')
    proc, report = gpu_run("--", "true", FAKE_NVML_GPUS=3)
    assert proc.returncode == 0, proc.stderr
    assert sorted(gpus_of(report)) == [0, 1]


def test_hidden_gpus_are_not_measured(gpu_run):
    proc, report = gpu_run("--", "true", FAKE_NVML_GPUS=2, CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == 0
    assert gpus_of(report) == {} and report["energy_j"]["gpu"] is None
    assert proc.stderr == b""  # the command may use no GPU: nothing to say


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("5", "5: no such GPU (NVML sees 2: 0-1)"),
        (UUID(9), "no GPU has this UUID"),
        ("0,gpu1", "'gpu1' is not a GPU index"),
    ],
)
def test_bad_gpus_refused_before_launch(gpu_run, tmp_path, value, needle):
    proc, report = gpu_run("--gpus", value, "--", *MARKER_CHILD, FAKE_NVML_GPUS=2)
    assert_refused(proc, tmp_path, "--gpus", needle)
    assert report is None


def test_bad_gpus_refused_before_a_start_within_wait(gpu_run, tmp_path):
    args = ["--region", "ES", "--start-within", "8h", "--gpus", "5"]
    proc, report = gpu_run(*args, "--", *MARKER_CHILD, FAKE_NVML_GPUS=2)
    assert_refused(proc, tmp_path, "--gpus", "5: no such GPU")
    assert b"waiting" not in proc.stderr and report is None


def test_bad_gpus_in_config_names_file_and_line(gpu_run, tmp_path):
    (tmp_path / "greenmeter.toml").write_text('pue = 1.1\ngpus = "first"\n')
    proc, _ = gpu_run("--", *MARKER_CHILD)
    err = proc.stderr.decode()
    assert proc.returncode == 125 and "greenmeter.toml, line 2" in err, err
    assert not (tmp_path / "child-ran").exists()


def test_no_library_is_a_normal_run_without_gpu(gpu_run, tmp_path):
    from ctypes.util import find_library

    if find_library("nvidia-ml"):
        pytest.skip("this machine has a real libnvidia-ml; it cannot be hidden from pynvml")
    empty = tmp_path / "no-nvml"
    empty.mkdir()
    proc, report = gpu_run("--", "sh", "-c", "exit 7", lib=empty)
    assert proc.returncode == 7
    assert proc.stderr == b""
    assert gpus_of(report) == {} and report["energy_j"]["gpu"] is None
    assert report["host"]["gpu_models"] == []
    assert report["energy_j"]["cpu"] is not None  # the rest is still measured


def test_driver_not_loaded_is_said_once_and_the_run_goes_on(gpu_run):
    proc, report = gpu_run("--", "sh", "-c", "exit 7", FAKE_NVML_INIT_ERROR=9)
    err = proc.stderr.decode()
    assert proc.returncode == 7
    assert err.count("NVIDIA kernel driver is not loaded") == 1 and "Traceback" not in err
    assert gpus_of(report) == {}
    assert any("driver is not loaded" in w for w in report["warnings"])


def test_gpu_lost_mid_run_gives_a_partial_figure(gpu_run, tmp_path):
    log = tmp_path / "reads.log"
    proc, report = gpu_run(
        "--",
        "sleep",
        "2.5",
        FAKE_NVML_GPUS=2,
        FAKE_NVML_LOG=log,
        FAKE_NVML_GPU1_PROFILE="const:250",
        FAKE_NVML_GPU1_LOST_AFTER_S=1.0,
    )
    assert proc.returncode == 0, proc.stderr
    gpus = gpus_of(report)
    assert gpus[0]["partial"] is False
    assert gpus[0]["energy_j"] == pytest.approx(truth_j(log, 0, "energy", "const:100"), rel=0.01)
    lost = gpus[1]
    assert lost["partial"] is True
    # Exactly what the GPU drew while it answered, which was under half the run.
    assert lost["energy_j"] == pytest.approx(truth_j(log, 1, "energy", "const:250"), rel=0.01)
    assert lost["covered_s"] < 0.5 * report["duration_s"]
    assert lost["mean_power_w"] == pytest.approx(250, rel=0.02)
    assert "GpuIsLost" in lost["details"]["error"]
    assert any("GPU 1" in w and "GPU is lost" in w for w in report["warnings"])
    assert any("partial figure" in w and "Fake GPU 1" in w for w in report["warnings"])


def test_other_tenants_flag_the_gpu_shared(gpu_run, tmp_path):
    pids = tmp_path / "gpu-pids"
    # GPU 0 runs a process that is not the command's (this test's own); on GPU 1 the
    # only process is the command itself, which registers as it starts.
    pids.write_text(f"0 {os.getpid()}\n")
    command = (
        "import os, time\n"
        f"open({str(pids)!r}, 'a').write(f'1 {{os.getpid()}}\\n')\n"
        "time.sleep(2.5)\n"
    )
    proc, report = gpu_run("--", PY, "-c", command, FAKE_NVML_GPUS=2, FAKE_NVML_PIDS_FILE=pids)
    assert proc.returncode == 0, proc.stderr
    gpus = gpus_of(report)
    assert gpus[0]["details"]["shared_gpu"] is True
    assert gpus[0]["details"]["other_pids"] == [os.getpid()]
    assert gpus[1]["details"]["shared_gpu"] is False
    assert len(pids.read_text().splitlines()) == 2  # the command did list itself
    shared = [w for w in report["warnings"] if "shared" in w]
    assert len(shared) == 1 and "GPU 0" in shared[0] and "whole device" in shared[0]


def test_counter_disagreeing_with_power_is_warned(gpu_run):
    # Zeus issue #181: on some GPUs the counter and integrated power differ.
    proc, report = gpu_run(
        "--",
        "sleep",
        "3.5",
        FAKE_NVML_GPUS=1,
        FAKE_NVML_GPU0_PROFILE="const:200",
        FAKE_NVML_GPU0_ENERGY_SCALE=1.2,
    )
    assert proc.returncode == 0, proc.stderr
    assert gpus_of(report)[0]["mean_power_w"] == pytest.approx(240, rel=0.01)
    [warning] = [w for w in report["warnings"] if "differ" in w]
    assert "GPU 0" in warning and "17%" in warning
