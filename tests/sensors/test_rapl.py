"""RAPL powercap backend on kernel-like fake trees (never the real /sys).

Accuracy tests drive counters at known powers in a background thread and read them the
way the sampler does (as often as ``max_interval_s()`` asks, at most every 0.5 s); the
truth is power x the time between the first and the last read. Tolerance: 2 %.
"""

from __future__ import annotations

import os
import time

import pytest

from greenmeter.sensors import rapl
from greenmeter.sensors.base import SensorUnavailable

from powercap_tree import (
    CounterDriver,
    PowercapTree,
    emulate_dac_for_root,
    laptop,
    single_socket,
    two_sockets_with_dram,
)

TOLERANCE = 0.02


@pytest.fixture
def tree(tmp_path):
    return PowercapTree(tmp_path)


def sample(sensor, driver, duration_s: float, cap_s: float = 0.5):
    """Read like the sampler: exact first and last reads, in between as often as the
    sensor asks. The first and last reads see the counters frozen at a known instant.
    Returns (joules per component, seconds between those instants)."""
    with driver.frozen() as t_a:
        first = sensor.read_energy_j()
    while time.monotonic() - t_a < duration_s:
        time.sleep(min(cap_s, sensor.max_interval_s() or cap_s))
        sensor.read_energy_j()
    with driver.frozen() as t_b:
        last = sensor.read_energy_j()
    return [b - a for a, b in zip(first, last)], t_b - t_a


def by_name(sensor, energies):
    return {c.name: (c, e) for c, e in zip(sensor.components, energies)}


def counted_j(sensor, energies, kind):
    return sum(e for c, e in zip(sensor.components, energies) if c.counted and c.kind == kind)


def assert_close(measured, truth):
    assert truth > 0
    assert abs(measured - truth) / truth < TOLERANCE, (measured, truth)


# Discovery and classification -----------------------------------------------------------


def test_laptop_tree_counts_the_package_once(tree):
    laptop(tree)
    found = rapl.discover_zones(tree.root)
    # The control-type entries (intel-rapl, intel-rapl-mmio) are not zones.
    assert [(z.zone_id, z.kind, z.counted) for z in found] == [
        ("intel-rapl:0", "cpu", True),
        ("intel-rapl:0:0", "core", False),
        ("intel-rapl:0:1", "uncore", False),
        ("intel-rapl:1", "psys", False),
        ("intel-rapl-mmio:0", "cpu", False),
    ]
    zones = {z.zone_id: z for z in found}
    assert "intel-rapl:0" in zones["intel-rapl-mmio:0"].note
    assert zones["intel-rapl:0:1"].package == 0
    assert zones["intel-rapl:0"].path.is_symlink()


def test_two_sockets_with_dram_are_all_counted(tree):
    two_sockets_with_dram(tree)
    sensor = rapl.open_rapl(tree.root)
    summary = [(c.name, c.kind, c.index, c.counted) for c in sensor.components]
    assert summary == [
        ("package-0", "cpu", 0, True),
        ("package-0/core", "core", 0, False),
        ("package-0/dram", "dram", 0, True),
        ("package-1", "cpu", 1, True),
        ("package-1/core", "core", 1, False),
        ("package-1/dram", "dram", 1, True),
    ]
    assert all(c.source == "rapl" and c.method == "measured" for c in sensor.components)
    assert sensor.unavailable == {}


def test_mmio_is_counted_when_the_msr_zone_is_unreadable(tree, monkeypatch):
    tree.add_zone("intel-rapl:0", "package-0", 1000)
    tree.add_zone("intel-rapl-mmio:0", "package-0", 1000)
    tree.make_unreadable("intel-rapl:0")
    emulate_dac_for_root(monkeypatch)
    sensor = rapl.open_rapl(tree.root)
    assert [(c.name, c.counted) for c in sensor.components] == [
        ("package-0 [intel-rapl-mmio]", True)
    ]


def test_mirrored_dies_are_counted_once(tree):
    tree.add_zone("intel-rapl:0", "package-0-die-0", 7_000_000_000)
    tree.add_zone("intel-rapl:1", "package-0-die-1", 7_000_000_000)
    tree.mirror("intel-rapl:1", of="intel-rapl:0")
    zones = rapl.discover_zones(tree.root)
    assert [(z.name, z.package, z.counted, z.mirror_of) for z in zones] == [
        ("package-0-die-0", 0, True, None),
        ("package-0-die-1", 0, False, "intel-rapl:0"),
    ]


