"""The carbon step (energy -> CO2e): the run's timeline x an hourly series, by hand."""

from datetime import datetime, timezone

import pytest

from greenmeter.carbon.footprint import CarbonOptions, energy_intervals, footprint
from greenmeter.carbon.intensity_series import IntensitySeries, parse_timestamp
from greenmeter.carbon.regions import resolve_region

H = 3600.0
START = datetime(2024, 3, 1, 10, 30, tzinfo=timezone.utc)
# 10:30 -> 11:00 -> 12:00; cumulative joules per component (cpu, core, dram) at each point.
# "core" is a detail component (inside the package): never counted.
TIMELINE = [
    (0.0, [0.0, 0.0, 0.0]),
    (1800.0, [1.8e6, 9e9, 0.18e6]),
    (5400.0, [5.4e6, 9e9, 0.54e6]),
]
COUNTED = [True, False, True]
TOTAL_J = 5.94e6


def carbon_of(grid, pue=1.0, series=None):
    options = CarbonOptions(grid=grid, pue=pue, series=series)
    return footprint(options, TOTAL_J, TIMELINE, COUNTED, START.timestamp())


def series():
    t0 = parse_timestamp("2024-03-01T10:00:00Z")
    return IntensitySeries(
        [t0, t0 + H, t0 + 2 * H], [100.0, 200.0, 400.0], source="file:x.csv", basis="lifecycle"
    )


def test_hour_by_hour_co2_matches_a_hand_computation():
    c, warnings = carbon_of(resolve_region("DE"), 1.5, series())
    # counted energy: 10:30-11:00 1.98 MJ at 100 g/kWh; 11:00-12:00 3.96 MJ at 200 g/kWh
    # (the uncounted "core" component's 9 GJ must not appear anywhere)
    it_co2 = (1.98e6 * 100 + 3.96e6 * 200) / 3.6e6  # 275 g
    assert c.co2_g == pytest.approx(it_co2 * 1.5)  # x PUE: 412.5 g
    assert c.intensity_g_per_kwh == pytest.approx(
        it_co2 / (5.94e6 / 3.6e6)
    )  # 166.67 energy-weighted
    assert c.energy_kwh == pytest.approx(5.94e6 / 3.6e6) and c.energy_kwh_with_pue == pytest.approx(
        1.65 * 1.5
    )
    assert c.co2_g == pytest.approx(
        c.energy_kwh_with_pue * c.intensity_g_per_kwh
    )  # the documented identity
    assert (c.time_resolved, c.intensity_source, c.intensity_year, c.basis) == (
        True,
        "file:x.csv",
        2024,
        "lifecycle",
    )
    assert (c.zone_id, c.region, c.region_fallback, c.intensity_outside_s) == (
        "DEU",
        "DE",
        False,
        0.0,
    )
    assert not any("outside" in w for w in warnings)


def test_without_a_series_the_yearly_figure_is_used():
    c, _ = carbon_of(resolve_region("FR"))
    assert c.co2_g == pytest.approx(5.94e6 / 3.6e6 * 44.18)
    assert (c.time_resolved, c.intensity_source, c.intensity_year) == (False, "ember", 2024)


def test_series_without_region_is_not_the_world_average_fallback():
    c, warnings = carbon_of(resolve_region(None), series=series())
    assert (c.region, c.zone_id, c.region_fallback, c.zone_name) == (
        None,
        None,
        False,
        "file:x.csv",
    )
    assert not any("world average" in w for w in warnings)


def test_run_outside_the_series_is_charged_the_nearest_value_and_warned():
    early = IntensitySeries(
        [parse_timestamp("2022-01-01T00:00:00Z")], [50.0], source="file:old.csv"
    )
    c, warnings = carbon_of(resolve_region("DE"), series=early)
    assert c.co2_g == pytest.approx(5.94e6 / 3.6e6 * 50)
    assert c.intensity_outside_s == pytest.approx(5400.0) and c.intensity_year == 2022
    assert any(
        "5400 s of the run fall outside the intensity series (file:old.csv)" in w for w in warnings
    )
    assert any("basis is 'unspecified'" in w for w in warnings)


def test_energy_intervals_fill_gaps_and_add_up_to_the_total():
    timeline = [(0.0, [0.0, 0.0]), (1.0, [None, 5.0]), (2.0, [10.0, 6.0])]
    # component 0 unreadable at t=1: its energy lands in the next interval; the end-only 4 J too
    intervals = energy_intervals(timeline, [True, True], 1000.0, total_j=20.0)
    assert intervals == [(1000.0, 1001.0, 5.0), (1001.0, 1002.0, 15.0)]
    assert energy_intervals([(0.0, [0.0])], [True], 1000.0, total_j=3.0) == [(1000.0, 1000.0, 3.0)]
    assert energy_intervals([(0.0, [0.0])], [True], 1000.0, total_j=0.0) == []
