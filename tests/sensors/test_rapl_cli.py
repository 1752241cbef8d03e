"""RAPL end to end: ``python -m greenmeter run`` and ``doctor`` on fake powercap trees
(GREENMETER_POWERCAP_ROOT) whose counters advance at known powers in another process.

The truth for a component is power x ``covered_s``, the seconds between its first and
last read as the report gives them. Tolerance: 2 %.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from greenmeter.sensors import rapl

import powercap_tree
from conftest import read_report
from powercap_tree import (
    PowercapTree,
    laptop,
    spawn_driver,
    stop_driver,
    two_sockets_with_dram,
)

TOLERANCE = 0.02
PY = sys.executable
FAKE_TREE_HELPER = Path(powercap_tree.__file__)


@pytest.fixture
def tree(tmp_path):
    return PowercapTree(tmp_path / "host")


def components(report, kind):
    return [c for c in report["components"] if c["kind"] == kind]


def assert_close(measured, truth):
    assert truth > 0
    assert abs(measured - truth) / truth < TOLERANCE, (measured, truth)


def wrapping_server(tree):
    """Two sockets with dram, each counter wrapping every 1.5 s at the powers below."""
    two_sockets_with_dram(tree)
    powers = {
        "intel-rapl:0": 40.0,
        "intel-rapl:1": 25.0,
        "intel-rapl:0:1": 8.0,
        "intel-rapl:1:1": 5.0,
        "intel-rapl:0:0": 20.0,
        "intel-rapl:1:0": 12.0,
    }
    for zone, power_w in powers.items():
        tree.write(zone, "max_energy_range_uj", round(power_w * 1.5e6))
        tree.write(zone, "energy_uj", round(power_w * 1.4e6))  # first wrap 0.1 s in
    return powers


def test_run_measures_cpu_and_dram_within_2_percent_through_wraps(greenmeter, tree, tmp_path):
    powers = wrapping_server(tree)
    driver = spawn_driver(tree, powers)
    try:
        proc = greenmeter(
            "run",
            "--json",
            "r.json",
            "--",
            PY,
            "-c",
            "import time; time.sleep(3)",
            env={"GREENMETER_POWERCAP_ROOT": str(tree.root)},
        )
    finally:
        stop_driver(driver)
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    cpu, dram = components(report, "cpu"), components(report, "dram")
    assert [(c["name"], c["method"], c["source"], c["counted"]) for c in cpu] == [
        ("package-0", "measured", "rapl", True),
        ("package-1", "measured", "rapl", True),
    ]
    assert [c["name"] for c in dram] == ["package-0/dram", "package-1/dram"]
    covered = cpu[0]["covered_s"]
    assert covered > 2.9
    assert_close(report["energy_j"]["cpu"], (40.0 + 25.0) * covered)
    assert_close(report["energy_j"]["dram"], (8.0 + 5.0) * covered)
    # core is shown, never added: the total is packages + dram only.
    assert report["energy_j"]["total"] == pytest.approx(
        report["energy_j"]["cpu"] + report["energy_j"]["dram"]
    )
    assert [c["counted"] for c in components(report, "core")] == [False, False]
    assert all(c["details"]["wraps"] >= 1 for c in cpu + dram)
    err = proc.stderr.decode()
    assert "cannot measure" not in err and "Fix:" not in err  # no sensor gap to tell
    assert "measured, rapl" in err  # the summary names the source


def test_laptop_counts_the_package_once(greenmeter, tree, tmp_path):
    laptop(tree)
    tree.mirror("intel-rapl-mmio:0", of="intel-rapl:0")
    driver = spawn_driver(
        tree,
        {"intel-rapl:0": 12.0, "intel-rapl:0:0": 7.0, "intel-rapl:0:1": 1.5, "intel-rapl:1": 30.0},
    )
    try:
        proc = greenmeter(
            "run",
            "-q",
            "--json",
            "r.json",
            "--",
            "sleep",
            "2",
            env={"GREENMETER_POWERCAP_ROOT": str(tree.root)},
        )
    finally:
        stop_driver(driver)
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    package = next(c for c in report["components"] if c["name"] == "package-0")
    assert_close(report["energy_j"]["cpu"], 12.0 * package["covered_s"])
    assert components(report, "dram")[0]["method"] == "estimated"  # no dram zone on a laptop
    not_added = {c["name"] for c in report["components"] if not c["counted"]}
    assert not_added == {
        "package-0/core",
        "package-0/uncore",
        "psys",
        "package-0 [intel-rapl-mmio]",
    }


def unreadable(tree):
    two_sockets_with_dram(tree)
    for zone in (
        "intel-rapl:0",
        "intel-rapl:0:0",
        "intel-rapl:0:1",
        "intel-rapl:1",
        "intel-rapl:1:0",
        "intel-rapl:1:1",
    ):
        tree.make_unreadable(zone)


def greenmeter_as_a_user():
    """The argv prefix that runs greenmeter as a non-root reader would: as root, chmod 000
    does not stop reads, so the helper makes open() honour the mode bits (see
    powercap_tree.emulate_dac_for_root); as any other user, plain ``-m greenmeter``."""
    if os.geteuid() == 0:
        return [PY, str(FAKE_TREE_HELPER), "greenmeter-as-user"]
    return [PY, "-m", "greenmeter"]


def test_unreadable_counters_give_the_estimate_and_the_safe_hint_once(tree, tmp_path, gm_env):
    import subprocess

    unreadable(tree)
    proc = subprocess.run(
        [*greenmeter_as_a_user(), "run", "--json", "r.json", "--", PY, "-c", "pass"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        env={**gm_env, "GREENMETER_POWERCAP_ROOT": str(tree.root)},
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert err.count("CVE-2020-8694") == 1  # said once, before the command; not repeated
    assert err.count("udev rule or systemd-tmpfiles") == 1
    assert "Never 'chmod a+r'" in err
    assert "cannot measure cpu and dram" in err
    report = read_report(tmp_path / "r.json")
    assert [(c["kind"], c["method"]) for c in report["components"]] == [
        ("cpu", "estimated"),
        ("dram", "estimated"),
    ]
    assert any("CVE-2020-8694" in w for w in report["warnings"])


def test_doctor_text_and_json(greenmeter, tree):
    laptop(tree)
    env = {"GREENMETER_POWERCAP_ROOT": str(tree.root)}
    text = greenmeter("doctor", env=env)
    assert text.returncode == 0
    assert text.stdout == b""  # tables are greenmeter's own output: stderr
    shown = text.stderr.decode()
    for expected in (
        "What a run will report",
        "intel-rapl-mmio:0",
        "detail (psys)",
        "Estimate inputs",
    ):
        assert expected in shown
    as_json = greenmeter("doctor", "--json", env=env)
    assert as_json.returncode == 0
    found = json.loads(as_json.stdout)
    assert [(p["kind"], p["method"]) for p in found["plan"]][:2] == [
        ("cpu", "measured"),
        ("dram", "estimated"),
    ]
    assert len(found["rapl"]["zones"]) == 5
    assert found["estimate"]["logical_cpus"] >= 1
    gpu = found["plan"][2]
    assert gpu["kind"] == "gpu"
    if not found["nvml"]["available"]:  # no GPU here: the reason is NVML's own
        assert (gpu["method"], gpu["reason"]) == (None, found["nvml"]["reason"])


def test_doctor_explains_unreadable_counters(tree, tmp_path, gm_env):
    import subprocess

    unreadable(tree)
    proc = subprocess.run(
        [*greenmeter_as_a_user(), "doctor", "--json"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env={**gm_env, "GREENMETER_POWERCAP_ROOT": str(tree.root)},
    )
    assert proc.returncode == 0, proc.stderr
    plan = {p["kind"]: p for p in json.loads(proc.stdout)["plan"]}
    assert plan["cpu"]["method"] == "estimated"
    assert plan["cpu"]["fix"].startswith(rapl.PERMISSION_FIX)


def test_idle_baseline_reports_gross_and_net(greenmeter, tree, tmp_path):
    """Idle at 10 W (package) and 2 W (dram); the command makes it 40 W and 6 W while it
    holds the marker file. Net energy = (busy - idle) power x the busy time."""
    tree.add_zone("intel-rapl:0", "package-0", 1_000_000)
    tree.add_zone("intel-rapl:0:0", "dram", 1_000_000)
    marker = tmp_path / "busy"
    driver = spawn_driver(
        tree,
        {"intel-rapl:0": 40.0, "intel-rapl:0:0": 6.0},
        idle_powers_w={"intel-rapl:0": 10.0, "intel-rapl:0:0": 2.0},
        busy_marker=marker,
    )
    work = (
        f"import pathlib, time; m = pathlib.Path({str(marker)!r}); m.touch(); "
        f"time.sleep(2); m.unlink(); time.sleep(0.3)"
    )
    try:
        proc = greenmeter(
            "run",
            "--idle-baseline",
            "1",
            "--json",
            "r.json",
            "--",
            PY,
            "-c",
            work,
            env={"GREENMETER_POWERCAP_ROOT": str(tree.root)},
        )
    finally:
        switches = stop_driver(driver)
    assert proc.returncode == 0, proc.stderr
    assert [state for _, state in switches] == ["busy", "idle"]
    busy_s = switches[1][0] - switches[0][0]
    report = read_report(tmp_path / "r.json")
    package, dram = (
        next(c for c in report["components"] if c["kind"] == k and c["counted"])
        for k in ("cpu", "dram")
    )
    assert package["idle_power_w"] == pytest.approx(10.0, rel=TOLERANCE)
    assert dram["idle_power_w"] == pytest.approx(2.0, rel=TOLERANCE)
    assert_close(package["net_energy_j"], 30.0 * busy_s)
    assert_close(dram["net_energy_j"], 4.0 * busy_s)
    assert package["net_energy_j"] == pytest.approx(
        package["energy_j"] - package["idle_power_w"] * package["covered_s"]
    )
    assert_close(package["energy_j"], 10.0 * package["covered_s"] + 30.0 * busy_s)
    baseline = report["idle_baseline"]
    assert baseline["duration_s"] == pytest.approx(1.0, abs=0.2)
    assert baseline["energy_net_j"]["cpu"] == pytest.approx(package["net_energy_j"])
    assert baseline["energy_net_j"]["total"] == pytest.approx(
        package["net_energy_j"] + dram["net_energy_j"]
    )
    err = proc.stderr.decode()
    assert "measuring idle power for 1 s" in err and "above idle" in err


def test_without_idle_baseline_the_fields_are_null(greenmeter, tree, tmp_path):
    tree.add_zone("intel-rapl:0", "package-0", 1_000_000)
    proc = greenmeter(
        "run",
        "-q",
        "--json",
        "r.json",
        "--",
        "true",
        env={"GREENMETER_POWERCAP_ROOT": str(tree.root)},
    )
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    assert report["idle_baseline"] is None
    assert all(
        c["idle_power_w"] is None and c["net_energy_j"] is None for c in report["components"]
    )


def test_bad_idle_baseline_is_refused_before_launch(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "--idle-baseline", "-3", "--", PY, "-c", f"open({str(tmp_path / 'ran')!r}, 'w')"
    )
    assert proc.returncode == 125
    assert "--idle-baseline" in proc.stderr.decode()
    assert not (tmp_path / "ran").exists()


def test_signal_during_the_idle_baseline_never_starts_the_command(tmp_path, gm_env):
    import signal
    import subprocess
    import time

    ran = tmp_path / "ran"
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "greenmeter",
            "run",
            "--idle-baseline",
            "30",
            "--json",
            "r.json",
            "--",
            PY,
            "-c",
            f"open({str(ran)!r}, 'w')",
        ],
        cwd=tmp_path,
        env=gm_env,
        stderr=subprocess.PIPE,
    )
    assert b"measuring idle power" in proc.stderr.readline()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    assert b"the command was not started" in proc.stderr.read()
    assert not ran.exists() and not (tmp_path / "r.json").exists()


def test_idle_baseline_from_the_settings_file(greenmeter, tmp_path):
    (tmp_path / "greenmeter.toml").write_text("idle_baseline = 0.2\n")
    proc = greenmeter("run", "-q", "--json", "r.json", "--", "true")
    assert proc.returncode == 0, proc.stderr
    baseline = read_report(tmp_path / "r.json")["idle_baseline"]
    assert baseline["duration_s"] == pytest.approx(0.2, abs=0.1)
