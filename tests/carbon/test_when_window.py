"""The window search, the shipped hourly profiles and forecast files, through their public API."""

import csv
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenmeter.carbon.data_files import data_dir
from greenmeter.carbon.intensity_series import IntensityFileError, IntensitySeries, parse_timestamp
from greenmeter.carbon.when.outlook import load_forecast_file
from greenmeter.carbon.when.plan import plan_start
from greenmeter.carbon.when.profiles import NoHourlyHistory, profile_for, profile_zones
from greenmeter.carbon.when.window import JobShape, WindowError, best_starts

H = 3600.0
T0 = parse_timestamp("2026-12-02T00:00:00Z")


def hourly(values, t0=T0):
    return IntensitySeries([t0 + i * H for i in range(len(values))], values, source="test")


def test_the_low_block_is_found_and_the_saving_is_against_now():
    series = hourly([500] * 5 + [100] * 3 + [500] * 20)
    best, now, others = best_starts(series, JobShape.flat(3 * H), T0 + 600, T0 + 24 * H)
    assert best.start_s == T0 + 5 * H and best.intensity_g_per_kwh == pytest.approx(100)
    assert now.start_s == T0 + 600 and now.intensity_g_per_kwh == pytest.approx(500)
    # next best: an hour either side of the block (2 of 3 hours at 100), at least 1 h apart
    assert sorted(s.start_s for s in others[:2]) == [T0 + 4 * H, T0 + 6 * H]
    assert others[0].intensity_g_per_kwh == pytest.approx((100 * 2 + 500) / 3)


def test_a_flat_grid_starts_now():
    best, now, _ = best_starts(hourly([300] * 30), JobShape.flat(2 * H), T0 + 17, T0 + 24 * H)
    assert best.start_s == now.start_s == T0 + 17


def test_the_power_profile_puts_the_heavy_part_in_the_green_hour():
    # 2 h job, all energy in its second hour; hour 6 is green
    job = JobShape(2 * H, ((0.0, H, 0.0), (H, 2 * H, 1.0)))
    best, _, _ = best_starts(hourly([400] * 6 + [50] + [400] * 17), job, T0, T0 + 24 * H)
    assert best.start_s == T0 + 5 * H and best.intensity_g_per_kwh == pytest.approx(50)


def test_the_job_must_end_by_the_deadline():
    series = hourly([500] * 22 + [10] * 6)
    best, _, _ = best_starts(series, JobShape.flat(3 * H), T0, T0 + 24 * H)
    assert best.start_s == T0 + 21 * H  # the latest start; 3 h in the green would end at 25 h


