"""``greenmeter when`` end to end: a local server stands in for the UK Carbon Intensity API's
48 h forecast (its documented JSON shape) and Electricity Maps' forecast; forecast files;
malformed answers and timeouts fall back to the profile with a warning; scheduler lines in
local time across DST changes; one-line refusals."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from greenmeter.carbon.intensity_series import parse_timestamp

from conftest import assert_refused
from fake_api import FakeAPI
from synthetic_runs import Comp, write_run

FROM = "2026-12-02T16:10Z"


@pytest.fixture(scope="module")
def api():
    server = FakeAPI()
    yield server
    server.close()


@pytest.fixture
def env(api, tmp_path):
    api.routes.clear()
    api.requests.clear()
    return {"GREENMETER_UKGRID_URL": api.url, "GREENMETER_CACHE_DIR": str(tmp_path / "cache")}


def uk_forecast(start="2026-12-02T16:00Z", values=None):
    """The fw48h answer: 96 half hours from ``start``, ``forecast`` filled, ``actual`` null."""
    t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    values = values or [250] * 96
    data = []
    for i, value in enumerate(values):
        a, b = t0 + timedelta(minutes=30 * i), t0 + timedelta(minutes=30 * (i + 1))
        data.append(
            {
                "from": a.strftime("%Y-%m-%dT%H:%MZ"),
                "to": b.strftime("%Y-%m-%dT%H:%MZ"),
                "intensity": {"forecast": value, "actual": None, "index": "moderate"},
            }
        )
    return {"data": data}


def when(greenmeter, env, *args):
    return greenmeter("when", "--from", FROM, *args, env=env)


def test_gb_uses_the_uk_forecast_and_says_so(greenmeter, api, env):
    # green from 03:00 to 06:00 UTC the next morning (half hours 22..27 after 16:00)
    values = [300] * 22 + [60] * 6 + [300] * 68
    api.route("/intensity/", uk_forecast(values=values))
    proc = when(greenmeter, env, "--region", "GB", "--duration", "3h", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert api.requests[-1][0] == "/intensity/2026-12-02T16:00Z/fw48h"
    assert plan["rests_on"] == "forecast from the UK Carbon Intensity API (NESO) (ukgrid)"
    assert plan["kind"] == "forecast" and plan["basis"] == "direct"
    assert plan["best"]["start"] == "2026-12-03T03:00:00Z"
    assert plan["best"]["intensity_g_per_kwh"] == 60
    assert plan["now"]["intensity_g_per_kwh"] == 300
    assert plan["saving_pct"] == 80.0
    assert plan["best"]["low_g_per_kwh"] is None  # the API gives no spread
    assert plan["warnings"] == []


@pytest.mark.parametrize(
    "body,status,delay_s,reason",
    [
        (b"<html>oops</html>", 200, 0.0, "malformed JSON"),
        (
            {"data": [{"from": "2026-12-02T16:00Z", "intensity": {"forecast": "high"}}]},
            200,
            0.0,
            "bad intensity",
        ),
        ({"error": "busy"}, 503, 0.0, "HTTP 503"),
        (uk_forecast(), 200, 3.5, "no answer within 3 s"),
    ],
    ids=["not-json", "bad-value", "http-error", "timeout"],
)
def test_a_failing_uk_api_falls_back_to_the_profile_with_a_warning(
    greenmeter, api, env, body, status, delay_s, reason
):
    api.route("/intensity/", body, status=status, delay_s=delay_s)
    proc = when(greenmeter, env, "--region", "GB", "--duration", "3h", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["source"] == "profile" and "not a forecast" in plan["rests_on"]
    assert any(reason in w and "forecast unavailable" in w for w in plan["warnings"]), plan
    assert plan["best"]["low_g_per_kwh"] < plan["best"]["intensity_g_per_kwh"]


def test_a_forecast_too_short_for_the_job_falls_back(greenmeter, api, env):
    api.route("/intensity/", uk_forecast(values=[100] * 4))  # 2 h
    proc = when(greenmeter, env, "--region", "GB", "--duration", "3h", "--format", "json")
    plan = json.loads(proc.stdout)
    assert plan["source"] == "profile"
    assert "ukgrid: the forecast does not cover a job starting now" in plan["warnings"]


def test_electricitymaps_forecast_with_a_token(greenmeter, api, env):
    t0 = parse_timestamp("2026-12-02T16:00:00Z")
    points = [
        {
            "carbonIntensity": 400 if not 8 <= i < 11 else 90,
            "datetime": datetime.fromtimestamp(t0 + 3600 * i, tz=timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"
            ),
        }
        for i in range(24)
    ]
    api.route(
        "/v3/carbon-intensity/forecast",
        {"zone": "DE", "forecast": points, "updatedAt": "2026-12-02T16:00:00.000Z"},
    )
    env = {
        **env,
        "GREENMETER_ELECTRICITYMAPS_URL": api.url + "/v3",
        "GREENMETER_ELECTRICITYMAPS_TOKEN": "s3cret-forecast-token",
    }
    proc = when(
        greenmeter, env, "--region", "DE", "--duration", "3h", "--within", "20h", "--format", "json"
    )
    plan = json.loads(proc.stdout)
    assert api.requests[-1][0] == "/v3/carbon-intensity/forecast?zone=DE"
    assert api.requests[-1][1]["auth-token"] == "s3cret-forecast-token"
    assert plan["source"] == "electricitymaps" and plan["best"]["start"] == "2026-12-03T00:00:00Z"
    assert b"s3cret" not in proc.stdout + proc.stderr


def test_offline_and_other_zones_ask_no_provider(greenmeter, api, env):
    api.route("/intensity/", uk_forecast())
    for args in (["--region", "GB", "--offline"], ["--region", "ES"]):
        proc = when(greenmeter, env, *args, "--duration", "3h", "--format", "json")
        assert json.loads(proc.stdout)["source"] == "profile"
    assert api.requests == []


def test_the_text_answer_names_the_best_start_the_saving_and_what_it_rests_on(greenmeter, env):
    proc = greenmeter(
        "when",
        "--region",
        "ES",
        "--duration",
        "3h",
        "--from",
        "2026-06-01T00:00Z",
        "--energy",
        "2kWh",
        env=env,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0 and proc.stdout == b""
    assert "best" in err and "now" in err and "next" in err
    assert "historic average for this month and hour" in err and "not a forecast" in err
    assert "spread: 10th-90th percentile" in err and "expected saving against starting now" in err
    assert "kg" in err or " g " in err


def forecast_file(tmp_path, start, values, name="f.csv"):
    t0 = parse_timestamp(start)
    rows = [
        f"{datetime.fromtimestamp(t0 + 3600 * i, tz=timezone.utc):%Y-%m-%dT%H:%M:%SZ},{v}"
        for i, v in enumerate(values)
    ]
    path = tmp_path / name
    path.write_text("timestamp,gCO2e/kWh\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    "green_hour,sbatch,at,cron",
    [
        # spring forward: 01:00 UTC is 03:00 CEST (02:00 does not exist in Berlin)
        ("2026-03-29T01:00Z", "--begin=2026-03-29T03:00:00", "at -t 202603290300", "0 3 29 3 *"),
        # across midnight and a month end: 23:00 UTC on 31 Jan is 00:00 CET on 1 Feb
        ("2026-01-31T23:00Z", "--begin=2026-02-01T00:00:00", "at -t 202602010000", "0 0 1 2 *"),
    ],
)
def test_scheduler_lines_are_local_time(greenmeter, env, tmp_path, green_hour, sbatch, at, cron):
    start = datetime.fromisoformat(green_hour.replace("Z", "+00:00")) - timedelta(hours=6)
    values = [400] * 6 + [50] + [400] * 20
    path = forecast_file(tmp_path, start.isoformat(), values)
    common = [
        "--region",
        "DE",
        "--duration",
        "1h",
        "--within",
        "12h",
        "--from",
        start.isoformat(),
        "--forecast",
        str(path),
    ]
    env = {**env, "TZ": "Europe/Berlin"}
    lines = {}
    for fmt in ("sbatch", "at", "cron"):
        proc = greenmeter(
            "when", *common, "--format", fmt, "--", "python3", "train.py", "--lr", "1e-3", env=env
        )
        assert proc.returncode == 0, proc.stderr
        lines[fmt] = proc.stdout.decode().strip()
        assert "forecast from file:f.csv" in proc.stderr.decode()
    assert lines["sbatch"] == sbatch
    assert lines["at"] == f"echo 'python3 train.py --lr 1e-3' | {at}"
    assert lines["cron"] == f"{cron} python3 train.py --lr 1e-3"


def test_a_start_in_the_repeated_hour_of_a_dst_change_is_said(greenmeter, env, tmp_path):
    # fall back: 00:30 and 01:30 UTC on 2026-10-25 are both 02:30 in Berlin; green at 01:30 UTC
    t0 = parse_timestamp("2026-10-24T20:30:00Z")
    path = forecast_file(tmp_path, "2026-10-24T20:30:00Z", [400] * 5 + [50] + [400] * 10)
    proc = greenmeter(
        "when", "--region", "DE", "--duration", "1h", "--within", "12h", "--from", "2026-10-24T20:30:00Z",
        "--forecast", str(path), "--format", "cron", env={**env, "TZ": "Europe/Berlin"},
    )  # fmt: skip
    assert t0 + 5 * 3600 == parse_timestamp("2026-10-25T01:30:00Z")
    assert proc.stdout.decode().startswith("30 2 25 10 * ")
    assert "local time 2026-10-25 02:30 happens twice (a DST change)" in proc.stderr.decode()


def test_like_a_past_run_uses_its_power_profile_and_energy(greenmeter, env, tmp_path):
    # a 2 h run: 20 W in its first hour, 380 W in its second
    comp = Comp("gpu", "NVIDIA H100", 0, source="nvml-energy")
    pts, e = [(0.0, [0.0])], 0.0
    for minute in range(1, 121):
        e += (20.0 if minute <= 60 else 380.0) * 60
        pts.append((minute * 60.0, [e]))
    run = write_run(tmp_path, "past", [comp], pts)
    # hour 6 is green: a flat job would straddle it, this one puts its busy hour there
    path = forecast_file(tmp_path, "2026-12-02T16:00Z", [400] * 6 + [40] + [400] * 20)
    proc = greenmeter(
        "when", "--region", "DE", "--like", str(run), "--within", "20h", "--from", "2026-12-02T16:00Z",
        "--forecast", str(path), "--format", "json", env=env,
    )  # fmt: skip
    plan = json.loads(proc.stdout)
    assert plan["job"] == "past.json" and plan["duration_s"] == 7200
    assert plan["energy_j"] == pytest.approx(e)
    assert plan["best"]["start"] == "2026-12-02T21:00:00Z"
    expected = (20 * 400 + 380 * 40) / 400  # energy-weighted over its two hours
    assert plan["best"]["intensity_g_per_kwh"] == pytest.approx(expected, rel=1e-3)
    assert plan["best"]["co2_g"] == pytest.approx(expected * e / 3.6e6, rel=1e-3)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--region", "DE", "--duration", "30h", "--within", "24h"], "longer than the window"),
        (["--region", "IT", "--duration", "3h"], "no hourly history ships for zone ITA"),
        (["--duration", "3h"], "needs --region"),
        (["--region", "DE"], "give either --duration or --like"),
        (["--region", "DE", "--duration", "3 fortnights"], "unknown duration unit"),
        (["--region", "DE", "--duration", "3h", "--from", "soon"], "not an ISO 8601 time"),
        (["--region", "DE", "--duration", "3h", "--source", "file"], "needs --forecast"),
        (["--region", "DE", "--duration", "3h", "--source", "ukgrid"], "Great Britain only"),
        (
            ["--region", "GB", "--duration", "3h", "--source", "ukgrid", "--offline"],
            "--offline forbids it",
        ),
    ],
)
def test_refusals_are_one_line_exit_125(greenmeter, env, tmp_path, args, needle):
    proc = greenmeter("when", *args, env=env)
    assert_refused(proc, tmp_path, needle)


def test_a_malformed_forecast_file_is_refused(greenmeter, env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"forecastData": [{"timestamp": "x", "value": 1}]}]')
    proc = greenmeter("when", "--region", "DE", "--duration", "1h", "--forecast", str(bad), env=env)
    assert_refused(proc, tmp_path, "bad.json: forecastData entry")
