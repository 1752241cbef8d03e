"""``greenmeter run`` measuring AMD GPUs end to end: the real CLI, the real ``amdsmi``
bindings, and the fake libamd_smi.so (tests/fake_amdsmi) they load through ROCM_PATH.

The fake draws a known power curve per physical GPU and logs each energy/power read
with its CLOCK_MONOTONIC time, so the truth is the curve's exact integral between
greenmeter's first and last read of each GPU.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from greenmeter.reports.timeline import read_timeline

from conftest import MARKER_CHILD, assert_refused, read_report
from fake_amdsmi import truth_j

UUID = "fa4e0{}0{}-0000-1000-8000-000000000000".format
"""amd-smi's UUID of partition k of physical GPU i in the fake."""
HIP_UUID = "GPU-fa4e0{}0{}00000000".format


@pytest.fixture(scope="module")
def fake_rocm(tmp_path_factory) -> Path:
    """A ROCm folder whose lib/ holds the fake libamd_smi.so, built once per module."""
    import fake_amdsmi

    try:
        return fake_amdsmi.build(tmp_path_factory.mktemp("fake-rocm"))
    except FileNotFoundError as exc:
        pytest.skip(f"cannot build the fake libamd_smi.so: no {exc}")


@pytest.fixture
def amd_run(greenmeter, gm_env, fake_rocm, tmp_path):
    """``amd_run(*run_args, rocm=..., **env)`` -> (CompletedProcess, report or None)."""
    hidden = ("FAKE_", "CUDA_", "HIP_", "ROCR_", "ROCM_", "LD_LIBRARY_PATH")

    def run(*args: str, rocm: Path | None = fake_rocm, **env: object):
        clean = {k: v for k, v in gm_env.items() if not k.startswith(hidden)}
        clean.update({k: str(v) for k, v in env.items()})
        if rocm is not None:
            clean["ROCM_PATH"] = str(rocm)
        report = tmp_path / "r.json"
        report.unlink(missing_ok=True)
        proc = greenmeter("run", "-q", "--json", str(report), *args, env=clean)
        return proc, (read_report(report) if report.exists() else None)

    return run


def gpus_of(report: dict) -> dict[int, dict]:
    return {c["index"]: c for c in report["components"] if c["kind"] == "gpu"}


