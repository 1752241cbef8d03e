"""The shipped grid_intensity_data/ files: well-formed, unique, plausible, reproducible."""

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from greenmeter.carbon.data_files import data_dir

from conftest import REPO

INTENSITY_FIELDS = [
    "zone_id",
    "zone_type",
    "country_iso3",
    "name",
    "year",
    "intensity_g_per_kwh",
    "basis",
    "source_id",
]


def read(name):
    with (data_dir() / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def manifest():
    return read("manifest.csv")


def intensity_files():
    return [m["file"] for m in manifest() if m["file"].startswith("intensity_")]


def all_rows():
    return [row for name in intensity_files() for row in read(name)]


def test_data_dir_is_the_repository_folder_in_a_checkout():
    assert data_dir() == REPO / "grid_intensity_data"


@pytest.mark.parametrize("name", ["ember", "electricitymaps", "egrid2023", "google-cloud"])
def test_each_source_has_its_own_file_and_one_licence(name):
    entries = [m for m in manifest() if m["source_id"] == name]
    assert len(entries) == 1
    rows = read(entries[0]["file"])
    assert {r["source_id"] for r in rows} == {name}
    assert int(entries[0]["rows"]) == len(rows) > 0
    assert entries[0]["licence"] and entries[0]["url"].startswith("https://")
    assert len(entries[0]["raw_sha256"].split(":")[-1]) == 64


def test_share_alike_data_stays_in_its_own_file():
    by_file = {m["file"]: m["licence"] for m in manifest()}
    odbl = [f for f, lic in by_file.items() if "ODbL" in lic]
    sa = [f for f, lic in by_file.items() if "SA" in lic]
    assert odbl == ["intensity_electricitymaps.csv", "profiles_hourly_electricitymaps.csv"]
    assert sa == ["intensity_ember.csv"]


def test_intensity_files_have_the_long_format_and_sane_values():
    for name in intensity_files():
        with (data_dir() / name).open(newline="", encoding="utf-8") as f:
            assert next(csv.reader(f)) == INTENSITY_FIELDS, name
    for row in all_rows():
        assert row["zone_type"] in {"country", "subregion", "cloud_region", "aggregate"}
        assert row["basis"] in {"lifecycle", "direct"}
        assert 2019 <= int(row["year"]) <= 2026
        assert 0 < float(row["intensity_g_per_kwh"]) < 1500, row


def test_no_duplicate_keys():
    keys = [(r["zone_id"], r["source_id"], r["year"], r["basis"]) for r in all_rows()]
    assert len(keys) == len(set(keys))
    aliases = [a["alias"] for a in read("aliases.csv")]
    assert len(aliases) == len(set(aliases))
    assert len({m["source_id"] for m in manifest()}) == len(manifest())


def test_every_alias_points_at_a_zone_with_data():
    zones = {r["zone_id"] for r in all_rows()}
    for alias in read("aliases.csv"):
        assert alias["zone_id"] in zones, alias
        assert alias["alias"] == " ".join(alias["alias"].casefold().split())


def value(zone, source):
    (row,) = [r for r in all_rows() if r["zone_id"] == zone and r["source_id"] == source]
    return float(row["intensity_g_per_kwh"])


def test_known_values_match_the_sources_readme_cross_check():
    # shared/grid-sources/README.md: USA 384, DEU 342, FRA 44, POL 615, SWE 36, NOR 31, IND 709, CHN 558, GBR 216
    expected = {"USA": 384, "DEU": 342, "FRA": 44, "POL": 615, "IND": 709, "CHN": 558, "GBR": 216}
    for zone, g in expected.items():
        assert value(zone, "ember") == pytest.approx(g, abs=1), zone
    assert value("FRA", "ember") < 100
    assert value("POL", "ember") > 500
    assert value("WORLD", "ember") == pytest.approx(473, abs=1)


def test_egrid_is_converted_from_lb_per_mwh_and_is_direct():
    # eGRID2023 California 394.769 lb/MWh x 0.45359237 = 179.06 g/kWh
    assert value("US-CA", "egrid2023") == pytest.approx(179.06, abs=0.01)
    assert {r["basis"] for r in all_rows() if r["source_id"] == "egrid2023"} == {"direct"}
    # direct runs below life-cycle for the same country
    assert value("USA", "egrid2023") < value("USA", "ember")


def test_independent_sources_agree_within_reason():
    # Electricity Maps (consumption) vs Ember (production) for the same country; fuel-mix derivation vs EM
    for zone in ["DEU", "POL", "USA", "IND", "CHN"]:
        assert value(zone, "electricitymaps") == pytest.approx(value(zone, "ember"), rel=0.25), zone
    assert value("CA-ON", "canada-mix-ipcc") == pytest.approx(
        value("CA-ON", "electricitymaps"), rel=0.6
    )
    assert value("CA-AB", "canada-mix-ipcc") == pytest.approx(
        value("CA-AB", "electricitymaps"), rel=0.4
    )


def test_pue_table_has_the_published_figures():
    pue = {p["provider"]: float(p["pue"]) for p in read("pue.csv")}
    assert pue == {"gcp": 1.09, "aws": 1.15, "azure": 1.18, "industry": 1.56}
    assert all(p["url"].startswith("https://") for p in read("pue.csv"))


def test_cpu_power_table_is_bundled_with_its_licence():
    data = REPO / "greenmeter" / "data"
    with (data / "cpu_power.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 4000 and set(rows[0]) == {"Name", "TDP"}
    assert "MIT License" in (data / "cpu_power.LICENSE").read_text()


def test_hourly_profiles_cover_every_month_and_hour_with_a_spread():
    rows = read("profiles_hourly_electricitymaps.csv")
    by_zone = {}
    for row in rows:
        by_zone.setdefault(row["zone_id"], []).append(row)
    assert sorted(by_zone) == ["BRA", "DEU", "ESP", "FRA", "GBR", "NOR", "POL", "US-CAL-CISO"]
    for zone, cells in by_zone.items():
        assert {(int(r["month"]), int(r["hour_utc"])) for r in cells} == {
            (m, h) for m in range(1, 13) for h in range(24)
        }, zone
        years = 1 if zone in ("DEU", "FRA", "GBR", "POL") else 3
        assert {r["years"] for r in cells} == {"2022" if years == 1 else "2021-2023"}
        for r in cells:
            low, mean, high = (
                float(r[k]) for k in ("p10_g_per_kwh", "mean_g_per_kwh", "p90_g_per_kwh")
            )
            assert 0 < low <= mean <= high < 1500, r
            assert 28 * years <= int(r["hours"]) <= 31 * years and r["basis"] == "lifecycle"
    mean_of = {z: sum(float(r["mean_g_per_kwh"]) for r in c) / len(c) for z, c in by_zone.items()}
    # The figure: Germany's 2022 life-cycle intensity ran 167-757, mostly 239-674
    assert 350 < mean_of["DEU"] < 550 and mean_of["FRA"] < 120 and mean_of["POL"] > 550
    # hourly history and the yearly figure of another source agree within reason
    assert mean_of["ESP"] == pytest.approx(value("ESP", "ember"), rel=0.35)


WHEEL = Path("/tmp/cc/codecarbon-3.3.2-py3-none-any.whl")
# A worktree's ../shared may not be the project's: GREENMETER_GRID_SOURCES names the folder.
SOURCES = Path(os.environ.get("GREENMETER_GRID_SOURCES") or REPO.parent / "shared" / "grid-sources")


@pytest.mark.skipif(
    not (WHEEL.exists() and SOURCES.is_dir()),
    reason=f"raw sources ({SOURCES}) or the CodeCarbon wheel ({WHEEL}) not on this machine",
)
def test_build_script_reproduces_the_shipped_files(tmp_path):
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_grid_data.py"),
            str(SOURCES),
            "--codecarbon-wheel",
            str(WHEEL),
            "--out",
            str(tmp_path / "out"),
            "--cpu-power-out",
            str(tmp_path / "cpu_power.csv"),
        ],
        check=True,
        capture_output=True,
    )
    shipped = sorted(p.name for p in data_dir().glob("*.csv"))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.csv")) == shipped
    for name in shipped:
        digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
        assert digest(tmp_path / "out" / name) == digest(data_dir() / name), name