def test_distinct_dies_and_zero_counters_are_not_mirrors(tree):
    tree.add_zone("intel-rapl:0", "package-0-die-0", 7_000_000_000)
    tree.add_zone("intel-rapl:1", "package-0-die-1", 9_000_000_000)
    tree.add_zone("intel-rapl:2", "package-1-die-0", 0)
    tree.add_zone("intel-rapl:3", "package-1-die-1", 0)
    assert [z.counted for z in rapl.discover_zones(tree.root)] == [True, True, True, True]


def test_same_name_twice_in_one_interface_goes_to_the_mirror_check(tree):
    # Some multi-die kernels name every die package-0; distinct counters stay counted.
    tree.add_zone("intel-rapl:0", "package-0", 7_000_000_000)
    tree.add_zone("intel-rapl:1", "package-0", 9_000_000_000)
    assert [z.counted for z in rapl.discover_zones(tree.root)] == [True, True]


# Wraparound ------------------------------------------------------------------------------


def test_wraps_add_the_range_and_no_sample_is_lost(tree):
    tree.add_zone("intel-rapl:0", "package-0", 900, max_energy_range_uj=1000)
    sensor = rapl.open_rapl(tree.root)
    readings = []
    for raw in (950, 50, 40, 999, 0, 500):  # 50 J-wraps: +50, +100, +990, +959, +1, +500
        tree.write("intel-rapl:0", "energy_uj", raw)
        readings.append(sensor.read_energy_j()[0])
    assert readings == pytest.approx([50e-6, 150e-6, 1140e-6, 2099e-6, 2100e-6, 2600e-6])
    assert sensor.details()[0]["wraps"] == 3


def test_max_interval_before_and_after_power_is_known(tree):
    single_socket(tree, range_uj=60_000_000)  # 60 J: wraps every 1.5 s at 40 W
    sensor = rapl.open_rapl(tree.root)
    before = 60 / (rapl.SAFETY_FACTOR * rapl.DEFAULT_POWER_W)  # 60 J / (4 x 500 W) = 0.03 s
    assert sensor.max_interval_s() == pytest.approx(before)
    with CounterDriver(tree, {"intel-rapl:0": 40.0}):
        for _ in range(4):
            time.sleep(0.1)
            sensor.read_energy_j()
    # The highest recent power, about 40 W: 60 J / (4 x 40 W) = 0.375 s.
    assert 0.3 < sensor.max_interval_s() < 0.4


def test_max_interval_never_below_the_floor(tree):
    single_socket(tree, range_uj=10)
    assert rapl.open_rapl(tree.root).max_interval_s() == rapl.MIN_INTERVAL_S


# Accuracy against counters advancing at known power ----------------------------------------


def test_single_socket_within_2_percent(tree):
    single_socket(tree)
    sensor = rapl.open_rapl(tree.root)
    with CounterDriver(tree, {"intel-rapl:0": 35.0}) as driver:
        energies, elapsed = sample(sensor, driver, 1.5)
    assert_close(counted_j(sensor, energies, "cpu"), 35.0 * elapsed)


def test_two_sockets_and_dram_within_2_percent(tree):
    two_sockets_with_dram(tree)
    sensor = rapl.open_rapl(tree.root)
    powers = {
        "intel-rapl:0": 60.0,
        "intel-rapl:0:0": 40.0,
        "intel-rapl:0:1": 8.0,
        "intel-rapl:1": 45.0,
        "intel-rapl:1:0": 30.0,
        "intel-rapl:1:1": 5.0,
    }
    with CounterDriver(tree, powers) as driver:
        energies, elapsed = sample(sensor, driver, 1.5)
    assert_close(counted_j(sensor, energies, "cpu"), (60.0 + 45.0) * elapsed)
    assert_close(counted_j(sensor, energies, "dram"), (8.0 + 5.0) * elapsed)
    assert_close(by_name(sensor, energies)["package-1/core"][1], 30.0 * elapsed)


def test_wrap_every_1_5_s_at_40_w_within_2_percent(tree):
    single_socket(tree, range_uj=60_000_000)
    tree.write("intel-rapl:0", "energy_uj", 55_000_000)  # first wrap after 0.125 s
    # Left alone, a 2 s gap would hide a whole wrap (80 J > 60 J); the sensor asks for less.
    # The counter moves before the sensor opens, as a real package's always does.
    with CounterDriver(tree, {"intel-rapl:0": 40.0}) as driver:
        sensor = rapl.open_rapl(tree.root)
        energies, elapsed = sample(sensor, driver, 3.2, cap_s=2.0)
    assert_close(energies[0], 40.0 * elapsed)
    assert sensor.details()[0]["wraps"] == 3