def test_counter_and_polling_match_the_truth(amd_run, tmp_path):
    profiles = {0: "square:100:300:1", 1: "square:100:300:1", 2: "const:450"}
    log = tmp_path / "reads.log"
    pids = tmp_path / "pids"
    pids.write_text(f"1 {os.getpid()}\n")  # a process outside the command on logical GPU 1
    proc, report = amd_run(
        "--",
        "sh",
        "-c",
        "echo out; sleep 2.5; exit 3",
        FAKE_AMDSMI_GPUS=3,
        FAKE_AMDSMI_LOG=log,
        FAKE_AMDSMI_PIDS_FILE=pids,
        FAKE_AMDSMI_GPU1_NO_ENERGY=1,
        FAKE_AMDSMI_GPU1_POWER_FIELD="average",
        FAKE_AMDSMI_GPU2_PARTITIONS=4,
        FAKE_AMDSMI_GPU2_UTIL=80,
        **{f"FAKE_AMDSMI_GPU{i}_PROFILE": p for i, p in profiles.items()},
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == b"out\n"
    gpus = gpus_of(report)
    # Physical GPU 2 shows 4 logical GPUs (2..5); it is one component, counted once.
    assert sorted(gpus) == [0, 1, 2]
    assert [gpus[i]["source"] for i in (0, 1, 2)] == [
        "amdsmi-energy",
        "amdsmi-power",
        "amdsmi-energy",
    ]
    assert {g["method"] for g in gpus.values()} == {"measured"}
    # The counter: within 0.5 % of the exact integral; the polled square wave within 3 %.
    assert gpus[0]["energy_j"] == pytest.approx(truth_j(log, 0, "energy", profiles[0]), rel=0.005)
    assert gpus[2]["energy_j"] == pytest.approx(truth_j(log, 2, "energy", profiles[2]), rel=0.005)
    assert gpus[1]["energy_j"] == pytest.approx(truth_j(log, 1, "power", profiles[1]), rel=0.03)
    assert gpus[2]["energy_j"] > 1000  # 450 W for 2.5 s, once: not 4 partitions' worth
    assert report["energy_j"]["gpu"] == pytest.approx(sum(g["energy_j"] for g in gpus.values()))

    d0, d1, d2 = (gpus[i]["details"] for i in (0, 1, 2))
    assert gpus[0]["name"] == "AMD Instinct MI300X"
    assert d0["uuid"] == UUID(0, 0) and d2["uuid"] == UUID(2, 0)
    assert d0["max_power_w"] == 300.0
    assert d0["mean_utilization_pct"] == 50.0 and d2["mean_utilization_pct"] == 80.0
    assert d0["peak_memory_used_mib"] == 2048.0
    assert d0["counter_wraps"] == 0 and d0["counter_resets"] == 0
    assert d2["partitions"] == [UUID(2, k) for k in range(4)]
    assert d2["compute_partition"] == "QPX"
    assert d0["shared_gpu"] is False and d2["shared_gpu"] is False
    assert d1["shared_gpu"] is True and d1["other_pids"] == [os.getpid()]
    assert gpus[1]["samples"] >= 20  # the polled GPU forced the 10 Hz poll
    assert any("GPU 1" in w and "shared with processes outside" in w for w in report["warnings"])
    # The command may use all 4 partitions: nothing to say about them.
    assert not any("partitions" in w for w in report["warnings"])
    assert report["host"]["gpu_models"] == ["AMD Instinct MI300X"]


@pytest.mark.parametrize(
    ("env", "gpus_option", "measured", "partitions_used"),
    [
        # Logical GPUs: 0 = physical 0; 1 and 2 = the two partitions of physical 1.
        ({"HIP_VISIBLE_DEVICES": "0"}, None, [0], None),
        ({"HIP_VISIBLE_DEVICES": "2"}, None, [1], [UUID(1, 1)]),
        ({"HIP_VISIBLE_DEVICES": "0,5,1"}, None, [0], None),  # HIP stops at GPU 5
        ({"ROCR_VISIBLE_DEVICES": "2,0"}, None, [0, 1], [UUID(1, 1)]),
        # HIP's indexes count what ROCr shows: index 1 of [2, 0] is logical GPU 0.
        ({"ROCR_VISIBLE_DEVICES": "2,0", "HIP_VISIBLE_DEVICES": "1"}, None, [0], None),
        ({"ROCR_VISIBLE_DEVICES": HIP_UUID(1, 0)[:12]}, None, [1], [UUID(1, 0)]),
        ({"CUDA_VISIBLE_DEVICES": HIP_UUID(0, 0)}, None, [0], None),
        ({"HIP_VISIBLE_DEVICES": "0", "CUDA_VISIBLE_DEVICES": "1"}, None, [0], None),
        ({"HIP_VISIBLE_DEVICES": "", "CUDA_VISIBLE_DEVICES": "1"}, None, [1], [UUID(1, 0)]),
        ({"ROCR_VISIBLE_DEVICES": ""}, "2", [1], [UUID(1, 1)]),
        ({"HIP_VISIBLE_DEVICES": "0"}, "all", [0, 1], None),
        ({}, UUID(1, 1), [1], [UUID(1, 1)]),
        ({}, f"0,{HIP_UUID(1, 0)}", [0, 1], [UUID(1, 0)]),
    ],
)
def test_gpu_selection(amd_run, env, gpus_option, measured, partitions_used):
    args = [] if gpus_option is None else ["--gpus", gpus_option]
    proc, report = amd_run(
        *args, "--", "true", FAKE_AMDSMI_GPUS=2, FAKE_AMDSMI_GPU1_PARTITIONS=2, **env
    )
    assert proc.returncode == 0, proc.stderr
    gpus = gpus_of(report)
    assert sorted(gpus) == measured
    if partitions_used is not None:
        assert gpus[1]["details"]["partitions"] == partitions_used
        if len(partitions_used) < 2:
            assert any("split into 2 compute partitions (DPX)" in w for w in report["warnings"])


def test_hidden_gpus_are_not_measured(amd_run):
    proc, report = amd_run("--", "true", FAKE_AMDSMI_GPUS=2, ROCR_VISIBLE_DEVICES="")
    assert proc.returncode == 0
    assert gpus_of(report) == {} and report["energy_j"]["gpu"] is None
    assert proc.stderr == b""  # the command may use no GPU: nothing to say


def test_bad_gpus_refused_before_launch(amd_run, tmp_path):
    proc, report = amd_run("--gpus", "0,7", "--", *MARKER_CHILD, FAKE_AMDSMI_GPUS=2)
    assert_refused(proc, tmp_path, "--gpus", "7: no such GPU (AMD SMI sees 2: 0-1)")
    assert report is None


def test_partitions_and_dies_are_counted_once(amd_run, tmp_path):
    log = tmp_path / "reads.log"
    env = dict(
        FAKE_AMDSMI_GPUS=3,
        FAKE_AMDSMI_LOG=log,
        FAKE_AMDSMI_GPU0_PARTITIONS=8,
        FAKE_AMDSMI_GPU0_PROFILE="const:600",
        # One MI250X: two dies, the second reading 0 W, its power in the first's.
        FAKE_AMDSMI_GPU1_NAME="AMD Instinct MI250X",
        FAKE_AMDSMI_GPU2_NAME="AMD Instinct MI250X",
        FAKE_AMDSMI_GPU1_PROFILE="const:500",
        FAKE_AMDSMI_GPU2_SECONDARY_DIE=1,
    )
    proc, report = amd_run("--", "sleep", "1", **env)
    assert proc.returncode == 0, proc.stderr
    gpus = gpus_of(report)
    assert sorted(gpus) == [0, 8]  # logical 0-7: the MI300X; 8 and 9: the MI250X's dies
    assert gpus[0]["energy_j"] == pytest.approx(truth_j(log, 0, "energy", "const:600"), rel=0.005)
    assert gpus[8]["energy_j"] == pytest.approx(truth_j(log, 8, "energy", "const:500"), rel=0.005)
    assert gpus[8]["details"]["partitions"] == [UUID(1, 0), UUID(2, 0)]
    assert report["energy_j"]["gpu"] == pytest.approx(gpus[0]["energy_j"] + gpus[8]["energy_j"])
    assert proc.stderr == b""

    # A rank bound to the second die: measured through the first, and said so.
    log.unlink()
    proc, report = amd_run("--", "sleep", "1", HIP_VISIBLE_DEVICES="9", **env)
    gpus = gpus_of(report)
    assert sorted(gpus) == [8]
    assert gpus[8]["energy_j"] == pytest.approx(truth_j(log, 8, "energy", "const:500"), rel=0.005)
    assert gpus[8]["details"]["partitions"] == [UUID(2, 0)]
    assert any("GPU 8" in w and "both dies" in w for w in report["warnings"])


def test_counter_wrap_and_reset(amd_run, tmp_path):
    log = tmp_path / "reads.log"
    proc, report = amd_run(
        "--interval",
        "0.2",
        "--",
        "sleep",
        "3",
        FAKE_AMDSMI_GPUS=2,
        FAKE_AMDSMI_LOG=log,
        # 1 s after greenmeter opened the GPUs, while the command runs.
        FAKE_AMDSMI_GPU0_WRAP_AFTER_S=1,
        FAKE_AMDSMI_GPU1_RESET_AFTER_S=1,
    )
    assert proc.returncode == 0, proc.stderr
    wrapped, reset = gpus_of(report)[0], gpus_of(report)[1]
    assert wrapped["details"]["counter_wraps"] == 1
    assert wrapped["energy_j"] == pytest.approx(truth_j(log, 0, "energy", "const:300"), rel=0.005)
    # A reset loses what was drawn between the read before it and the reset: < 0.2 s.
    assert reset["details"]["counter_resets"] == 1
    truth = truth_j(log, 1, "energy", "const:300")
    assert truth - 300 * 0.25 < reset["energy_j"] <= truth * 1.001
    assert any("GPU 1" in w and "restarted" in w for w in report["warnings"])


def test_nvidia_and_amd_together_each_once(amd_run, fake_lib, tmp_path):
    amd_log, nv_log = tmp_path / "amd.log", tmp_path / "nvml.log"
    env = dict(
        LD_LIBRARY_PATH=fake_lib,
        FAKE_NVML_GPUS=2,
        FAKE_NVML_LOG=nv_log,
        FAKE_NVML_GPU1_PROFILE="const:250",
        FAKE_AMDSMI_GPUS=1,
        FAKE_AMDSMI_LOG=amd_log,
        FAKE_AMDSMI_GPU0_PARTITIONS=2,
    )
    proc, report = amd_run("--", "sleep", "1", **env)
    assert proc.returncode == 0, proc.stderr
    import fake_nvml

    gpus = [c for c in report["components"] if c["kind"] == "gpu"]
    by_source = {(c["source"], c["index"]): c["energy_j"] for c in gpus}
    assert sorted(by_source) == [("amdsmi-energy", 0), ("nvml-energy", 0), ("nvml-energy", 1)]
    assert by_source["nvml-energy", 1] == pytest.approx(
        fake_nvml.truth_j(nv_log, 1, "energy", "const:250"), rel=0.01
    )
    assert by_source["amdsmi-energy", 0] == pytest.approx(
        truth_j(amd_log, 0, "energy", "const:300"), rel=0.005
    )
    assert report["energy_j"]["gpu"] == pytest.approx(sum(by_source.values()))
    assert report["host"]["gpu_models"] == ["AMD Instinct MI300X", "Fake GPU 0", "Fake GPU 1"]

    # CUDA_VISIBLE_DEVICES is read by CUDA and by HIP alike: NVIDIA GPU 1, and logical
    # AMD GPU 1, the second partition of physical GPU 0. --gpus names either vendor's.
    proc, report = amd_run("--", "true", CUDA_VISIBLE_DEVICES="1", **env)
    gpus = [c for c in report["components"] if c["kind"] == "gpu"]
    assert sorted((c["source"], c["index"]) for c in gpus) == [
        ("amdsmi-energy", 0),
        ("nvml-energy", 1),
    ]
    assert next(c for c in gpus if c["source"] == "amdsmi-energy")["details"]["partitions"] == [
        UUID(0, 1)
    ]
    proc, report = amd_run(
        "--gpus", "GPU-fa4e0000-0000-0000-0000-000000000001", "--", "true", **env
    )
    assert [(c["source"], c["index"]) for c in report["components"] if c["kind"] == "gpu"] == [
        ("nvml-energy", 1)
    ]
    proc, _ = amd_run("--gpus", "5", "--", *MARKER_CHILD, **env)
    assert_refused(
        proc, tmp_path, "5: no such GPU (NVML sees 2: 0-1); no such GPU (AMD SMI sees 2: 0-1)"
    )


def test_bindings_without_library_change_nothing(amd_run, tmp_path):
    from greenmeter.sensors.amdsmi import find_library

    empty = tmp_path / "no-rocm"
    (empty / "lib").mkdir(parents=True)
    if find_library({"ROCM_PATH": str(empty)}) is not None:
        pytest.skip("this machine has a real libamd_smi.so")
    proc, report = amd_run("--", "sh", "-c", "echo out; exit 7", rocm=empty)
    assert proc.returncode == 7
    assert proc.stdout == b"out\n"
    assert proc.stderr == b""
    assert gpus_of(report) == {} and report["energy_j"]["gpu"] is None


def test_bindings_that_do_not_match_the_library_are_said_once(amd_run, fake_rocm, tmp_path):
    # A libamd_smi.so without the symbols the bindings bind: an older ROCm than they are.
    import shutil
    import subprocess

    old_rocm = tmp_path / "old-rocm"
    (old_rocm / "lib").mkdir(parents=True)
    (tmp_path / "empty.c").write_text("int amdsmi_placeholder(void) { return 0; }\n")
    subprocess.run(
        [shutil.which("cc") or "cc", "-shared", "-fPIC", "-o", str(old_rocm / "lib" / "libamd_smi.so"),
         str(tmp_path / "empty.c")],
        check=True,
    )  # fmt: skip
    proc, report = amd_run("--", "sh", "-c", "echo out; exit 5", rocm=old_rocm)
    err = proc.stderr.decode()
    assert proc.returncode == 5 and proc.stdout == b"out\n"
    assert err.count("the amdsmi bindings do not load ROCm's library") == 1, err
    assert "AttributeError" in err and "Traceback" not in err
    assert "share/amd_smi" in err  # the fix: the bindings ROCm ships
    assert gpus_of(report) == {}


def test_library_found_where_the_bindings_look(fake_rocm, tmp_path):
    from greenmeter.sensors.amdsmi import find_library

    empty = tmp_path / "empty"
    found = str(fake_rocm / "lib" / "libamd_smi.so")
    assert find_library({"ROCM_PATH": str(fake_rocm)}) == found
    assert find_library({"ROCM_HOME": str(fake_rocm), "ROCM_PATH": str(empty)}) == found
    # ROCM_HOME beats ROCM_PATH first; ROCM_PATH is tried again last, as the bindings do.
    assert find_library({"ROCM_HOME": str(empty), "ROCM_PATH": str(fake_rocm)}) == found


def test_library_words_never_reach_stdout(amd_run, fake_rocm):
    # The library writes to file descriptor 1 when it is loaded and at amdsmi_init; found
    # here through the dynamic linker's path rather than ROCM_PATH.
    proc, report = amd_run(
        "--",
        "sh",
        "-c",
        "echo out",
        rocm=None,
        LD_LIBRARY_PATH=fake_rocm / "lib",
        FAKE_AMDSMI_NOISY=1,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"out\n"
    assert sorted(gpus_of(report)) == [0]


def test_driver_not_loaded_is_said_once_and_the_run_goes_on(amd_run):
    proc, report = amd_run("--", "sh", "-c", "exit 7", FAKE_AMDSMI_INIT_ERROR=34)
    err = proc.stderr.decode()
    assert proc.returncode == 7
    assert err.count("amdgpu kernel driver is not loaded") == 1 and "Traceback" not in err
    assert "modprobe amdgpu" in err
    assert gpus_of(report) == {}


def test_doctor_lists_amd_gpus_and_fixes(greenmeter, gm_env, fake_rocm, tmp_path):
    env = {k: v for k, v in gm_env.items() if not k.startswith(("FAKE_", "ROCM_", "LD_"))}
    env.update(
        ROCM_PATH=str(fake_rocm),
        FAKE_AMDSMI_GPUS="2",
        FAKE_AMDSMI_GPU1_PARTITIONS="2",
        FAKE_AMDSMI_GPU1_NO_ENERGY="1",
    )
    proc = greenmeter("doctor", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    amd = found["amdsmi"]
    assert amd["available"] is True and amd["library"] == str(fake_rocm / "lib" / "libamd_smi.so")
    assert [(g["index"], g["energy_counter"], g["partition"]) for g in amd["gpus"]] == [
        (0, True, 0),
        (1, False, 0),
        (2, False, 1),
    ]
    assert amd["gpus"][0]["power"] == "current_socket_power"
    assert amd["gpus"][0]["power_limit_w"] == 750.0
    gpu_plan = next(p for p in found["plan"] if p["kind"] == "gpu")
    assert gpu_plan["method"] == "measured" and gpu_plan["source"] == "amdsmi-energy/amdsmi-power"
    checks = {c["check"]: c for c in amd["access"]}
    if not Path("/dev/kfd").exists():
        kfd = checks["/dev/kfd (the compute driver)"]
        assert kfd["ok"] is False and "--device=/dev/kfd" in kfd["fix"]
    table = greenmeter("doctor", env=env).stderr.decode()
    assert "GPUs (AMD SMI)" in table and "MI300X" in table and "current" in table

    # The bindings without the library: said plainly, with the fix.
    empty = tmp_path / "no-rocm"
    empty.mkdir()
    env["ROCM_PATH"] = str(empty)
    found = json.loads(greenmeter("doctor", "--json", env=env).stdout)
    if found["amdsmi"]["library"] is None:
        assert (
            "bindings are installed but ROCm's libamd_smi.so is not found"
            in (found["amdsmi"]["reason"])
        )
        assert "ROCM_PATH" in found["amdsmi"]["fix"]


# --- gauges and the findings built on them (FAKE_AMDSMI_GPU<i>_PHASES) ------------------

BUSY = "300:95:40000"
"""A well-fed AMD GPU: 300 W, gfx_activity 95 %, 40000 MiB of VRAM in use."""
IDLE = "80:0:1024"
GAUGES = ("gpu_util_pct", "gpu_memory_used_mib", "gpu_power_capped", "gpu_thermal")


def gauge_spans(report: dict, tmp_path: Path, gpu: int, quantity: str) -> list[float]:
    """The mean of one GPU's gauge over each span of the stored timeline, but a short last
    one: the timeline's times are the sampler's, a little off the sensor's own reads, which
    shows over a few milliseconds."""
    columns, points = read_timeline(tmp_path / report["timeline"]["file"])
    name = next(c["name"] for c in report["components"] if c["index"] == gpu)
    at = columns.index(f"gpu:{name}#{gpu}:{quantity}_s") - 1
    return [
        (b[at] - a[at]) / (t_b - t_a)
        for (t_a, a), (t_b, b) in itertools.pairwise(points)
        if t_b - t_a > 0.05
    ]


def finding_ids(report: dict) -> list[str]:
    return [f["id"] for f in report["findings"]]


def test_gauges_follow_the_phases_once_per_physical_gpu(amd_run, tmp_path):
    """Physical GPU 1 has two partitions: one set of gauges for it, as for its energy.
    Each reading is held until the next, so every span's mean is one phase's value."""
    proc, report = amd_run(
        "--interval",
        "0.1",
        "--",
        "sleep",
        "3",
        FAKE_AMDSMI_GPUS=2,
        FAKE_AMDSMI_GPU1_PARTITIONS=2,
        FAKE_AMDSMI_GPU0_PHASES=f"1.5:{IDLE},60:{BUSY}",
        FAKE_AMDSMI_GPU1_PHASES="60:200:40:8192",
    )
    assert proc.returncode == 0, proc.stderr
    components = report["components"]
    assert [
        (components[c["component"]]["index"], c["quantity"])
        for c in report["activity_channels"]
        if c["component"] is not None and components[c["component"]]["kind"] == "gpu"
    ] == [(i, q) for i in (0, 1) for q in GAUGES]
    assert [c for c in report["timeline"]["activity_columns"] if c.startswith("gpu:")] == [
        f"gpu:AMD Instinct MI300X#{i}:{q}_s" for i in (0, 1) for q in GAUGES
    ]
    util0 = gauge_spans(report, tmp_path, 0, "gpu_util_pct")
    memory0 = gauge_spans(report, tmp_path, 0, "gpu_memory_used_mib")
    assert len(util0) >= 10
    assert all(u == pytest.approx(0, abs=0.5) or u == pytest.approx(95, rel=0.05) for u in util0)
    busy = [u > 50 for u in util0]
    assert all(
        m == pytest.approx(40000 if b else 1024, rel=0.05)
        for m, b in zip(memory0, busy, strict=True)
    )
    # Idle first, busy after: the readings change once, at the phase boundary.
    assert busy == sorted(busy) and busy[0] is False and busy[-1] is True
    assert gauge_spans(report, tmp_path, 1, "gpu_util_pct") == pytest.approx(
        [40] * len(util0), rel=0.05
    )
    assert gauge_spans(report, tmp_path, 1, "gpu_memory_used_mib") == pytest.approx(
        [8192] * len(util0), rel=0.05
    )
    for quantity in ("gpu_power_capped", "gpu_thermal"):
        assert gauge_spans(report, tmp_path, 0, quantity) == [0.0] * len(util0)
    d0, d1 = (gpus_of(report)[i]["details"] for i in (0, 1))
    assert d0["peak_memory_used_mib"] == 40000 and d1["peak_memory_used_mib"] == 8192
    assert d0["memory_total_mib"] == 196592 and d1["memory_total_mib"] == 196592 / 2
    assert 0 < d0["mean_utilization_pct"] < 95 and d1["mean_utilization_pct"] == 40


def test_idle_and_unused_amd_gpus_are_found(amd_run, tmp_path):
    """GPU 0 works between an idle start-up and an idle tail; GPU 1 (two partitions)
    never works: idle-gpu for GPU 0, unused-gpu for GPU 1, and nothing else."""
    proc, report = amd_run(
        "--interval",
        "0.1",
        "--",
        "sleep",
        "4",
        FAKE_AMDSMI_GPUS=2,
        FAKE_AMDSMI_GPU1_PARTITIONS=2,
        FAKE_AMDSMI_GPU0_PHASES=f"1.2:{IDLE},1.5:{BUSY},60:{IDLE}",
        FAKE_AMDSMI_GPU1_PHASES="60:60:0:512",
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(finding_ids(report)) == ["idle-gpu", "unused-gpu"]
    [idle] = [f for f in report["findings"] if f["id"] == "idle-gpu"]
    [unused] = [f for f in report["findings"] if f["id"] == "unused-gpu"]
    assert idle["evidence"]["gpu"] == "GPU 0 (AMD Instinct MI300X)"
    assert idle["evidence"]["startup_s"] > 0.4 and idle["evidence"]["tail_s"] > 0.4
    # Idle at 80 W: the idle spans' energy is at least their length times 80 W.
    util = gauge_spans(report, tmp_path, 0, "gpu_util_pct")
    assert idle["evidence"]["idle_j"] >= 80 * 0.99 * (
        idle["evidence"]["startup_s"] + idle["evidence"]["tail_s"]
    )
    assert 0 in {round(u) for u in util} and 95 in {round(u) for u in util}
    assert unused["evidence"]["gpus"] == ["GPU 1 (AMD Instinct MI300X)"]
    # Counted once: 60 W for the device, not 120 W for its two partitions.
    assert unused["evidence"]["idle_power_w"] == [pytest.approx(60, rel=0.03)]
    gpu1_j = gpus_of(report)[1]["energy_j"]
    assert unused["energy_at_stake_j"] == pytest.approx(gpu1_j, abs=1e-2)


def test_well_utilised_amd_gpus_give_no_finding(amd_run, tmp_path):
    """GPU 1 is older than MI300: its gpu_metrics have no violation accumulators, so its
    throttling columns stay empty and, though the fake says it is held down, nothing is
    said about it."""
    proc, report = amd_run(
        "--interval",
        "0.1",
        "--",
        "sleep",
        "2",
        FAKE_AMDSMI_GPUS=2,
        FAKE_AMDSMI_GPU0_PHASES=f"60:{BUSY}",
        FAKE_AMDSMI_GPU1_PHASES=f"60:{BUSY}:3",
        FAKE_AMDSMI_GPU1_NO_VIOLATION=1,
    )
    assert proc.returncode == 0, proc.stderr
    assert report["findings"] == []
    for details in (g["details"] for g in gpus_of(report).values()):
        assert details["mean_utilization_pct"] == 95 and details["peak_memory_used_mib"] == 40000
    columns, points = read_timeline(tmp_path / report["timeline"]["file"])
    for gpu, empty in ((0, False), (1, True)):
        at = columns.index(f"gpu:AMD Instinct MI300X#{gpu}:gpu_power_capped_s") - 1
        assert all((values[at] is None) is empty for _, values in points[1:])


def test_power_capped_and_thermal_from_the_violation_accumulators(amd_run, tmp_path):
    """Busy throughout, held at its power limit (PPT) for the first 1.5 s and for
    temperature after: both findings, each for its share of the run."""
    proc, report = amd_run(
        "--interval",
        "0.1",
        "--",
        "sleep",
        "3.5",
        FAKE_AMDSMI_GPU0_PHASES=f"1.5:{BUSY}:1,60:{BUSY}:2",
    )
    assert proc.returncode == 0, proc.stderr
    assert finding_ids(report) in (["power-capped", "thermal"], ["thermal", "power-capped"])
    share = {f["id"]: f["evidence"]["throttled_share_pct"] for f in report["findings"]}
    assert 20 < share["power-capped"] < 60 and 40 < share["thermal"] < 80
    # The whole run was held down, but its first 0.5 s, before a second reading of the
    # accumulators, counts as not held down.
    assert 75 < share["power-capped"] + share["thermal"] <= 100
    capped = gauge_spans(report, tmp_path, 0, "gpu_power_capped")
    thermal = gauge_spans(report, tmp_path, 0, "gpu_thermal")
    # A span's share is the firmware's, measured over the readings before it (0.5 s).
    assert capped[-1] == 0 and thermal[-1] == pytest.approx(1, rel=0.05)
    assert max(capped) == pytest.approx(1, rel=0.05)
