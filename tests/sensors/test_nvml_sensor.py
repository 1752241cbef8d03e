"""The NVML sensor through the real pynvml module into a fake libnvidia-ml.so.1.

Each test runs ``fake_nvml/drive_sensor.py`` in a subprocess whose LD_LIBRARY_PATH
leads pynvml to the compiled fake; the library logs every energy/power read, so the
truth is the exact integral of its analytic power over the window greenmeter read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from greenmeter.sensors.base import GAUGE_QUANTITIES

import fake_nvml
from conftest import REPO
from fake_nvml import truth_j

DRIVER = Path(fake_nvml.__file__).with_name("drive_sensor.py")


def drive(fake_lib: Path, mode: str, arg: object = None, **fake_env: object) -> object:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_NVML_", "CUDA_"))}
    env.update({k: str(v) for k, v in fake_env.items()})
    env["LD_LIBRARY_PATH"] = str(fake_lib)
    env["PYTHONPATH"] = str(REPO)
    argv = [sys.executable, str(DRIVER), mode] + ([] if arg is None else [json.dumps(arg)])
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_counter_and_polling_paths_match_the_truth(fake_lib, tmp_path):
    profiles = {0: "square:100:300:1", 1: "const:200", 2: "square:100:300:1", 3: "ramp:100:300:4"}
    log = tmp_path / "reads.log"
    out = drive(
        fake_lib,
        "run",
        {"seconds": 2},
        FAKE_NVML_GPUS=4,
        FAKE_NVML_LOG=log,
        **{f"FAKE_NVML_GPU{i}_PROFILE": p for i, p in profiles.items()},
        **{f"FAKE_NVML_GPU{i}_NO_ENERGY": 1 for i in (1, 2, 3)},
    )
    assert [c["source"] for c in out["components"]] == ["nvml-energy"] + ["nvml-power"] * 3
    assert {c["kind"] for c in out["components"]} == {"gpu"}
    assert {c["method"] for c in out["components"]} == {"measured"}
    assert [c["name"] for c in out["components"]] == [f"Fake GPU {i}" for i in range(4)]
    # GPUs without a counter need the 10 Hz poll.
    assert out["max_interval_s"] == 0.1

    counter_truth = truth_j(log, 0, "energy", profiles[0])
    assert counter_truth > 300
    assert out["energy_j"][0] == pytest.approx(counter_truth, rel=0.01)
    for gpu in (1, 2, 3):
        polled_truth = truth_j(log, gpu, "power", profiles[gpu])
        assert out["energy_j"][gpu] == pytest.approx(polled_truth, rel=0.05), profiles[gpu]
    # A square wave polled at 10 Hz is off by a few per cent at most; a constant is exact.
    assert out["energy_j"][1] == pytest.approx(truth_j(log, 1, "power", profiles[1]), rel=1e-4)

    gpu0 = out["details"][0]
    assert gpu0["uuid"] == "GPU-fa4e0000-0000-0000-0000-000000000000"
    assert gpu0["max_power_w"] == 300.0
    assert gpu0["mean_utilization_pct"] == 50.0
    assert gpu0["peak_memory_used_mib"] == 1024.0
    assert gpu0["shared_gpu"] is False
    assert out["details"][1]["max_power_w"] == 200.0
    assert out["warnings"] == []


def test_gauges_integrate_utilisation_memory_and_throttle_reasons(fake_lib):
    """Constant readings: each gauge's integral is its value times the time covered, the
    same time for all of them (a reading stands for the span since the previous one)."""
    out = drive(
        fake_lib,
        "run",
        {"seconds": 1},
        FAKE_NVML_GPUS=2,
        FAKE_NVML_GPU0_UTIL=40,
        FAKE_NVML_GPU0_MEM_USED_MIB=2048,
        FAKE_NVML_GPU0_MEM_TOTAL_MIB=16384,
        FAKE_NVML_GPU0_THROTTLE=0x4 | 0x40,  # power cap and HW thermal slowdown
        FAKE_NVML_GPU1_THROTTLE=0x1,  # idle clocks
        FAKE_NVML_GPU1_NO_ENERGY=1,  # polled at 10 Hz: many short spans, same integrals
    )
    assert [(g["quantity"], g["component"]) for g in out["gauges"]] == [
        (q, i)
        for i in (0, 1)
        for q in (
            "gpu_util_pct",
            "gpu_memory_used_mib",
            "gpu_power_capped",
            "gpu_thermal",
            "gpu_idle_clocks",
        )
    ]
    assert {g["quantity"] for g in out["gauges"]} <= set(GAUGE_QUANTITIES)  # the vocabulary
    util, memory, capped, thermal, idle = out["activity"][:5]
    assert capped > 0.9  # seconds covered: the whole `sleep 1`
    assert util == pytest.approx(40 * capped, rel=1e-9)
    assert memory == pytest.approx(2048 * capped, rel=1e-9)
    assert thermal == pytest.approx(capped, rel=1e-9) and idle == 0
    util1, memory1, capped1, thermal1, idle1 = out["activity"][5:]
    assert util1 == pytest.approx(50 * idle1, rel=1e-9)  # the fake's default utilisation
    assert memory1 == pytest.approx(1024 * idle1, rel=1e-9)
    assert capped1 == thermal1 == 0 and idle1 > 0.9
    assert out["details"][0]["memory_total_mib"] == 16384
    assert out["details"][1]["memory_total_mib"] == 81920


def test_counter_only_needs_no_fast_poll(fake_lib, tmp_path):
    log = tmp_path / "reads.log"
    out = drive(
        fake_lib,
        "run",
        {"seconds": 1},
        FAKE_NVML_GPUS=2,
        FAKE_NVML_LOG=log,
        FAKE_NVML_GPU1_PROFILE="ramp:100:300:0.7",
    )
    assert out["max_interval_s"] is None
    for gpu, profile in ((0, "const:100"), (1, "ramp:100:300:0.7")):
        assert out["energy_j"][gpu] == pytest.approx(truth_j(log, gpu, "energy", profile), rel=0.01)


def test_counter_that_disagrees_with_power_is_reported(fake_lib, tmp_path):
    # Zeus issue #181: the counter and integrated power can differ on real GPUs.
    log = tmp_path / "reads.log"
    out = drive(
        fake_lib,
        "run",
        {"seconds": 3.5},
        FAKE_NVML_GPUS=1,
        FAKE_NVML_LOG=log,
        FAKE_NVML_GPU0_PROFILE="const:200",
        FAKE_NVML_GPU0_ENERGY_SCALE=0.8,
    )
    # The report keeps the counter's figure and says the two differ.
    truth = truth_j(log, 0, "energy", "const:200")
    assert out["energy_j"][0] == pytest.approx(0.8 * truth, rel=0.01)
    [warning] = out["warnings"]
    assert "differ by 25%" in warning and "GPU 0" in warning


def test_lost_gpu_keeps_the_run_and_reports_the_time_covered(fake_lib, tmp_path):
    log = tmp_path / "reads.log"
    out = drive(
        fake_lib,
        "run",
        {"seconds": 2.5},
        FAKE_NVML_GPUS=2,
        FAKE_NVML_LOG=log,
        FAKE_NVML_GPU1_PROFILE="const:250",
        FAKE_NVML_GPU1_LOST_AFTER_S=1.0,
    )
    assert out["end_read"][0] is not None and out["end_read"][1] is None
    whole_run_j = truth_j(log, 0, "energy", "const:100")
    assert out["energy_j"][0] == pytest.approx(whole_run_j, rel=0.01)
    # The lost GPU's figure is exactly what it drew while it answered: under half the run.
    partial = truth_j(log, 1, "energy", "const:250")
    assert out["energy_j"][1] == pytest.approx(partial, rel=0.01)
    assert partial / 250 < 0.5 * whole_run_j / 100
    assert "GpuIsLost" in out["details"][1]["error"]
    assert "error" not in out["details"][0]
    assert out["warnings"] == [
        "GPU 1 (Fake GPU 1): NVML stopped answering (NVMLError_GpuIsLost: GPU is lost)."
    ]


def test_other_processes_on_a_measured_gpu_flag_it_shared(fake_lib, tmp_path):
    pids = tmp_path / "gpu-pids"
    # GPU 0 runs a process outside the command (this test's own); GPU 1 only the command.
    pids.write_text(f"0 {os.getpid()}\n")
    out = drive(
        fake_lib,
        "run",
        {"seconds": 1, "pids_file": str(pids), "own_gpu": 1},
        FAKE_NVML_GPUS=2,
        FAKE_NVML_PIDS_FILE=pids,
    )
    assert out["details"][0]["shared_gpu"] is True
    assert out["details"][0]["other_pids"] == [os.getpid()]
    assert out["details"][1]["shared_gpu"] is False
    assert "other_pids" not in out["details"][1]
    [warning] = out["warnings"]
    assert "GPU 0" in warning and "whole device" in warning


def test_selection_follows_cuda_visible_devices_and_gpus_option(fake_lib):
    uuid1 = "GPU-fa4e0000-0000-0000-0000-000000000001"
    mig2 = "MIG-fa4e0002-0000-0000-0000-000000000001"
    cases = [
        (None, None),  # unset: every GPU
        (None, "1"),
        (None, "2,0"),
        (None, uuid1),
        (None, "GPU-fa4e0000-0000-0000-0000-0000000000"),  # ambiguous prefix: none
        (None, "GPU-2b7c"),  # a unique prefix, as CUDA accepts
        (None, "0,-1,2"),  # CUDA stops at the first invalid entry
        (None, "1,7,2"),
        (None, ""),
        (None, "NoDevFiles"),
        (None, mig2),
        (None, "MIG-" + uuid1 + "/1/0"),  # pre-R470 MIG form
        ("all", "1"),  # --gpus overrides the environment
        ("0,2", None),
        (uuid1, "0"),
        ("5", None),
        ("GPU-ffff", None),
        ("MIG-ffff", None),
        ("none", None),
        ("0,x", None),
    ]
    out = drive(
        fake_lib,
        "select",
        cases,
        FAKE_NVML_GPUS=3,
        FAKE_NVML_GPU2_MIG=2,
        FAKE_NVML_GPU2_UUID="GPU-2b7c9d1e-aaaa-bbbb-cccc-0123456789ab",
    )
    got = [o.get("indexes") for o in out]
    assert got == [
        [0, 1, 2],
        [1],
        [2, 0],
        [1],
        None,
        [2],
        [0],
        [1],
        None,
        None,
        [2],
        [1],
        [0, 1, 2],
        [0, 2],
        [1],
        None,
        None,
        None,
        None,
        None,
    ]
    assert "hides every GPU" in out[4]["unavailable"]
    assert "hides every GPU" in out[8]["unavailable"]
    assert "hides every GPU" in out[9]["unavailable"]
    assert any(mig2 in w and "whole GPU" in w for w in out[10]["warnings"])
    assert out[15]["error"] == "5: no such GPU (NVML sees 3: 0-2)"
    assert "no GPU has this UUID" in out[16]["error"]
    assert "no such MIG device" in out[17]["error"]
    assert "turned off" in out[18]["unavailable"]
    assert "'x' is not a GPU index" in out[19]["error"]


def test_cuda_index_order_warning_on_mixed_models(fake_lib):
    cases = [(None, "0"), (None, "GPU-fa4e0000-0000-0000-0000-000000000001"), ("0", None)]
    out = drive(fake_lib, "select", cases, FAKE_NVML_GPUS=2, FAKE_NVML_GPU1_NAME="Other GPU")
    assert "CUDA_DEVICE_ORDER" in " ".join(out[0]["warnings"])
    assert out[1]["indexes"] == [1] and out[1]["warnings"] == []  # UUIDs are unambiguous
    assert out[2]["warnings"] == []  # --gpus indexes are NVML's own


def test_a_gpu_nvml_cannot_open_costs_only_itself(fake_lib):
    out = drive(
        fake_lib,
        "select",
        [[None, None], ["1", None]],
        FAKE_NVML_GPUS=2,
        FAKE_NVML_GPU1_LOST_AFTER_S=0,
    )
    assert out[0]["indexes"] == [0]
    assert out[0]["warnings"] == ["GPU 1: NVML cannot read it (GPU is lost); it is not measured."]
    assert "no selected GPU" in out[1]["unavailable"]


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"FAKE_NVML_INIT_ERROR": 9}, "driver is not loaded"),
        ({"FAKE_NVML_INIT_ERROR": 999}, "NVML failed to start"),
        ({"FAKE_NVML_GPUS": 0}, "NVML sees no GPU"),
    ],
)
def test_no_usable_nvml_is_one_line_not_a_failure(fake_lib, env, reason):
    out = drive(fake_lib, "run", {"seconds": 0}, **env)
    assert reason in out["unavailable"]
    assert out["fix"]


def test_missing_library_is_reported(tmp_path):
    from ctypes.util import find_library

    if find_library("nvidia-ml"):
        pytest.skip("this machine has a real libnvidia-ml; it cannot be hidden from pynvml")
    out = drive(tmp_path, "run", {"seconds": 0})  # an empty directory on LD_LIBRARY_PATH
    assert out["unavailable"] == "no NVIDIA driver (libnvidia-ml.so.1 not found)"


def test_diagnose_lists_gpus_driver_and_counter_support(fake_lib):
    out = drive(
        fake_lib,
        "diagnose",
        FAKE_NVML_GPUS=2,
        FAKE_NVML_GPU1_NO_ENERGY=1,
        FAKE_NVML_DRIVER="535.104.05",
        FAKE_NVML_GPU0_NAME="NVIDIA H100 80GB HBM3",
        FAKE_NVML_GPU1_POWER_LIMIT_W=250,
    )
    assert out["available"] is True and out["reason"] is None
    assert out["driver_version"] == "535.104.05"
    assert out["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": "GPU-fa4e0000-0000-0000-0000-000000000000",
            "energy_counter": True,
            "power_limit_w": 400.0,
        },
        {
            "index": 1,
            "name": "Fake GPU 1",
            "uuid": "GPU-fa4e0000-0000-0000-0000-000000000001",
            "energy_counter": False,
            "power_limit_w": 250.0,
        },
    ]


def test_diagnose_without_driver_gives_the_reason(fake_lib):
    out = drive(fake_lib, "diagnose", FAKE_NVML_INIT_ERROR=9)
    assert out == {
        "available": False,
        "reason": "the NVIDIA kernel driver is not loaded",
        "fix": "check that nvidia-smi works",
        "driver_version": None,
        "gpus": [],
    }
