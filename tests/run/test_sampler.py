"""The sampler against sensors whose truth is known exactly (a fake clock, no threads' timing)."""

from __future__ import annotations

import pytest

from greenmeter.results import ActivityChannel, ComponentResult, energy_by_kind
from greenmeter.run import sampler as sampler_mod
from greenmeter.run.result import component_results
from greenmeter.run.sampler import Sampler
from greenmeter.sensors.base import MEASURED, Component, Gauge, Sensor

from conftest import FakeClock


class ConstantPower(Sensor):
    """A counter at ``power_w``, readable until ``fail_after_s`` (then None)."""

    def __init__(self, clock, power_w, kind="cpu", fail_after_s=None, counted=True):
        self.clock, self.power_w, self.fail_after_s = clock, power_w, fail_after_s
        self.t0 = clock()
        self.components = (Component(kind, "fake", "fake", MEASURED, 0, counted),)

    def read_energy_j(self):
        elapsed = self.clock() - self.t0
        if self.fail_after_s is not None and elapsed > self.fail_after_s:
            return [None]
        return [self.power_w * elapsed]


class Broken(Sensor):
    components = (Component("gpu", "broken", "fake", MEASURED, 0),)

    def read_energy_j(self):
        raise RuntimeError("device fell off the bus")


def _drive(sampler: Sampler, clock: FakeClock, seconds: float, step_s: float):
    """The sampler's reads by hand on the fake clock: the first exact read, one read
    every ``step_s`` (what the thread does), and what was measured by then."""
    sampler.begin()
    for _ in range(round(seconds / step_s)):
        clock.t += step_s
        sampler.sample()
    return sampler.snapshot()


def test_energy_is_last_minus_first_and_mean_power_exact():
    clock = FakeClock(100.0)
    sensors = [ConstantPower(clock, 40.0), ConstantPower(clock, 7.5, kind="dram")]
    m = _drive(Sampler(sensors, 0.5, clock=clock), clock, 10.0, 0.5)
    comps = component_results(sensors, m)
    assert comps[0].energy_j == pytest.approx(400.0)
    assert comps[0].mean_power_w == pytest.approx(40.0)
    assert comps[1].energy_j == pytest.approx(75.0)
    assert comps[0].samples == 21 and not comps[0].partial
    assert energy_by_kind(comps) == pytest.approx(
        {"total": 475.0, "cpu": 400.0, "gpu": None, "dram": 75.0}
    )


def test_detail_components_are_never_added():
    clock = FakeClock(100.0)
    sensors = [
        ConstantPower(clock, 40.0),
        ConstantPower(clock, 10.0, kind="core", counted=False),
        ConstantPower(clock, 90.0, kind="psys", counted=False),
    ]
    m = _drive(Sampler(sensors, 1.0, clock=clock), clock, 5.0, 1.0)
    assert energy_by_kind(component_results(sensors, m))["total"] == pytest.approx(200.0)


def test_component_lost_mid_run_keeps_last_good_value_and_is_partial():
    clock = FakeClock(100.0)
    sensors = [ConstantPower(clock, 100.0, kind="gpu", fail_after_s=3.0)]
    m = _drive(Sampler(sensors, 1.0, clock=clock), clock, 10.0, 1.0)
    comp = component_results(sensors, m)[0]
    assert comp.energy_j == pytest.approx(300.0)
    assert comp.partial and comp.covered_s == pytest.approx(3.0)


def test_a_raising_sensor_does_not_stop_the_others():
    clock = FakeClock(100.0)
    sensors = [Broken(), ConstantPower(clock, 20.0)]
    m = _drive(Sampler(sensors, 1.0, clock=clock), clock, 4.0, 1.0)
    comps = component_results(sensors, m)
    assert comps[0].energy_j is None and comps[0].partial
    assert comps[1].energy_j == pytest.approx(80.0)
    assert any("device fell off the bus" in e for e in m.sensor_errors)


def test_timeline_is_bounded_and_keeps_energy(monkeypatch):
    monkeypatch.setattr(sampler_mod, "MAX_TIMELINE_POINTS", 64)
    clock = FakeClock(100.0)
    sensors = [ConstantPower(clock, 40.0)]
    m = _drive(Sampler(sensors, 0.1, clock=clock), clock, 100.0, 0.1)
    assert len(m.timeline) <= 64
    assert m.timeline[0] == (0.0, [0.0])
    t_last, (j_last,) = m.timeline[-1]
    assert t_last == pytest.approx(100.0) and j_last == pytest.approx(4000.0)


