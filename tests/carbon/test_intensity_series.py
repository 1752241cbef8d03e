"""Hour-by-hour accounting against hand computations; file parsing and its one-line errors."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenmeter.carbon.intensity_series import (
    IntensityFileError,
    IntensitySeries,
    load_intensity_file,
    parse_timestamp,
)

from conftest import REPO

T0 = parse_timestamp("2024-03-01T00:00:00Z")
H = 3600.0


def hourly(*values):
    return IntensitySeries([T0 + i * H for i in range(len(values))], list(values), source="test")


def test_interval_spanning_an_hour_boundary_is_split_by_time():
    series = hourly(100, 200, 300)
    # 3600 J from 00:30 to 01:30: 1800 J at 100 g/kWh + 1800 J at 200 g/kWh
    co2, mean = series.co2_g([(T0 + 0.5 * H, T0 + 1.5 * H, 3600.0)])
    assert co2 == pytest.approx((1800 * 100 + 1800 * 200) / 3.6e6)  # 0.15 g
    assert mean == pytest.approx(150.0)


def test_energy_weighted_mean_over_many_intervals():
    series = hourly(100, 400)
    intervals = [(T0, T0 + 10, 3.6e6), (T0 + H, T0 + H + 10, 1.2e6)]  # 1 kWh at 100, 1/3 kWh at 400
    co2, mean = series.co2_g(intervals)
    assert co2 == pytest.approx(100 + 400 / 3)
    assert mean == pytest.approx((100 + 400 / 3) / (4 / 3))  # 175


def test_interval_crossing_several_steps():
    series = hourly(10, 20, 30, 40)
    co2, mean = series.co2_g([(T0, T0 + 4 * H, 4 * 3.6e6)])  # 1 kWh in each hour
    assert co2 == pytest.approx(100.0)
    assert mean == pytest.approx(25.0)


def test_outside_the_range_uses_the_nearest_value_and_says_so():
    series = hourly(100, 200)  # covers [T0, T0 + 2h)
    before = series.account([(T0 - H, T0, 3.6e6)])
    assert before.co2_g == pytest.approx(100.0)
    assert before.outside_s == pytest.approx(H) and before.outside_energy_j == pytest.approx(3.6e6)
    straddling = series.account([(T0 + 1.5 * H, T0 + 2.5 * H, 3.6e6)])  # half inside, half after
    assert straddling.co2_g == pytest.approx(200.0)
    assert straddling.outside_s == pytest.approx(0.5 * H)
    assert straddling.outside_energy_j == pytest.approx(1.8e6)
    inside = series.account([(T0, T0 + H, 1.0)])
    assert inside.outside_s == 0 and inside.outside_energy_j == 0


def test_single_point_series_holds_for_an_hour():
    series = hourly(250)
    assert (series.start_s, series.end_s) == (T0, T0 + H)
    assert series.account([(T0 + 10, T0 + 20, 7.2e6)]).co2_g == pytest.approx(500.0)


def test_zero_energy_and_instantaneous_intervals():
    series = hourly(100, 300)
    co2, mean = series.co2_g([(T0 + H + 5, T0 + H + 6, 0.0)])
    assert (co2, mean) == (0.0, 300)
    assert series.co2_g([(T0 + H, T0 + H, 3.6e6)])[0] == pytest.approx(300.0)
    assert series.co2_g([]) == (0.0, 100)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0, 1000), min_size=1, max_size=6),
    cuts=st.lists(st.floats(-2 * H, 8 * H), min_size=2, max_size=8, unique=True),
    power_w=st.floats(0.1, 500),
)
def test_co2_is_bounded_by_the_series_and_additive(values, cuts, power_w):
    series = hourly(*values)
    cuts = sorted(cuts)
    intervals = [(T0 + a, T0 + b, power_w * (b - a)) for a, b in itertools.pairwise(cuts)]
    co2, mean = series.co2_g(intervals)
    energy_kwh = sum(i[2] for i in intervals) / 3.6e6
    assert min(values) * energy_kwh - 1e-9 <= co2 <= max(values) * energy_kwh + 1e-9
    # splitting the run into more intervals at the same power changes nothing
    whole = series.co2_g([(T0 + cuts[0], T0 + cuts[-1], power_w * (cuts[-1] - cuts[0]))])[0]
    assert co2 == pytest.approx(whole, rel=1e-9, abs=1e-9)
    assert math.isfinite(mean)


def write(tmp_path, text, name="intensity.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_file_with_header_zones_and_naive_utc(tmp_path):
    path = write(
        tmp_path,
        "timestamp,gCO2e/kWh\n2024-03-01T00:00:00Z,100\n2024-03-01T02:00:00+02:00,50\n"
        "2024-03-01 01:00:00,200\n\n",
    )
    # 02:00+02:00 is 00:00Z: a duplicate of the first row
    with pytest.raises(IntensityFileError, match=r"intensity.csv:3: timestamp .* not after"):
        load_intensity_file(path)
    path = write(
        tmp_path,
        "timestamp,gCO2e/kWh\n2024-03-01T00:00:00Z,100\n2024-03-01T03:00:00+02:00,50\n"
        "2024-03-01 02:00:00,200\n",
    )
    series = load_intensity_file(path)
    assert series.times_s == [T0, T0 + H, T0 + 2 * H]
    assert series.values_g_per_kwh == [100, 50, 200]
    assert series.basis == "unspecified" and series.source == "file:intensity.csv"


def test_file_without_header(tmp_path):
    series = load_intensity_file(
        write(tmp_path, "2024-03-01T00:00:00Z,100\n2024-03-01T00:15:00Z,120\n")
    )
    assert series.values_g_per_kwh == [100, 120] and series.end_s == T0 + 30 * 60


def test_electricity_maps_export_uses_the_lifecycle_column():
    path = (
        REPO.parent
        / "shared"
        / "grid-sources"
        / "electricitymaps-hourly-2022"
        / "DE_2022_hourly.csv"
    )
    if not path.exists():
        pytest.skip("raw sources not on this machine")
    series = load_intensity_file(path)
    assert len(series) == 8760 and series.basis == "lifecycle"
    assert series.values_g_per_kwh[:2] == [212.91, 217.14]
    assert series.start_s == parse_timestamp("2022-01-01T00:00:00Z")


@pytest.mark.parametrize(
    "text,match",
    [
        (
            "timestamp,g\n2024-03-01T00:00:00Z,100\nyesterday,5\n",
            r"intensity.csv:3: not an ISO 8601 timestamp: 'yesterday'",
        ),
        ("2024-03-01T00:00:00Z,abc\n", r"intensity.csv:1: not a number: 'abc'"),
        ("2024-13-01T00:00:00Z,5\n", r"intensity.csv:1: not an ISO 8601 timestamp"),
        ("2024-03-01T00:00:00Z,-5\n", r"intensity.csv:1: intensity must be between 0 and 10000"),
        ("2024-03-01T00:00:00Z,5e301\n", r"intensity.csv:1: intensity must be between 0 and 10000"),
        ("2024-03-01T00:00:00Z,nan\n", r"intensity.csv:1: intensity must be between"),
        ("2024-03-01T00:00:00Z\n", r"intensity.csv:1: expected timestamp,gCO2e/kWh"),
        (
            "2024-03-01T01:00:00Z,1\n2024-03-01T00:00:00Z,2\n",
            r"intensity.csv:2: timestamp .* not after",
        ),
        ("timestamp,g\n", r"intensity.csv: no intensity rows"),
        ("", r"intensity.csv: no intensity rows"),
    ],
)
def test_malformed_files_give_one_line_errors_with_file_and_line(tmp_path, text, match):
    with pytest.raises(IntensityFileError, match=match) as info:
        load_intensity_file(write(tmp_path, text))
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def test_missing_or_binary_file(tmp_path):
    with pytest.raises(IntensityFileError, match="cannot read intensity file"):
        load_intensity_file(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x80garbage")
    with pytest.raises(IntensityFileError, match=r"bin\.csv"):
        load_intensity_file(tmp_path / "bin.csv")
