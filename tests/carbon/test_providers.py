"""Live providers against a local HTTP server on 127.0.0.1: success, errors, timeouts, bad JSON, cache."""

import socket
import time

import pytest

from greenmeter.carbon.intensity_series import parse_timestamp
from greenmeter.carbon.providers import ProviderError, check_provider, fetch_intensity

from fake_api import FakeAPI

TOKEN = "s3cret-token-value"
T0 = parse_timestamp("2024-03-01T10:00:00Z")
H = 3600.0


@pytest.fixture
def api():
    server = FakeAPI()
    yield server
    server.close()


@pytest.fixture
def env(api, tmp_path):
    return {
        "GREENMETER_ELECTRICITYMAPS_TOKEN": TOKEN,
        "GREENMETER_ELECTRICITYMAPS_URL": api.url + "/v3",
        "GREENMETER_UKGRID_URL": api.url,
        "GREENMETER_CACHE_DIR": str(tmp_path / "cache"),
    }


def em_point(t_s, value, zone="DE"):
    iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t_s))
    return {
        "zone": zone,
        "carbonIntensity": value,
        "datetime": iso,
        "updatedAt": iso,
        "createdAt": iso,
        "emissionFactorType": "lifecycle",
        "isEstimated": False,
        "estimationMethod": None,
    }


def test_electricitymaps_past_range_gives_the_hourly_series(api, env):
    api.route(
        "/v3/carbon-intensity/past-range",
        {"zone": "DE", "data": [em_point(T0, 300), em_point(T0 + H, 200)]},
    )
    live = fetch_intensity("electricitymaps", "DEU", T0 + 600, T0 + H + 600, env=env)
    assert (live.provider, live.zone, live.from_cache) == ("electricitymaps", "DE", False)
    assert live.series.values_g_per_kwh == [300, 200] and live.series.basis == "lifecycle"
    # 1 kWh spread evenly over 10:10-11:10: 50 min at 300, 10 min at 200
    co2, _mean = live.series.co2_g([(T0 + 600, T0 + H + 600, 3.6e6)])
    assert co2 == pytest.approx(300 * 5 / 6 + 200 / 6)
    path, headers = api.requests[0]
    assert (
        path
        == "/v3/carbon-intensity/past-range?zone=DE&start=2024-03-01T10%3A00%3A00Z&end=2024-03-01T12%3A00%3A00Z"
    )
    assert headers["auth-token"] == TOKEN


def test_electricitymaps_latest_fills_the_hour_not_yet_published(api, env):
    api.route(
        "/v3/carbon-intensity/past-range",
        {"zone": "US-CAL-CISO", "data": [em_point(T0, 250, "US-CAL-CISO")]},
    )
    api.route("/v3/carbon-intensity/latest", em_point(T0 + H, 150, "US-CAL-CISO"))
    live = fetch_intensity("electricitymaps", "US-CAL-CISO", T0 + 600, T0 + H + 600, env=env)
    assert live.series.values_g_per_kwh == [250, 150]
    assert [p for p, _ in api.requests][1] == "/v3/carbon-intensity/latest?zone=US-CAL-CISO"


def test_the_cache_answers_the_second_time_and_never_holds_the_token(api, env, tmp_path):
    api.route(
        "/v3/carbon-intensity/past-range",
        {"zone": "FR", "data": [em_point(T0, 40, "FR"), em_point(T0 + H, 45, "FR")]},
    )
    first = fetch_intensity("electricitymaps", "FRA", T0, T0 + H + 60, env=env)
    second = fetch_intensity("electricitymaps", "FRA", T0, T0 + H + 60, env=env)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.series.values_g_per_kwh == [40, 45]
    assert len(api.requests) == 1
    files = list((tmp_path / "cache" / "intensity").glob("*.json"))
    assert len(files) == 1 and TOKEN not in files[0].read_text()