class Busy(ConstantPower):
    """Also a gauge, utilisation ``t mod 10`` per cent, kept as its running integral."""

    gauges = (Gauge("gpu_util_pct", 0),)

    def read_activity(self):
        elapsed = self.clock() - self.t0
        whole, part = divmod(elapsed, 10.0)
        return [whole * 45.0 + part * part / 2]  # the integral of (t mod 10) dt


def test_gauges_are_thinned_with_the_energy_and_stay_exact(monkeypatch):
    monkeypatch.setattr(sampler_mod, "MAX_TIMELINE_POINTS", 64)
    clock = FakeClock(100.0)
    sensors = [ConstantPower(clock, 5.0, kind="dram"), Busy(clock, 40.0, kind="gpu")]
    m = _drive(Sampler(sensors, 0.1, clock=clock), clock, 100.0, 0.1)
    assert m.channels == [ActivityChannel("gpu_util_pct", 1)]  # numbered across sensors
    assert [t for t, _ in m.activity] == [t for t, _ in m.timeline]
    assert len(m.activity) <= 64
    for t, (value,) in m.activity:
        whole, part = divmod(t, 10.0)
        assert value == pytest.approx(whole * 45.0 + part * part / 2)
    assert m.activity[-1][0] == pytest.approx(100.0)  # the newest point ends both


class FastPoll(ConstantPower):
    def max_interval_s(self):
        return 0.05


def test_thread_reads_fast_sensors_more_often():
    import time

    fast, slow = FastPoll(time.monotonic, 1.0), ConstantPower(time.monotonic, 1.0)
    s = Sampler([fast, slow], 0.5)
    s.start()
    time.sleep(1.2)
    m = s.stop()
    fast_reads, slow_reads = (t.reads for t in m.traces)
    # Counts of reads, not times: 1.2 s at 50 ms vs 500 ms (+ the exact start/end reads).
    assert fast_reads >= 3 * slow_reads


def test_component_result_has_no_power_without_coverage():
    comp = ComponentResult("cpu", "x", None, "s", MEASURED, True, 0.0, None, 1, True, 0.0)
    assert energy_by_kind([comp])["total"] == 0.0


def test_a_boundary_read_gives_the_counter_at_the_callers_earlier_instant():
    """A mark stamped at t is read a little later: the counter at t lies between the
    component's previous read and this one (exact for a steady draw), clamped outside."""
    clock = FakeClock(50.0)
    sensors = [ConstantPower(clock, 40.0), ConstantPower(clock, 5.0, kind="dram")]
    sampler = Sampler(sensors, 1.0, clock=clock)
    sampler.begin()
    clock.t += 1.0
    sampler.sample()  # previous read at 1.0 s
    clock.t += 0.25
    boundary = sampler.read_now()  # read at 1.25 s for a mark stamped at 1.2 s
    assert boundary.read_s == pytest.approx(1.25)
    assert boundary.energy_j == pytest.approx([50.0, 6.25])
    assert boundary.at(1.2) == pytest.approx([48.0, 6.0])
    assert boundary.at(0.5) == pytest.approx([40.0, 5.0])  # before the previous read
    assert boundary.at(2.0) == pytest.approx([50.0, 6.25])  # after this read
    assert sampler.end().timeline[-2][0] == pytest.approx(1.25)  # the read is a point too


def test_on_point_sees_each_timeline_point_of_the_thread_and_no_other_read():
    import threading
    import time

    fast, slow = FastPoll(time.monotonic, 1.0), ConstantPower(time.monotonic, 1.0)
    seen: list[tuple[int, int, int]] = []  # (timeline points, fast reads, slow reads)
    two = threading.Event()

    def on_point(sampler: Sampler) -> None:
        m = sampler.snapshot()
        seen.append((len(m.timeline), *(t.reads for t in m.traces)))
        if len(seen) == 2:
            two.set()

    s = Sampler([fast, slow], 0.2, on_point=on_point)
    s.start()
    assert two.wait(timeout=30)
    s.stop()
    # Called after each point the thread reads (the slow sensor is read at points only:
    # begin()'s read, then one per point), not for the fast sensor's reads in between.
    assert [slow_reads for _, _, slow_reads in seen[:2]] == [2, 3]