def test_laptop_psys_core_uncore_and_mmio_are_not_added(tree):
    laptop(tree)
    tree.mirror("intel-rapl-mmio:0", of="intel-rapl:0")  # one counter, two interfaces
    sensor = rapl.open_rapl(tree.root)
    powers = {
        "intel-rapl:0": 15.0,
        "intel-rapl:0:0": 9.0,
        "intel-rapl:0:1": 2.0,
        "intel-rapl:1": 32.0,
    }
    with CounterDriver(tree, powers) as driver:
        energies, elapsed = sample(sensor, driver, 1.5)
    assert_close(counted_j(sensor, energies, "cpu"), 15.0 * elapsed)
    assert counted_j(sensor, energies, "dram") == 0  # no dram zone: nothing counted
    named = by_name(sensor, energies)
    assert_close(named["psys"][1], 32.0 * elapsed)
    assert_close(named["package-0 [intel-rapl-mmio]"][1], 15.0 * elapsed)
    assert {c.kind for c in sensor.components if c.counted} == {"cpu"}


def test_mirror_that_moves_differently_is_warned_about(tree):
    tree.add_zone("intel-rapl:0", "package-0-die-0", 7_000_000_000)
    tree.add_zone("intel-rapl:1", "package-0-die-1", 7_000_000_000)
    tree.mirror("intel-rapl:1", of="intel-rapl:0")
    sensor = rapl.open_rapl(tree.root)
    assert sensor.warnings() == []
    (tree.zone_dir("intel-rapl:1") / "energy_uj").unlink()
    tree.write("intel-rapl:1", "energy_uj", 7_000_000_000 + 20_000_000)
    sensor.read_energy_j()
    assert "taken for a mirror of intel-rapl:0" in sensor.warnings()[0]


# Broken and missing files ------------------------------------------------------------------


def test_no_zones_is_unavailable_with_a_fix(tree, tmp_path):
    for root in (tree.root, tmp_path / "absent"):
        with pytest.raises(SensorUnavailable) as err:
            rapl.open_rapl(root)
        assert isinstance(err.value, rapl.NoRaplZones)
        assert "no RAPL powercap zones" in err.value.reason
        assert "modprobe intel_rapl_msr" in err.value.fix


def test_unreadable_energy_gives_the_safe_fix(tree, monkeypatch):
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
    emulate_dac_for_root(monkeypatch)
    with pytest.raises(SensorUnavailable) as err:
        rapl.open_rapl(tree.root)
    assert err.value.reason == (
        "cannot measure cpu and dram (intel-rapl:0, intel-rapl:1, intel-rapl:0:1, intel-rapl:1:1: "
        "energy_uj not readable (permission denied)); estimated instead."
    )
    assert "CVE-2020-8694" in err.value.fix
    assert "udev rule or systemd-tmpfiles" in err.value.fix
    assert "Never 'chmod a+r'" in err.value.fix
    assert "docs/rapl.md" in err.value.fix


def test_chmod_000_really_blocks_reads_in_tests(tree, monkeypatch):
    # Guards the emulation: whoever runs the tests, a 000 file must not be readable.
    single_socket(tree)
    tree.make_unreadable("intel-rapl:0")
    emulate_dac_for_root(monkeypatch)
    with pytest.raises(PermissionError):
        open(tree.zone_dir("intel-rapl:0") / "energy_uj", "rb")  # noqa: SIM115 - must fail


def test_one_unreadable_socket_sends_cpu_to_the_estimate(tree, monkeypatch):
    two_sockets_with_dram(tree)
    tree.make_unreadable("intel-rapl:1")
    emulate_dac_for_root(monkeypatch)
    sensor = rapl.open_rapl(tree.root)
    # Summing one socket of two would be an under-count labelled "measured".
    assert {c.kind for c in sensor.components if c.counted} == {"dram"}
    assert set(sensor.unavailable) == {"cpu"}
    assert "intel-rapl:1" in sensor.unavailable["cpu"].reason
    assert "CVE-2020-8694" in sensor.unavailable["cpu"].fix


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no max_energy_range_uj"),
        ("garbage\n", "max_energy_range_uj unreadable (not a non-negative integer)"),
        ("0\n", "max_energy_range_uj is 0"),
        ("-5\n", "max_energy_range_uj unreadable (not a non-negative integer)"),
    ],
)
def test_package_without_a_valid_range_is_not_measured(tree, content, problem):
    tree.add_zone("intel-rapl:0", "package-0", 1000, max_energy_range_uj=content)
    (zone,) = rapl.discover_zones(tree.root)
    assert zone.problem.startswith(problem)
    with pytest.raises(SensorUnavailable) as err:
        rapl.open_rapl(tree.root)
    assert problem in err.value.reason
    assert err.value.reason.startswith("cannot measure cpu (intel-rapl:0: ")


