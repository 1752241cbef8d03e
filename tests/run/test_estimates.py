"""Estimates say what they are worth: their basis, their range, what they leave out, and the
settings a user can know on a VM (issue 18). Through `greenmeter run` and its report."""

from __future__ import annotations

import json
import sys

import pytest

from greenmeter.sensors.estimate import (
    MEMORY_RANGE_FACTORS,
    STATIC_WATTS_PER_VCPU,
    STATIC_WATTS_PER_VCPU_RANGE,
    CpuEstimateSettingsError,
    command_vcpus,
    cpu_power_model,
    read_cpuinfo,
)

from conftest import read_report
from powercap_tree import PowercapTree, laptop

PY = sys.executable
BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
BARE_METAL = (
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\n"
    "physical id\t: 0\ncpu cores\t: 20\nflags\t\t: fpu sse2\n"
)
VM = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 hypervisor\n"


def component(report, source):
    (found,) = [c for c in report["components"] if c["source"] == source]
    return found


def test_a_fully_estimated_run_says_so_everywhere_with_its_range(greenmeter, tmp_path):
    proc = greenmeter("run", "--json", "r.json", "--csv", "r.csv", "--", PY, "-c", BURN)
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    assert report["energy_basis"] == {
        "total": "estimated",
        "cpu": "estimated",
        "gpu": None,
        "dram": "estimated",
    }
    cpu, dram = component(report, "estimate-cpu-time"), component(report, "estimate-rss")
    power = cpu_power_model(read_cpuinfo(), __import__("os").cpu_count() or 1)
    low, high = cpu["energy_range_j"]
    assert low == pytest.approx(cpu["energy_j"] * power.low_w / power.watts)
    assert high == pytest.approx(cpu["energy_j"] * power.high_w / power.watts)
    assert dram["energy_range_j"] == pytest.approx(
        [dram["energy_j"] * f for f in MEMORY_RANGE_FACTORS]
    )
    total = report["energy_j"]["total"]
    span = report["energy_range_j"]["total"]
    assert span == pytest.approx(
        [low + dram["energy_range_j"][0], high + dram["energy_range_j"][1]]
    )
    assert span[0] < total < span[1]
    co2 = report["carbon"]["co2_g"]
    assert report["co2_range_g"] == pytest.approx([co2 * span[0] / total, co2 * span[1] / total])
    assert any("estimated, not measured" in w for w in report["warnings"])
    assert report["leaves_out"] and "idle share" in report["leaves_out"][0]
    err = proc.stderr.decode()
    assert "estimated, not measured" in err.splitlines()[0]  # the headline says it
    assert "≈" in err and "not included: the machine's idle share" in err