@pytest.mark.parametrize(
    "status,reason", [(401, "HTTP 401"), (403, "HTTP 403"), (500, "HTTP 500"), (429, "HTTP 429")]
)
def test_http_errors_become_one_line_provider_errors_without_the_token(api, env, status, reason):
    api.route("/v3/", {"message": f"bad token {TOKEN}"}, status=status)
    with pytest.raises(ProviderError) as info:
        fetch_intensity("electricitymaps", "DEU", T0, T0 + 60, env=env)
    message = str(info.value)
    assert message.startswith(f"electricitymaps: {reason}")
    assert TOKEN not in message and "\n" not in message


def test_a_slow_server_times_out_quickly(api, env):
    api.route("/v3/", {"data": []}, delay_s=2.0)
    with pytest.raises(ProviderError, match=r"electricitymaps: no answer within 0.3 s"):
        fetch_intensity("electricitymaps", "DEU", T0, T0 + 60, env=env, timeout_s=0.3)


@pytest.mark.parametrize(
    "body,match",
    [
        (b"{not json", "malformed JSON"),
        (b"<html>502 Bad Gateway</html>", "malformed JSON"),
        (b'{"zone": "DE"}', "unexpected response shape"),
        (
            b'{"data": [{"datetime": "2024-03-01T10:00:00Z", "carbonIntensity": "high"}]}',
            "bad intensity",
        ),
        (b'{"data": [{"datetime": "yesterday", "carbonIntensity": 5}]}', "bad timestamp"),
        (b'{"data": [{"carbonIntensity": 5}]}', "bad timestamp"),
    ],
)
def test_malformed_responses(api, env, body, match):
    api.route("/v3/", body)
    with pytest.raises(ProviderError, match=match):
        fetch_intensity("electricitymaps", "DEU", T0, T0 + 60, env=env)


def test_nothing_listening(env):
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(env, GREENMETER_ELECTRICITYMAPS_URL=f"http://127.0.0.1:{port}/v3")
    with pytest.raises(ProviderError, match="electricitymaps: cannot connect"):
        fetch_intensity("electricitymaps", "DEU", T0, T0 + 60, env=env, timeout_s=0.5)


def test_ukgrid_uses_actual_then_forecast_half_hourly(api, env):
    api.route(
        "/intensity/",
        {
            "data": [
                {
                    "from": "2024-03-01T10:00Z",
                    "to": "2024-03-01T10:30Z",
                    "intensity": {"forecast": 200, "actual": 210, "index": "moderate"},
                },
                {
                    "from": "2024-03-01T10:30Z",
                    "to": "2024-03-01T11:00Z",
                    "intensity": {"forecast": 190, "actual": None, "index": "moderate"},
                },
            ]
        },
    )
    live = fetch_intensity("ukgrid", "GBR", T0 + 60, T0 + 1800 + 60, env=env)
    assert (live.zone, live.series.values_g_per_kwh, live.series.basis) == (
        "GB",
        [210, 190],
        "direct",
    )
    assert live.series.end_s == T0 + H
    assert api.requests[0][0] == "/intensity/2024-03-01T10:00Z/2024-03-01T11:00Z"
    assert "auth-token" not in api.requests[0][1]


def test_ukgrid_empty_data_is_an_error(api, env):
    api.route("/intensity/", {"data": []})
    with pytest.raises(ProviderError, match="no intensity data for zone GB"):
        fetch_intensity("ukgrid", "GBR", T0, T0 + 60, env=env)


def test_check_provider_before_launch():
    check_provider("ukgrid", "GBR", env={})
    check_provider("electricitymaps", "US-CAL-CISO", env={"GREENMETER_ELECTRICITYMAPS_TOKEN": "x"})
    with pytest.raises(ValueError, match="needs an API token in GREENMETER_ELECTRICITYMAPS_TOKEN"):
        check_provider("electricitymaps", "DEU", env={})
    with pytest.raises(ValueError, match="Great Britain only"):
        check_provider("ukgrid", "DEU", env={})
    with pytest.raises(ValueError, match="unknown carbon provider 'watttime'"):
        check_provider("watttime", "DEU", env={})