def test_dram_without_range_leaves_packages_measured(tree):
    tree.add_zone("intel-rapl:0", "package-0", 1000)
    tree.add_zone("intel-rapl:0:0", "dram", 1000, max_energy_range_uj=None)
    sensor = rapl.open_rapl(tree.root)
    assert [c.kind for c in sensor.components] == ["cpu"]
    assert "no max_energy_range_uj" in sensor.unavailable["dram"].reason


def test_garbage_energy_at_open_and_during_the_run(tree):
    tree.add_zone("intel-rapl:0", "package-0", "not a number\n")
    with pytest.raises(SensorUnavailable, match="energy_uj unreadable"):
        rapl.open_rapl(tree.root)
    tree.write("intel-rapl:0", "energy_uj", 1_000_000)
    sensor = rapl.open_rapl(tree.root)
    tree.write("intel-rapl:0", "energy_uj", "")
    assert sensor.read_energy_j() == [None]
    tree.write("intel-rapl:0", "energy_uj", 3_500_000)
    assert sensor.read_energy_j() == [pytest.approx(2.5)]  # the gap is covered, not lost
    assert "1 failed read" in sensor.warnings()[0]


def test_energy_uj_replaced_by_a_directory_is_unusable(tree):
    single_socket(tree)
    energy = tree.zone_dir("intel-rapl:0") / "energy_uj"
    energy.unlink()
    energy.mkdir()
    (zone,) = rapl.discover_zones(tree.root)
    assert not zone.usable and zone.problem.startswith("energy_uj unreadable")


def test_unknown_domains_are_listed_but_never_used(tree):
    tree.add_zone("intel-rapl:0", "package-0", 1000)
    tree.add_zone("intel-rapl:0:0", "mystery", 1000)
    sensor = rapl.open_rapl(tree.root)
    assert [c.name for c in sensor.components] == ["package-0"]
    assert rapl.discover_zones(tree.root)[1].note == "unknown domain: not used"


def test_discovery_reads_nothing_outside_the_root(tree, monkeypatch):
    real_open = open
    seen = []

    def spy(file, *args, **kwargs):
        seen.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    laptop(tree)
    rapl.open_rapl(tree.root).read_energy_j()
    assert seen and all(path.startswith(str(tree.root)) for path in seen)


# Wiring: open_sensors ------------------------------------------------------------------------


def opened(monkeypatch, tree):
    from greenmeter.sensors.machine import open_sensors
    from greenmeter.sensors.process_tree import ProcessTree

    monkeypatch.setenv("GREENMETER_POWERCAP_ROOT", str(tree.root))
    found = open_sensors(ProcessTree())
    return found, [(c.kind, c.source, c.counted) for s in found.sensors for c in s.components]


def test_open_sensors_measures_with_rapl_and_estimates_nothing_it_covers(tree, monkeypatch):
    two_sockets_with_dram(tree)
    found, comps = opened(monkeypatch, tree)
    assert [c for c in comps if c[2]] == [
        ("cpu", "rapl", True),
        ("dram", "rapl", True),
        ("cpu", "rapl", True),
        ("dram", "rapl", True),
    ]
    assert found.unavailable == {}


def test_open_sensors_estimates_what_rapl_cannot_read_and_says_why(tree, monkeypatch):
    two_sockets_with_dram(tree)
    tree.make_unreadable("intel-rapl:1")
    emulate_dac_for_root(monkeypatch)
    found, comps = opened(monkeypatch, tree)
    assert [c for c in comps if c[2]] == [
        ("dram", "rapl", True),
        ("dram", "rapl", True),
        ("cpu", "estimate-cpu-time", True),
    ]
    assert list(found.unavailable) == ["RAPL cpu"]
    assert found.unavailable["RAPL cpu"].fix == rapl.PERMISSION_FIX


def test_open_sensors_is_silent_without_any_rapl_zone(tree, monkeypatch):
    # VMs and containers have none: nothing to fix, the estimate's label says it all.
    found, comps = opened(monkeypatch, tree)
    assert [c[1] for c in comps] == ["estimate-cpu-time", "estimate-rss"]
    assert found.unavailable == {}