def test_a_job_longer_than_the_window_is_refused():
    with pytest.raises(WindowError, match=r"longer than the window"):
        best_starts(hourly([1] * 30), JobShape.flat(25 * H), T0, T0 + 24 * H)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 900), min_size=6, max_size=30),
    duration_min=st.integers(10, 180),
    offset_min=st.integers(0, 59),
    shares=st.lists(st.integers(0, 9), min_size=1, max_size=4).filter(any),
)
def test_the_exact_search_is_never_beaten_by_a_minute_grid(
    values, duration_min, offset_min, shares
):
    series = hourly([float(v) for v in values])
    d = duration_min * 60.0
    n = len(shares)
    job = JobShape(
        d, tuple((d * k / n, d * (k + 1) / n, s / sum(shares)) for k, s in enumerate(shares))
    )
    earliest, deadline = T0 + offset_min * 60, series.end_s
    if deadline - earliest < d:
        return
    best, _, _ = best_starts(series, job, earliest, deadline)

    def cost(s):  # brute force: the series' own accounting, 1 kWh spread over the segments
        return series.account([(s + a, s + b, share * 3.6e6) for a, b, share in job.segments]).co2_g

    grid = [earliest + 60 * i for i in range(int((deadline - d - earliest) // 60) + 1)]
    assert best.intensity_g_per_kwh <= min(cost(s) for s in grid) + 1e-6
    assert best.intensity_g_per_kwh == pytest.approx(cost(best.start_s))


def shipped(zone, month, hour):
    with (data_dir() / "profiles_hourly_electricitymaps.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if (row["zone_id"], int(row["month"]), int(row["hour_utc"])) == (zone, month, hour):
                return (
                    float(row["mean_g_per_kwh"]),
                    float(row["p10_g_per_kwh"]),
                    float(row["p90_g_per_kwh"]),
                )
    raise KeyError((zone, month, hour))


def test_profiles_ship_for_the_zones_with_hourly_history():
    assert profile_zones() == ["BRA", "DEU", "ESP", "FRA", "GBR", "NOR", "POL", "US-CAL-CISO"]
    with pytest.raises(NoHourlyHistory, match=r"no hourly history ships for zone ITA"):
        profile_for("ITA")


def test_a_window_across_midnight_and_a_month_end_takes_each_hours_own_cell():
    start = parse_timestamp("2026-01-31T22:00:00Z")
    mean, low, high = profile_for("ESP").series(start, start + 4 * H)
    expected = [
        shipped("ESP", 1, 22),
        shipped("ESP", 1, 23),
        shipped("ESP", 2, 0),
        shipped("ESP", 2, 1),
    ]
    assert mean.values_g_per_kwh == [e[0] for e in expected]
    assert low.values_g_per_kwh == [e[1] for e in expected]
    assert high.values_g_per_kwh == [e[2] for e in expected]
    assert mean.times_s == [start + i * H for i in range(4)]


def test_profile_hours_are_utc_so_a_dst_change_has_no_missing_or_double_hour():
    # Europe's clocks go forward on 2026-03-29 at 01:00 UTC: 24 UTC hours, each its own cell.
    start = parse_timestamp("2026-03-28T12:00:00Z")
    mean, _, _ = profile_for("DEU").series(start, start + 24 * H)
    assert len(mean) == 24 and mean.end_s == start + 24 * H
    assert mean.values_g_per_kwh[13] == shipped("DEU", 3, 1)[0]


def test_the_profile_plan_says_it_is_not_a_forecast_and_gives_the_spread():
    start = parse_timestamp("2026-06-01T00:00:00Z")
    plan = plan_start("ESP", JobShape.flat(3 * H, 3.6e6), start, start + 24 * H, offline=True)
    assert plan.outlook.rests_on.startswith("historic average for this month and hour")
    assert "not a forecast" in plan.outlook.rests_on and "2021-2023" in plan.outlook.rests_on
    best = plan.best
    assert best.low_g_per_kwh < best.intensity_g_per_kwh < best.high_g_per_kwh
    # Spain in June: the solar midday hours; a 3 h job from 11:00 or 12:00 UTC
    assert 10 <= (best.start_s - start) / H <= 13
    cells = [shipped("ESP", 6, h)[0] for h in range(24)]
    hour = round((best.start_s - start) / H)
    assert best.intensity_g_per_kwh == pytest.approx(sum(cells[hour : hour + 3]) / 3)
    assert plan.co2_g(best) == pytest.approx(best.intensity_g_per_kwh)  # 1 kWh
    assert plan.saving_pct == pytest.approx(
        100 * (1 - best.intensity_g_per_kwh / (sum(cells[:3]) / 3))
    )


def test_forecast_csv_and_carbon_aware_sdk_json(tmp_path):
    csv_file = tmp_path / "f.csv"
    csv_file.write_text("timestamp,gCO2e/kWh\n2026-12-02T00:00:00Z,300\n2026-12-02T01:00:00Z,200\n")
    assert load_forecast_file(csv_file).values_g_per_kwh == [300, 200]
    sdk = tmp_path / "f.json"
    sdk.write_text(
        json.dumps(
            [
                {
                    "generatedAt": "2026-12-02T00:00:00+00:00",
                    "location": "westeurope",
                    "windowSize": 0,
                    "optimalDataPoints": [],
                    "forecastData": [
                        {
                            "location": "westeurope",
                            "timestamp": "2026-12-02T00:05:00+00:00",
                            "duration": 5,
                            "value": 310.5,
                        },
                        {
                            "location": "westeurope",
                            "timestamp": "2026-12-02T00:00:00+00:00",
                            "duration": 5,
                            "value": 320.0,
                        },
                    ],
                }
            ]
        )
    )
    series = load_forecast_file(sdk)
    assert series.values_g_per_kwh == [320.0, 310.5] and series.source == "file:f.json"
    assert series.times_s == [T0, T0 + 300]
    sdk.write_text('[{"forecastData": [{"timestamp": "2026-12-02T00:00:00Z"}]}]')
    with pytest.raises(IntensityFileError, match=r"f.json: forecastData entry without"):
        load_forecast_file(sdk)
    sdk.write_text('{"data": []}')
    with pytest.raises(IntensityFileError, match=r"Carbon Aware SDK forecast shape"):
        load_forecast_file(sdk)
