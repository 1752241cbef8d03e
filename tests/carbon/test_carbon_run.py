"""End to end through `python -m greenmeter`: regions, cloud PUE, intensity files, live providers,
and `greenmeter regions`."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import MARKER_CHILD, assert_refused, read_report
from fake_api import FakeAPI

PY = sys.executable
WORK = [PY, "-c", "sum(range(2_000_000))"]


def run_report(greenmeter, tmp_path, *args, env=None):
    proc = greenmeter("run", "--json", "r.json", "--csv", "r.csv", *args, "--", *WORK, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return read_report(tmp_path / "r.json"), " ".join(
        proc.stderr.decode().split()
    )  # rich wraps lines


def test_subnational_region(greenmeter, tmp_path):
    r, err = run_report(greenmeter, tmp_path, "--region", "SE-SE3")
    c = r["carbon"]
    assert (c["region"], c["zone_id"], c["intensity_source"], c["intensity_year"], c["basis"]) == (
        "SE-SE3",
        "SE-SE3",
        "electricitymaps",
        2024,
        "lifecycle",
    )
    assert c["intensity_g_per_kwh"] == 21 and c["pue"] == 1.0 and c["pue_source"] is None
    assert c["co2_g"] == pytest.approx(r["energy_j"]["total"] / 3.6e6 * 21, rel=1e-12)
    assert c["time_resolved"] is False
    assert "electricitymaps 2024, lifecycle" in err


def test_cloud_region_brings_its_provider_pue(greenmeter, tmp_path):
    r, err = run_report(greenmeter, tmp_path, "--region", "gcp:europe-west1")
    c = r["carbon"]
    assert (c["zone_id"], c["pue"]) == ("BEL", 1.09) and "Google" in c["pue_source"]
    assert c["energy_kwh"] == pytest.approx(r["energy_j"]["total"] / 3.6e6, rel=1e-12)
    assert c["energy_kwh_with_pue"] == pytest.approx(c["energy_kwh"] * 1.09, rel=1e-12)
    assert c["co2_g"] == pytest.approx(c["energy_kwh"] * 1.09 * 117.58, rel=1e-12)
    assert "PUE 1.09 (provider's)" in err


@pytest.mark.parametrize("how", ["option", "env", "config"])
def test_explicit_pue_overrides_the_cloud_default(greenmeter, tmp_path, how):
    args, env = ["--region", "aws:eu-central-1"], None
    if how == "option":
        args += ["--pue", "1.3"]
    elif how == "env":
        env = {"GREENMETER_PUE": "1.3"}
    else:
        (tmp_path / "greenmeter.toml").write_text("pue = 1.3\n")
    c = run_report(greenmeter, tmp_path, *args, env=env)[0]["carbon"]
    assert (c["zone_id"], c["pue"], c["pue_source"]) == ("DEU", 1.3, None)


def write_intensity(path, rows):
    path.write_text("timestamp,gCO2e/kWh\n" + "".join(f"{t},{v}\n" for t, v in rows))


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("how", ["option", "env", "config"])
def test_intensity_file_matches_a_hand_computation(greenmeter, tmp_path, how):
    now = datetime.now(timezone.utc)
    # The run (a few seconds) sits inside the middle step: 123 g/kWh, not 999 before nor 777 after.
    write_intensity(
        tmp_path / "grid.csv",
        [
            (iso(now - timedelta(hours=3)), 999),
            (iso(now - timedelta(minutes=10)), 123),
            (iso(now + timedelta(hours=1)), 777),
        ],
    )
    args, env = ["--region", "GB"], None
    if how == "option":
        args += ["--intensity-file", "grid.csv"]
    elif how == "env":
        env = {"GREENMETER_INTENSITY_FILE": "grid.csv"}
    else:
        (tmp_path / "greenmeter.toml").write_text('intensity_file = "grid.csv"\n')
    r, err = run_report(greenmeter, tmp_path, *args, env=env)
    c = r["carbon"]
    assert c["time_resolved"] is True and c["intensity_source"] == "file:grid.csv"
    assert c["intensity_g_per_kwh"] == pytest.approx(123)
    assert c["co2_g"] == pytest.approx(r["energy_j"]["total"] / 3.6e6 * 123, rel=1e-9)
    assert (c["zone_id"], c["intensity_outside_s"], c["basis"]) == ("GBR", 0.0, "unspecified")
    assert "energy-weighted mean" in err


def test_intensity_file_outside_the_run_uses_the_nearest_value_and_says_so(greenmeter, tmp_path):
    write_intensity(
        tmp_path / "old.csv", [("2022-01-01T00:00:00", 300), ("2022-01-01T01:00:00", 60)]
    )
    r, _err = run_report(greenmeter, tmp_path, "--intensity-file", "old.csv")
    c = r["carbon"]
    assert c["intensity_g_per_kwh"] == pytest.approx(60) and c["intensity_year"] == 2022
    assert c["intensity_outside_s"] == pytest.approx(r["duration_s"], rel=0.05)
    assert c["region"] is None and c["region_fallback"] is False
    assert any("outside the intensity series (file:old.csv)" in w for w in r["warnings"])
    assert not any("world average" in w for w in r["warnings"])


def test_malformed_intensity_file_is_refused_before_launch(greenmeter, tmp_path):
    (tmp_path / "bad.csv").write_text(
        "timestamp,g\n2024-01-01T00:00:00Z,100\n2024-01-01T01:00:00Z,lots\n"
    )
    proc = greenmeter("run", "--intensity-file", "bad.csv", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "bad.csv:3: not a number: 'lots'")
    proc = greenmeter("run", "--intensity-file", "missing.csv", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "missing.csv")


@pytest.mark.parametrize(
    "args,env,needle",
    [
        (
            ["--region", "DE", "--carbon-provider", "electricitymaps"],
            None,
            "GREENMETER_ELECTRICITYMAPS_TOKEN",
        ),
        (["--region", "DE", "--carbon-provider", "ukgrid"], None, "Great Britain only"),
        (["--carbon-provider", "ukgrid"], None, "needs --region"),
        (["--region", "GB", "--carbon-provider", "watttime"], None, "watttime"),
        (["--region", "GB"], {"GREENMETER_CARBON_PROVIDER": "nope"}, "nope"),
        (
            ["--region", "GB", "--carbon-provider", "ukgrid", "--intensity-file", "f.csv"],
            None,
            "not both",
        ),
    ],
)
def test_provider_settings_are_checked_before_launch(greenmeter, tmp_path, args, env, needle):
    write_intensity(tmp_path / "f.csv", [("2024-01-01T00:00:00Z", 1)])
    assert_refused(greenmeter("run", *args, "--", *MARKER_CHILD, env=env), tmp_path, needle)


@pytest.fixture
def api():
    server = FakeAPI()
    yield server
    server.close()


def test_ukgrid_provider_gives_time_resolved_co2(greenmeter, tmp_path, api):
    now = time.time()
    half_hour = int(now // 1800 * 1800)
    api.route(
        "/intensity/",
        {
            "data": [
                {
                    "from": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t)),
                    "to": "",
                    "intensity": {"forecast": 150, "actual": None},
                }
                for t in (half_hour - 1800, half_hour, half_hour + 1800)
            ]
        },
    )
    env = {"GREENMETER_UKGRID_URL": api.url, "GREENMETER_CACHE_DIR": str(tmp_path / "cache")}
    r, _err = run_report(
        greenmeter, tmp_path, "--region", "GB", "--carbon-provider", "ukgrid", env=env
    )
    c = r["carbon"]
    assert (c["time_resolved"], c["intensity_source"], c["basis"]) == (True, "ukgrid", "direct")
    assert c["intensity_g_per_kwh"] == pytest.approx(150)
    assert c["co2_g"] == pytest.approx(r["energy_j"]["total"] / 3.6e6 * 150, rel=1e-9)
    assert len(api.requests) == 1 and api.requests[0][0].startswith("/intensity/")


def test_failing_provider_falls_back_to_shipped_data_and_says_so(greenmeter, tmp_path, api):
    api.route("/v3/", {"message": "invalid token"}, status=401)
    env = {
        "GREENMETER_ELECTRICITYMAPS_URL": api.url + "/v3",
        "GREENMETER_ELECTRICITYMAPS_TOKEN": "tok-123456",
        "GREENMETER_CACHE_DIR": str(tmp_path / "cache"),
    }
    r, err = run_report(
        greenmeter, tmp_path, "--region", "FR", "--carbon-provider", "electricitymaps", env=env
    )
    c = r["carbon"]
    assert (c["time_resolved"], c["intensity_source"], c["intensity_g_per_kwh"]) == (
        False,
        "ember",
        44.18,
    )
    note = "live intensity unavailable (electricitymaps: HTTP 401 Unauthorized); used the shipped figure 44.18"
    assert any(note in w for w in r["warnings"]) and note in err
    assert api.requests[0][1]["auth-token"] == "tok-123456"
    assert (
        "tok-123456"
        not in (tmp_path / "r.json").read_text() + (tmp_path / "r.csv").read_text() + err
    )


def test_regions_command_lists_to_stdout(greenmeter):
    proc = greenmeter("regions", "sweden")
    assert proc.returncode == 0 and proc.stderr == b""
    lines = proc.stdout.decode().splitlines()
    assert lines[0].split() == [
        "region",
        "zone",
        "name",
        "gCO2e/kWh",
        "year",
        "basis",
        "source",
        "pue",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["SE-SE3"][-4:] == ["21", "2024", "lifecycle", "electricitymaps"]
    assert rows["azure:swedencentral"][-1] == "1.18"


def test_regions_command_all_and_no_match(greenmeter):
    everything = greenmeter("regions").stdout.decode().splitlines()
    assert len(everything) > 500
    proc = greenmeter("regions", "qqqqzz")
    assert (
        proc.returncode == 1 and proc.stdout == b"" and b"no region matches 'qqqqzz'" in proc.stderr
    )
