"""greenmeter doctor's findings and rendering, on fake powercap trees."""

from __future__ import annotations

import io
import json

import pytest

from greenmeter.reports.doctor import render
from greenmeter.sensors import rapl
from greenmeter.sensors.diagnose import collect

from powercap_tree import PowercapTree, emulate_dac_for_root, laptop, two_sockets_with_dram

INPUTS = {
    "cpu_model": "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
    "tdp_w": 150.0,
    "logical_cpus": 80,
    "cpu_basis": "TDP 150 W / 40 logical CPUs per package",
}
NO_TDP = dict(INPUTS, cpu_model="Mystery CPU 9000", tdp_w=None)
GPUS = {
    "available": True,
    "reason": None,
    "fix": None,
    "driver_version": "550.54",
    "gpus": [
        {
            "index": 0,
            "name": "NVIDIA H100",
            "uuid": "GPU-1",
            "energy_counter": True,
            "power_limit_w": 700.0,
        }
    ],
}
NO_GPU = {
    "available": False,
    "reason": "NVML library not found",
    "fix": "install the driver",
    "driver_version": None,
    "gpus": [],
}


@pytest.fixture
def tree(tmp_path):
    return PowercapTree(tmp_path)


def plan(findings):
    return {e["kind"]: e for e in findings["plan"]}


def text(findings):
    out = io.StringIO()
    render(findings, out)
    return out.getvalue()


def test_server_with_readable_rapl_measures_cpu_and_dram(tree):
    two_sockets_with_dram(tree)
    found = collect(tree.root, estimate_inputs=INPUTS, nvml_report=GPUS)
    steps = plan(found)
    assert (steps["cpu"]["method"], steps["cpu"]["source"]) == ("measured", "rapl")
    assert (steps["dram"]["method"], steps["dram"]["source"]) == ("measured", "rapl")
    assert (steps["gpu"]["method"], steps["gpu"]["source"], steps["gpu"]["devices"]) == (
        "measured",
        "nvml-energy",
        1,
    )
    assert [z["counts_as"] for z in found["rapl"]["zones"]] == [
        "cpu",
        "detail (core)",
        "dram",
        "cpu",
        "detail (core)",
        "dram",
    ]
    assert json.loads(json.dumps(found)) == found


def test_laptop_explains_every_zone_and_the_missing_dram(tree):
    laptop(tree)
    found = collect(tree.root, estimate_inputs=INPUTS, nvml_report=NO_GPU)
    zones = {z["zone"]: z for z in found["rapl"]["zones"]}
    assert zones["intel-rapl:1"]["counts_as"] == "detail (psys)"
    assert "whole platform" in zones["intel-rapl:1"]["note"]
    assert zones["intel-rapl-mmio:0"]["counts_as"] == "detail (cpu)"
    assert "same counter as intel-rapl:0" in zones["intel-rapl-mmio:0"]["note"]
    steps = plan(found)
    assert steps["cpu"]["method"] == "measured"
    assert (steps["dram"]["method"], steps["dram"]["source"]) == ("estimated", "estimate-rss")
    assert "no dram domain" in steps["dram"]["reason"]
    assert steps["gpu"] == {
        "kind": "gpu",
        "method": None,
        "source": None,
        "reason": "NVML library not found",
        "fix": "install the driver",
    }
    shown = text(found)
    for expected in (
        "intel-rapl-mmio:0",
        "psys",
        "detail (uncore)",
        "NVML library not found",
        "not reported",
    ):
        assert expected in shown


def test_unreadable_rapl_gives_the_estimate_and_the_safe_fix(tree, monkeypatch):
    two_sockets_with_dram(tree)
    for zone in ("intel-rapl:0", "intel-rapl:0:1", "intel-rapl:1", "intel-rapl:1:1"):
        tree.make_unreadable(zone)
    emulate_dac_for_root(monkeypatch)
    found = collect(tree.root, estimate_inputs=NO_TDP, nvml_report=NO_GPU)
    steps = plan(found)
    assert steps["cpu"]["method"] == steps["dram"]["method"] == "estimated"
    assert steps["cpu"]["fix"].startswith(rapl.PERMISSION_FIX)
    assert "--cpu-tdp WATTS" in steps["cpu"]["fix"]
    assert "'Mystery CPU 9000' has no TDP" in steps["cpu"]["reason"]
    assert steps["dram"]["fix"] == rapl.PERMISSION_FIX
    assert found["rapl"]["zones"][0]["readable"] is False
    assert found["rapl"]["zones"][0]["problem"] == "energy_uj not readable (permission denied)"
    shown = text(found)
    assert "CVE-2020-8694" in shown and "permission denied" in shown


def test_gpus_without_energy_counter_are_polled():
    old = {**GPUS, "gpus": [dict(GPUS["gpus"][0], energy_counter=False)]}
    found = collect("/nonexistent", estimate_inputs=INPUTS, nvml_report=old)
    assert plan(found)["gpu"]["source"] == "nvml-power"
    assert "no (power is polled)" in text(found)


def test_no_rapl_at_all(tmp_path):
    found = collect(tmp_path / "none", estimate_inputs=INPUTS, nvml_report=NO_GPU)
    steps = plan(found)
    assert steps["cpu"]["method"] == "estimated"
    assert "no RAPL powercap zones" in steps["cpu"]["reason"]
    assert "modprobe intel_rapl_msr" in steps["cpu"]["fix"]
    assert (steps["dram"]["source"], steps["dram"]["fix"]) == ("estimate-rss", rapl.NO_ZONES_FIX)
    assert found["rapl"]["zones"] == []
    assert "RAPL: no zones" in text(found)


def test_on_a_vm_doctor_asks_for_what_the_user_can_know_and_never_for_a_driver(tmp_path):
    inputs = dict(NO_TDP, virtual_machine=True, cpu_basis="3.5 W per busy vCPU")
    findings = collect(tmp_path / "none", estimate_inputs=inputs, nvml_report=NO_GPU)
    cpu, dram = findings["plan"][0], findings["plan"][1]
    assert "--cpu-watts-per-vcpu" in cpu["fix"] and "--cpu-host-threads" in cpu["fix"]
    assert "virtual machine" in cpu["reason"]
    for entry in (cpu, dram):
        assert "modprobe" not in (entry["fix"] or "") and "--cpu-tdp WATTS (or" not in entry["fix"]