def test_a_measured_cpu_beside_an_estimated_dram_is_mixed(greenmeter, tmp_path):
    tree = PowercapTree(tmp_path / "host")
    laptop(tree)  # a package but no dram domain
    proc = greenmeter(
        "run", "--json", "r.json", "--csv", "r.csv", "--", PY, "-c", "pass",
        env={"GREENMETER_POWERCAP_ROOT": str(tree.root)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    assert report["energy_basis"]["cpu"] == "measured"
    assert report["energy_basis"]["dram"] == "estimated"
    assert report["energy_basis"]["total"] == "mixed"
    (package,) = [c for c in report["components"] if c["kind"] == "cpu" and c["counted"]]
    assert package["source"] == "rapl" and package["energy_range_j"] is None  # no model
    assert report["leaves_out"] == []  # the measured package includes its idle power
    assert "partly estimated (dram)" in proc.stderr.decode().splitlines()[0]


def test_static_share_charges_the_idle_power_of_the_commands_vcpus(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "--static-share", "--json", "r.json", "--csv", "r.csv", "--",
        PY, "-c", "import time; time.sleep(1)",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    static = component(report, "estimate-static")
    assert static["kind"] == "cpu" and static["counted"] and static["method"] == "estimated"
    truth = STATIC_WATTS_PER_VCPU * command_vcpus() * report["duration_s"]
    assert static["energy_j"] == pytest.approx(truth, rel=0.02)
    low, high = (w / STATIC_WATTS_PER_VCPU for w in STATIC_WATTS_PER_VCPU_RANGE)
    assert static["energy_range_j"] == pytest.approx(
        [static["energy_j"] * low, static["energy_j"] * high]
    )
    assert report["leaves_out"] == []
    # A given figure is the user's own: charged as given, with no range of ours around it.
    greenmeter(
        "run", "--static-share", "2", "--json", "s.json", "--csv", "r.csv", "--", PY, "-c", "pass"
    )  # fmt: skip
    given = component(read_report(tmp_path / "s.json"), "estimate-static")
    assert given["energy_range_j"] == pytest.approx([given["energy_j"]] * 2)
    assert given["details"]["model"].startswith("2 W per vCPU")


def test_static_share_is_not_charged_over_a_measured_package(greenmeter, tmp_path):
    tree = PowercapTree(tmp_path / "host")
    laptop(tree)
    proc = greenmeter(
        "run", "--static-share", "--json", "r.json", "--csv", "r.csv", "--", PY, "-c", "pass",
        env={"GREENMETER_POWERCAP_ROOT": str(tree.root)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    assert not [c for c in report["components"] if c["source"] == "estimate-static"]
    assert "--static-share not charged" in proc.stderr.decode()


def test_watts_per_vcpu_is_used_as_given(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "--cpu-watts-per-vcpu", "2", "--json", "r.json", "--csv", "r.csv", "--",
        PY, "-c", BURN,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cpu = component(read_report(tmp_path / "r.json"), "estimate-cpu-time")
    assert cpu["energy_j"] == pytest.approx(cpu["details"]["cpu_s"] * 2, rel=0.01)
    assert cpu["energy_range_j"] == pytest.approx([cpu["energy_j"]] * 2)


def test_cpu_host_threads_without_a_tdp_is_refused_before_launch(greenmeter, tmp_path):
    proc = greenmeter("run", "--cpu-host-threads", "64", "--", PY, "-c", "open('ran', 'w')")
    assert proc.returncode == 125
    assert proc.stderr.decode().count("\n") == 1 and "--cpu-tdp" in proc.stderr.decode()
    assert not (tmp_path / "ran").exists()


@pytest.mark.skipif(" hypervisor" not in read_cpuinfo(), reason="needs a virtual machine")
def test_a_tdp_on_a_vm_needs_the_hosts_threads(greenmeter, tmp_path):
    proc = greenmeter("run", "--cpu-tdp", "360", "--", PY, "-c", "open('ran', 'w')")
    assert proc.returncode == 125
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "--cpu-host-threads" in err and "--cpu-watts-per-vcpu" in err
    assert not (tmp_path / "ran").exists()
    ok = greenmeter(
        "run", "--cpu-tdp", "360", "--cpu-host-threads", "64", "--json", "r.json", "--csv",
        "r.csv", "--", PY, "-c", BURN,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    cpu = component(read_report(tmp_path / "r.json"), "estimate-cpu-time")
    assert cpu["energy_j"] == pytest.approx(cpu["details"]["cpu_s"] * 360 / 64, rel=0.01)


def test_the_cpu_power_model_and_its_range():
    # Bare metal, model in the table: TDP over the package's threads; the low end at half
    # the TDP, the high end one busy thread per core (its sibling idle).
    model = cpu_power_model(BARE_METAL, 40)
    assert model.watts == pytest.approx(150 / 40)
    assert (model.low_w, model.high_w) == pytest.approx((150 / 40 / 2, 150 / 20))
    # A VM: CCF's 3.5 W per vCPU with the spread of CCF's per-architecture maxima.
    vm = cpu_power_model(VM, 2)
    assert (vm.watts, vm.low_w, vm.high_w) == (3.5, 1.64, 5.99)
    # A TDP on a VM is the host package's: refused without its threads, used with them.
    with pytest.raises(CpuEstimateSettingsError, match="--cpu-host-threads"):
        cpu_power_model(VM, 2, tdp_w=360)
    host = cpu_power_model(VM, 2, tdp_w=360, host_threads=64)
    assert (host.watts, host.low_w, host.high_w) == pytest.approx((5.625, 2.8125, 11.25))
    assert cpu_power_model(VM, 2, watts_per_vcpu=4.2).watts == 4.2


def test_several_kinds_of_units_with_their_throughput(greenmeter, tmp_path):
    script = (
        "import os\n"
        "with open(os.environ['GREENMETER_UNITS_FILE'], 'w') as f:\n"
        "    f.write('2500000 tokens\\n')\n"
    )
    proc = greenmeter(
        "run", "--units", "512:samples", "--units", "2e6:tokens", "--json", "r.json",
        "--csv", "r.csv", "--", PY, "-c", script,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    total, duration = report["energy_j"]["total"], report["duration_s"]
    assert report["units"] == 512 and report["unit_name"] == "samples"  # the first kind
    by_name = {u["name"]: u for u in report["units_of_work"]}
    assert by_name["tokens"]["count"] == 2_500_000  # the command's own count wins
    for unit in by_name.values():
        assert unit["energy_j_per_unit"] == pytest.approx(total / unit["count"])
        assert unit["co2_g_per_unit"] == pytest.approx(report["carbon"]["co2_g"] / unit["count"])
        assert unit["per_s"] == pytest.approx(
            unit["count"] / duration, rel=1e-4
        )  # duration_s is rounded
    err = proc.stderr.decode()
    assert "per sample (512 samples, " in err and "per token (2,500,000 tokens, " in err
    assert "tokens/s" in err
    assert "--units 2,000,000 tokens given, but the command wrote 2,500,000" in " ".join(
        err.split()
    )


def test_a_bad_units_value_is_refused_before_launch(greenmeter, tmp_path):
    proc = greenmeter("run", "--units", "many:samples", "--", PY, "-c", "open('ran', 'w')")
    assert proc.returncode == 125 and proc.stderr.decode().count("\n") == 1
    assert not (tmp_path / "ran").exists()


def test_the_html_page_labels_an_estimate(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "--json", "r.json", "--csv", "r.csv", "--html", "r.html", "--", PY, "-c", BURN
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "r.html").read_text()
    assert "estimated, not measured" in page and "≈" in page
    assert (
        "Not included: the machine&#x27;s idle share" in page
        or "Not included: the machine's idle share" in page
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["energy_basis"]["total"] == "estimated"
