#!/usr/bin/env python3
"""Regenerate greenmeter's shipped grid-intensity data (grid_intensity_data/) from raw sources.

Usage:
    pip download --no-deps codecarbon==3.3.2 -d /tmp/cc
    python3 scripts/build_grid_data.py [SOURCES_DIR] --codecarbon-wheel /tmp/cc/codecarbon-3.3.2-py3-none-any.whl

SOURCES_DIR defaults to ../shared/grid-sources (relative to the repository root); see its README.md.
The output is deterministic: the same inputs give byte-identical files, so `git diff` after a rebuild
shows exactly what changed upstream. greenmeter never reads SOURCES_DIR at run time.

Every intensity file has the same long format (one row per zone, year, basis and source):
    zone_id, zone_type, country_iso3, name, year, intensity_g_per_kwh, basis, source_id
Data under share-alike licences (ODbL, CC BY-SA) stays in its own file, as the licences require.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import statistics
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RETRIEVED = "2026-11-22"  # the day the raw copies in shared/grid-sources and the wheel were taken
LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh

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

# IPCC AR5 WG3 Annex III (2014), Table A.III.2, median life-cycle gCO2e/kWh: the factor set Ember uses,
# so provinces derived from a fuel mix sit on the same basis as Ember's country figures.
# "other fossil" (oil) and "other renewables" follow Ember's methodology page.
IPCC_AR5_LIFECYCLE_G_PER_KWH = {
    "coal": 820,
    "naturalGas": 490,
    "petroleum": 700,
    "biomass": 230,
    "hydro": 24,
    "nuclear": 12,
    "wind": 11,
    "solar": 48,
    "tidal": 38,
    "other": 700,
}

# ISO 3166 codes missing from the UNFCCC table that maps alpha-2 <-> alpha-3 below.
EXTRA_ISO2_TO_ISO3 = {"HK": "HKG", "MO": "MAC", "AX": "ALA", "GS": "SGS", "XK": "XKX"}

US_STATE_NAMES_FIX = {"district of columbia": "District of Columbia"}

CANADA_PROVINCES = {
    "alberta": "CA-AB",
    "british columbia": "CA-BC",
    "manitoba": "CA-MB",
    "new brunswick": "CA-NB",
    "newfoundland and labrador": "CA-NL",
    "nova scotia": "CA-NS",
    "northwest territories": "CA-NT",
    "nunavut": "CA-NU",
    "ontario": "CA-ON",
    "prince edward island": "CA-PE",
    "quebec": "CA-QC",
    "saskatchewan": "CA-SK",
    "yukon": "CA-YT",
}

# Cloud region -> (location, grid zone). The grid zone is the Electricity Maps zone (or country) that
# powers the data centre's location, mapped by hand from the providers' published locations. Where a
# location straddles zones we name the zone of the utility that serves the site.
CLOUD_REGIONS = {
    "aws": {
        "us-east-1": ("N. Virginia", "US-MIDA-PJM"),
        "us-east-2": ("Ohio", "US-MIDA-PJM"),
        "us-west-1": ("N. California", "US-CAL-CISO"),
        "us-west-2": ("Oregon", "US-NW-BPAT"),
        "us-gov-east-1": ("Ohio", "US-MIDA-PJM"),
        "us-gov-west-1": ("Oregon", "US-NW-BPAT"),
        "ca-central-1": ("Montreal", "CA-QC"),
        "ca-west-1": ("Calgary", "CA-AB"),
        "mx-central-1": ("Queretaro", "MEX"),
        "sa-east-1": ("Sao Paulo", "BR-CS"),
        "eu-central-1": ("Frankfurt", "DEU"),
        "eu-central-2": ("Zurich", "CHE"),
        "eu-west-1": ("Ireland", "IRL"),
        "eu-west-2": ("London", "GBR"),
        "eu-west-3": ("Paris", "FRA"),
        "eu-south-1": ("Milan", "IT-NO"),
        "eu-south-2": ("Aragon", "ESP"),
        "eu-north-1": ("Stockholm", "SE-SE3"),
        "af-south-1": ("Cape Town", "ZAF"),
        "ap-east-1": ("Hong Kong", "HKG"),
        "ap-south-1": ("Mumbai", "IN-WE"),
        "ap-south-2": ("Hyderabad", "IN-SO"),
        "ap-northeast-1": ("Tokyo", "JP-TK"),
        "ap-northeast-2": ("Seoul", "KOR"),
        "ap-northeast-3": ("Osaka", "JP-KN"),
        "ap-southeast-1": ("Singapore", "SGP"),
        "ap-southeast-2": ("Sydney", "AU-NSW"),
        "ap-southeast-3": ("Jakarta", "IDN"),
        "ap-southeast-4": ("Melbourne", "AU-VIC"),
        "ap-southeast-5": ("Malaysia", "MY-WM"),
        "ap-southeast-7": ("Thailand", "THA"),
        "il-central-1": ("Tel Aviv", "ISR"),
        "me-south-1": ("Bahrain", "BHR"),
        "me-central-1": ("UAE", "ARE"),
        "cn-north-1": ("Beijing", "CHN"),
        "cn-northwest-1": ("Ningxia", "CHN"),
    },
    "azure": {
        "eastus": ("Virginia", "US-MIDA-PJM"),
        "eastus2": ("Virginia", "US-MIDA-PJM"),
        "centralus": ("Iowa", "US-MIDW-MISO"),
        "northcentralus": ("Illinois", "US-MIDA-PJM"),
        "southcentralus": ("Texas", "US-TEX-ERCO"),
        "westcentralus": ("Wyoming", "US-NW-WACM"),
        "westus": ("California", "US-CAL-CISO"),
        "westus2": ("Washington", "US-NW-GCPD"),
        "westus3": ("Arizona", "US-SW-AZPS"),
        "canadacentral": ("Toronto", "CA-ON"),
        "canadaeast": ("Quebec City", "CA-QC"),
        "brazilsouth": ("Sao Paulo", "BR-CS"),
        "mexicocentral": ("Queretaro", "MEX"),
        "northeurope": ("Ireland", "IRL"),
        "westeurope": ("Netherlands", "NLD"),
        "uksouth": ("London", "GBR"),
        "ukwest": ("Cardiff", "GBR"),
        "francecentral": ("Paris", "FRA"),
        "francesouth": ("Marseille", "FRA"),
        "germanywestcentral": ("Frankfurt", "DEU"),
        "germanynorth": ("Berlin", "DEU"),
        "norwayeast": ("Oslo", "NO-NO1"),
        "norwaywest": ("Stavanger", "NO-NO2"),
        "swedencentral": ("Gavle", "SE-SE3"),
        "switzerlandnorth": ("Zurich", "CHE"),
        "switzerlandwest": ("Geneva", "CHE"),
        "polandcentral": ("Warsaw", "POL"),
        "italynorth": ("Milan", "IT-NO"),
        "spaincentral": ("Madrid", "ESP"),
        "eastasia": ("Hong Kong", "HKG"),
        "southeastasia": ("Singapore", "SGP"),
        "japaneast": ("Tokyo", "JP-TK"),
        "japanwest": ("Osaka", "JP-KN"),
        "koreacentral": ("Seoul", "KOR"),
        "koreasouth": ("Busan", "KOR"),
        "centralindia": ("Pune", "IN-WE"),
        "southindia": ("Chennai", "IN-SO"),
        "westindia": ("Mumbai", "IN-WE"),
        "australiaeast": ("New South Wales", "AU-NSW"),
        "australiasoutheast": ("Victoria", "AU-VIC"),
        "australiacentral": ("Canberra", "AU-NSW"),
        "southafricanorth": ("Johannesburg", "ZAF"),
        "southafricawest": ("Cape Town", "ZAF"),
        "uaenorth": ("Dubai", "ARE"),
        "uaecentral": ("Abu Dhabi", "ARE"),
        "qatarcentral": ("Doha", "QAT"),
        "israelcentral": ("Israel", "ISR"),
    },
    "gcp": {
        "us-central1": ("Iowa", "US-MIDW-MISO"),
        "us-central2": ("Oklahoma", "US-CENT-SWPP"),
        "us-east1": ("South Carolina", "US-CAR-SC"),
        "us-east2": ("Georgia", "US-SE-SOCO"),
        "us-east4": ("Northern Virginia", "US-MIDA-PJM"),
        "us-east5": ("Columbus", "US-MIDA-PJM"),
        "us-south1": ("Dallas", "US-TEX-ERCO"),
        "us-west1": ("Oregon", "US-NW-BPAT"),
        "us-west2": ("Los Angeles", "US-CAL-LDWP"),
        "us-west3": ("Salt Lake City", "US-NW-PACE"),
        "us-west4": ("Las Vegas", "US-NW-NEVP"),
        "northamerica-northeast1": ("Montreal", "CA-QC"),
        "northamerica-northeast2": ("Toronto", "CA-ON"),
        "northamerica-south1": ("Queretaro", "MEX"),
        "southamerica-east1": ("Sao Paulo", "BR-CS"),
        "southamerica-west1": ("Santiago", "CHL"),
        "europe-central2": ("Warsaw", "POL"),
        "europe-north1": ("Hamina", "FIN"),
        "europe-north2": ("Stockholm", "SE-SE3"),
        "europe-southwest1": ("Madrid", "ESP"),
        "europe-west1": ("St. Ghislain", "BEL"),
        "europe-west2": ("London", "GBR"),
        "europe-west3": ("Frankfurt", "DEU"),
        "europe-west4": ("Eemshaven", "NLD"),
        "europe-west6": ("Zurich", "CHE"),
        "europe-west8": ("Milan", "IT-NO"),
        "europe-west9": ("Paris", "FRA"),
        "europe-west10": ("Berlin", "DEU"),
        "europe-west12": ("Turin", "IT-NO"),
        "asia-east1": ("Taiwan", "TWN"),
        "asia-east2": ("Hong Kong", "HKG"),
        "asia-northeast1": ("Tokyo", "JP-TK"),
        "asia-northeast2": ("Osaka", "JP-KN"),
        "asia-northeast3": ("Seoul", "KOR"),
        "asia-south1": ("Mumbai", "IN-WE"),
        "asia-south2": ("Delhi", "IN-NO"),
        "asia-southeast1": ("Singapore", "SGP"),
        "asia-southeast2": ("Jakarta", "IDN"),
        "australia-southeast1": ("Sydney", "AU-NSW"),
        "australia-southeast2": ("Melbourne", "AU-VIC"),
        "me-central1": ("Doha", "QAT"),
        "me-central2": ("Dammam", "SAU"),
        "me-west1": ("Tel Aviv", "ISR"),
        "africa-south1": ("Johannesburg", "ZAF"),
    },
}

# Default PUE a cloud region brings (measured energy is IT load; PUE adds the facility overhead).
PUE_ROWS = [
    (
        "gcp",
        1.09,
        2024,
        "Google fleet-wide trailing twelve-month PUE, 2024",
        "https://www.google.com/about/datacenters/efficiency/",
    ),
    (
        "aws",
        1.15,
        2024,
        "AWS global PUE, 2023-2024 sustainability reporting",
        "https://sustainability.aboutamazon.com/products-services/aws-cloud",
    ),
    (
        "azure",
        1.18,
        2024,
        "Microsoft Azure fleet PUE",
        "https://datacenters.microsoft.com/sustainability/efficiency/",
    ),
    (
        "industry",
        1.56,
        2024,
        "Uptime Institute Global Data Center Survey 2024 (industry average 1.54-1.58 over 2023-2025)",
        "https://uptimeinstitute.com/resources/research-and-reports/uptime-institute-global-data-center-survey-results-2024",
    ),
]

# (source_id, shipped file, title, url, licence, raw inputs relative to the sources dir or the wheel)
SOURCES = {
    "ember": (
        "intensity_ember.csv",
        "Ember yearly electricity data, as shipped by CO2.js 0.19.0 (average-intensities.json)",
        "https://ember-energy.org/data/yearly-electricity-data/",
        "CC-BY-4.0 (Ember); CO2.js redistributes it as CC-BY-SA-4.0, so it is kept in its own file",
    ),
    "electricitymaps": (
        "intensity_electricitymaps.csv",
        "Electricity Maps yearly zone averages 2024, as shipped by CO2.js 0.19.0 (yearly_2024.json)",
        "https://www.electricitymaps.com/data-portal",
        "ODbL-1.0 (Electricity Maps); kept in its own file",
    ),
    "egrid2023": (
        "intensity_egrid2023.csv",
        "US EPA eGRID2023 state CO2e total output emission rate (STC2ERTA), via CodeCarbon 3.3.2",
        "https://www.epa.gov/egrid/download-data",
        "US government work (public domain); CodeCarbon's copy MIT",
    ),
    "google-cloud": (
        "intensity_google_cloud.csv",
        "Google Cloud region carbon data 2024 (grid carbon intensity, operational)",
        "https://github.com/GoogleCloudPlatform/region-carbon-info",
        "Apache-2.0",
    ),
    "canada-mix-ipcc": (
        "intensity_canada_mix.csv",
        "Canadian provincial generation mix (CodeCarbon 3.3.2 canada_energy_mix.json) x IPCC AR5 median life-cycle factors",
        "https://github.com/mlco2/codecarbon",
        "MIT (CodeCarbon); factors: IPCC AR5 WG3 Annex III Table A.III.2",
    ),
    "codecarbon-nordic": (
        "intensity_codecarbon_nordic.csv",
        "Nordic bidding zones, CodeCarbon 3.3.2 nordic_emissions.json (ENTSO-E production mix x CodeCarbon factors)",
        "https://github.com/mlco2/codecarbon",
        "MIT (CodeCarbon)",
    ),
}

# Which source wins for a zone, per basis, first wins. Countries: Ember (broadest, production-based,
# IPCC AR5 life-cycle factors); sub-national zones: Electricity Maps (the only life-cycle source at that
# grain); the fuel-mix derivations and CodeCarbon's Nordic figures are cross-checks only.
PRECEDENCE = [
    "ember",
    "electricitymaps",
    "canada-mix-ipcc",
    "codecarbon-nordic",
    "google-cloud",
    "egrid2023",
]


# Hourly Electricity Maps history (Data Portal exports) behind the `greenmeter when` profiles:
# Electricity Maps zone -> raw files. DE, FR, GB, PL have 2022 only; the rest 2021-2023.
HOURLY_HISTORY = {
    zone: [f"electricitymaps-hourly-2022/{zone}_2022_hourly.csv"]
    for zone in ("DE", "FR", "GB", "PL")
} | {
    zone: [f"electricitymaps-hourly/{zone}_{year}_hourly.csv" for year in (2021, 2022, 2023)]
    for zone in ("BR", "ES", "NO", "US-CAL-CISO")
}
HOURLY_LCA_COLUMN = "Carbon Intensity gCO₂eq/kWh (LCA)"
PROFILE_FILE = "profiles_hourly_electricitymaps.csv"
PROFILE_FIELDS = [
    "zone_id",
    "month",
    "hour_utc",
    "mean_g_per_kwh",
    "p10_g_per_kwh",
    "p90_g_per_kwh",
    "std_g_per_kwh",
    "hours",
    "years",
    "basis",
]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Inputs:
    """Reads raw inputs and remembers their hashes for the manifest."""

    def __init__(self, sources_dir: Path, wheel: zipfile.ZipFile):
        self.sources_dir = sources_dir
        self.wheel = wheel
        self.hashes: dict[str, list[str]] = {}

    def read(self, source_id: str, name: str) -> bytes:
        if name.startswith("codecarbon/"):
            data = self.wheel.read(name)
        else:
            data = (self.sources_dir / name).read_bytes()
        self.hashes.setdefault(source_id, []).append(f"{name}:{sha256_of(data)}")
        return data


def iso_tables(inputs: Inputs) -> dict[str, str]:
    """alpha-2 -> alpha-3, from the UNFCCC table's code columns (codes only, no figures)."""
    table = json.loads((inputs.sources_dir / "co2js/marginal-intensities-2021.json").read_bytes())
    iso2_to_iso3 = dict(EXTRA_ISO2_TO_ISO3)
    for row in table.values():
        if row.get("country_code_iso_2") and row.get("country_code_iso_3"):
            iso2_to_iso3[row["country_code_iso_2"]] = row["country_code_iso_3"]
    return iso2_to_iso3


def aggregate_id(name: str) -> str:
    return name.upper().replace(" ", "_")


def ember_rows(inputs: Inputs) -> list[dict]:
    data = json.loads(inputs.read("ember", "co2js/average-intensities.json"))
    rows = []
    for item in data.values():
        iso3 = item["country_code"]
        if item["emissions_intensity_gco2_per_kwh"] <= 0:
            # No grid is carbon-free on a life-cycle basis (hydro alone is ~24 g/kWh): a 0 is missing
            # data (Central African Republic 2022), so the zone falls through to Electricity Maps.
            continue
        rows.append(
            {
                "zone_id": iso3 or aggregate_id(item["country_or_region"]),
                "zone_type": "country" if iso3 else "aggregate",
                "country_iso3": iso3,
                "name": item["country_or_region"],
                "year": int(item["year"]),
                "intensity_g_per_kwh": float(item["emissions_intensity_gco2_per_kwh"]),
                "basis": "lifecycle",
                "source_id": "ember",
            }
        )
    return rows


def electricitymaps_rows(inputs: Inputs, iso2_to_iso3: dict[str, str]) -> list[dict]:
    data = json.loads(inputs.read("electricitymaps", "co2js/yearly_2024.json"))
    rows = []
    for zone, item in data.items():
        assert item["carbonIntensity"]["unit"] == "gCO2eq/kWh", zone
        country_iso2 = zone.split("-")[0]
        iso3 = iso2_to_iso3.get(country_iso2, "")
        national = "-" not in zone
        rows.append(
            {
                # Country-level zones share the ISO3 zone id with Ember, so the two are alternatives for one zone.
                "zone_id": iso3 if national and iso3 else zone,
                "zone_type": "country" if national else "subregion",
                "country_iso3": iso3,
                "name": item["zone"]["zoneName"],
                "year": 2024,
                "intensity_g_per_kwh": float(item["carbonIntensity"]["value"]),
                "basis": "lifecycle",
                "source_id": "electricitymaps",
            }
        )
    return rows


def egrid_rows(inputs: Inputs) -> list[dict]:
    data = json.loads(
        inputs.read("egrid2023", "codecarbon/data/private_infra/2023/usa_emissions.json")
    )
    assert data["_unit"]["emissions"] == "lbs/MWh"
    year = int(data["_source"]["year"])
    rows = []
    for state, item in data.items():
        if state.startswith("_"):
            continue
        national = state == "usa"
        rows.append(
            {
                "zone_id": "USA" if national else f"US-{item['regionCode']}",
                "zone_type": "country" if national else "subregion",
                "country_iso3": "USA",
                "name": "United States"
                if national
                else US_STATE_NAMES_FIX.get(state, state.title()),
                "year": year,
                "intensity_g_per_kwh": round(item["emissions"] * LB_PER_MWH_TO_G_PER_KWH, 2),
                # eGRID output emission rates count combustion at the plant only: direct, not life-cycle.
                "basis": "direct",
                "source_id": "egrid2023",
            }
        )
    return rows


def google_cloud_rows(inputs: Inputs) -> list[dict]:
    text = inputs.read("google-cloud", "gcp-region-carbon-info/2024.csv").decode("utf-8")
    rows = []
    for item in csv.DictReader(io.StringIO(text)):
        rows.append(
            {
                "zone_id": f"gcp:{item['Google Cloud Region']}",
                "zone_type": "cloud_region",
                "country_iso3": "",
                "name": f"Google Cloud {item['Google Cloud Region']} ({item['Location']})",
                "year": 2024,
                "intensity_g_per_kwh": float(item["Grid carbon intensity (gCO2eq / kWh)"]),
                # Google: "average operational gross emissions per unit of energy from the grid".
                "basis": "direct",
                "source_id": "google-cloud",
            }
        )
    return rows


def canada_rows(inputs: Inputs) -> list[dict]:
    data = json.loads(
        inputs.read("canada-mix-ipcc", "codecarbon/data/private_infra/2023/canada_energy_mix.json")
    )
    rows = []
    for province, mix in data.items():
        shares = {fuel: share for fuel, share in mix.items() if fuel != "total"}
        total = sum(shares.values())
        intensity = (
            sum(share * IPCC_AR5_LIFECYCLE_G_PER_KWH[fuel] for fuel, share in shares.items())
            / total
        )
        rows.append(
            {
                "zone_id": CANADA_PROVINCES[province],
                "zone_type": "subregion",
                "country_iso3": "CAN",
                "name": province.title(),
                "year": 2023,  # CodeCarbon files this mix under data/private_infra/2023/
                "intensity_g_per_kwh": round(intensity, 2),
                "basis": "lifecycle",
                "source_id": "canada-mix-ipcc",
            }
        )
    return rows


def nordic_rows(inputs: Inputs) -> list[dict]:
    data = json.loads(
        inputs.read("codecarbon-nordic", "codecarbon/data/private_infra/nordic_emissions.json")
    )
    rows = []
    for zone, item in data["data"].items():
        assert item["unit"] == "gCO2eq/kWh", zone
        national = zone == "FI"
        rows.append(
            {
                "zone_id": "FIN" if national else f"{zone[:2]}-{zone}",
                "zone_type": "country" if national else "subregion",
                "country_iso3": {"SE": "SWE", "NO": "NOR", "FI": "FIN"}[zone[:2]],
                "name": "Finland" if national else item["description"],
                "year": int(item["year"]),
                "intensity_g_per_kwh": float(item["emission_factor"]),
                # Its factor table mixes life-cycle (hydro, wind, nuclear) and other sources; the closest label.
                "basis": "lifecycle",
                "source_id": "codecarbon-nordic",
            }
        )
    return rows


def read_hourly(data: bytes) -> list[tuple[datetime, float]]:
    """(UTC hour, life-cycle gCO2e/kWh) rows of an Electricity Maps hourly export."""
    out = []
    for item in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))):
        moment = datetime.fromisoformat(item["Datetime (UTC)"]).replace(tzinfo=timezone.utc)
        out.append((moment, float(item[HOURLY_LCA_COLUMN])))
    return out


def hourly_profile(
    points: list[tuple[datetime, float]], *, split_weekend: bool = False
) -> dict[tuple, list[float]]:
    """Values grouped by (month, UTC hour) -- and weekday/weekend with ``split_weekend``:
    the cells of a profile. ``benchmarks/when_policy.py`` builds its training profiles here too."""
    cells: dict[tuple, list[float]] = {}
    for moment, value in points:
        key = (moment.month, moment.hour)
        if split_weekend:
            key += (moment.weekday() >= 5,)
        cells.setdefault(key, []).append(value)
    return cells


def profile_stats(values: list[float]) -> dict[str, float]:
    """Mean, 10th and 90th percentile (inclusive method: deterministic, within the data) and
    the population standard deviation of one cell."""
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {
        "mean_g_per_kwh": statistics.fmean(values),
        "p10_g_per_kwh": deciles[0],
        "p90_g_per_kwh": deciles[-1],
        "std_g_per_kwh": statistics.pstdev(values),
    }


def profile_rows(inputs: Inputs, iso2_to_iso3: dict[str, str]) -> list[dict]:
    """Mean and spread per zone x month x UTC hour of day, over every year of hourly history.
    Weekdays and weekends share a cell: splitting them did not predict a held-out year better
    (benchmarks/when_policy.py, docs/when.md)."""
    rows = []
    for em_zone, files in HOURLY_HISTORY.items():
        points = [p for name in files for p in read_hourly(inputs.read("hourly-profiles", name))]
        years = sorted({moment.year for moment, _ in points})
        zone_id = iso2_to_iso3.get(em_zone, em_zone)  # DE -> DEU; US-CAL-CISO unchanged
        for (month, hour), values in sorted(hourly_profile(points).items()):
            stats = profile_stats(values)
            rows.append(
                {
                    "zone_id": zone_id,
                    "month": month,
                    "hour_utc": hour,
                    **{k: f"{v:.2f}" for k, v in stats.items()},
                    "hours": len(values),
                    "years": f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0]),
                    "basis": "lifecycle",
                }
            )
    return rows


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def format_intensity(rows: list[dict]) -> list[dict]:
    out = []
    for row in sorted(rows, key=lambda r: (r["zone_id"], r["year"])):
        row = dict(row)
        row["intensity_g_per_kwh"] = f"{row['intensity_g_per_kwh']:g}"
        out.append(row)
    return out


def build_aliases(all_rows: list[dict], iso2_to_iso3: dict[str, str]) -> list[dict]:
    """alias (normalised: casefolded, single spaces) -> zone_id. The first claim on an alias wins:
    codes before names, countries before sub-national zones (so 'Georgia' is the country)."""
    aliases: dict[str, dict] = {}

    def add(alias: str, zone_id: str, kind: str, note: str = "") -> None:
        key = " ".join(alias.casefold().split())
        if key and key not in aliases and key != zone_id.casefold():
            aliases[key] = {"alias": key, "zone_id": zone_id, "kind": kind, "note": note}

    zones = {r["zone_id"] for r in all_rows}
    for iso2, iso3 in sorted(iso2_to_iso3.items()):
        if iso3 in zones:
            add(iso2, iso3, "iso2")
    for row in sorted(
        all_rows, key=lambda r: (r["zone_type"] != "country", PRECEDENCE.index(r["source_id"]))
    ):
        if row["zone_type"] == "cloud_region":
            continue
        add(row["name"], row["zone_id"], "name")
    for state_row in (
        r for r in all_rows if r["source_id"] == "egrid2023" and r["zone_type"] == "subregion"
    ):
        add(f"{state_row['name']}, US", state_row["zone_id"], "name")
    add("Québec", "CA-QC", "name")
    add("UK", "GBR", "name")
    add("United States of America", "USA", "name")
    add("global", "WORLD", "name")
    for provider, regions in CLOUD_REGIONS.items():
        for region, (location, zone) in regions.items():
            assert zone in zones, f"{provider}:{region} -> {zone} has no data"
            add(f"{provider}:{region}", zone, "cloud_region", location)
    return sorted(aliases.values(), key=lambda a: (a["kind"], a["alias"]))


def copy_cpu_power(wheel: zipfile.ZipFile, dest: Path) -> int:
    data = wheel.read("codecarbon/data/hardware/cpu_power.csv")
    dest.write_bytes(data)
    license_text = next(wheel.read(n) for n in wheel.namelist() if n.endswith("licenses/LICENSE"))
    dest.with_name("cpu_power.LICENSE").write_bytes(license_text)
    return data.count(b"\n") - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sources",
        nargs="?",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "grid-sources",
        help="raw sources folder (default: ../shared/grid-sources)",
    )
    parser.add_argument(
        "--codecarbon-wheel",
        type=Path,
        required=True,
        help="codecarbon-3.3.2 wheel (pip download --no-deps codecarbon==3.3.2 -d DIR)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "grid_intensity_data")
    parser.add_argument(
        "--cpu-power-out", type=Path, default=REPO_ROOT / "greenmeter" / "data" / "cpu_power.csv"
    )
    args = parser.parse_args(argv)

    wheel = zipfile.ZipFile(args.codecarbon_wheel)
    inputs = Inputs(args.sources, wheel)
    iso2_to_iso3 = iso_tables(inputs)
    by_source = {
        "ember": ember_rows(inputs),
        "electricitymaps": electricitymaps_rows(inputs, iso2_to_iso3),
        "egrid2023": egrid_rows(inputs),
        "google-cloud": google_cloud_rows(inputs),
        "canada-mix-ipcc": canada_rows(inputs),
        "codecarbon-nordic": nordic_rows(inputs),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for source_id, rows in by_source.items():
        file_name, title, url, licence = SOURCES[source_id]
        write_csv(args.out / file_name, INTENSITY_FIELDS, format_intensity(rows))
        manifest.append(
            {
                "source_id": source_id,
                "file": file_name,
                "title": title,
                "url": url,
                "licence": licence,
                "retrieved": RETRIEVED,
                "raw_sha256": " ".join(inputs.hashes[source_id]),
                "rows": len(rows),
                "precedence": PRECEDENCE.index(source_id) + 1,
            }
        )
    all_rows = [r for rows in by_source.values() for r in rows]
    aliases = build_aliases(all_rows, iso2_to_iso3)
    write_csv(args.out / "aliases.csv", ["alias", "zone_id", "kind", "note"], aliases)
    write_csv(
        args.out / "pue.csv",
        ["provider", "pue", "year", "source", "url"],
        [dict(zip(["provider", "pue", "year", "source", "url"], r)) for r in PUE_ROWS],
    )
    manifest.append(
        {
            "source_id": "aliases",
            "file": "aliases.csv",
            "title": "ISO 3166 codes (UNFCCC table in CO2.js), source zone names, cloud region locations (hand-mapped)",
            "url": "",
            "licence": "facts; see README",
            "retrieved": RETRIEVED,
            "raw_sha256": "",
            "rows": len(aliases),
            "precedence": "",
        }
    )
    profiles = profile_rows(inputs, iso2_to_iso3)
    write_csv(args.out / PROFILE_FILE, PROFILE_FIELDS, profiles)
    manifest.append(
        {
            "source_id": "hourly-profiles",
            "file": PROFILE_FILE,
            "title": "Mean and spread per zone x month x UTC hour, from Electricity Maps hourly "
            "history (DE, FR, GB, PL 2022; BR, ES, NO, US-CAL-CISO 2021-2023)",
            "url": "https://www.electricitymaps.com/data-portal",
            "licence": "ODbL-1.0 (Electricity Maps); kept in its own file",
            "retrieved": RETRIEVED,
            "raw_sha256": " ".join(inputs.hashes["hourly-profiles"]),
            "rows": len(profiles),
            "precedence": "",
        }
    )
    manifest.append(
        {
            "source_id": "pue",
            "file": "pue.csv",
            "title": "Published provider PUE figures",
            "url": "",
            "licence": "facts; see the url column",
            "retrieved": RETRIEVED,
            "raw_sha256": "",
            "rows": len(PUE_ROWS),
            "precedence": "",
        }
    )

    args.cpu_power_out.parent.mkdir(parents=True, exist_ok=True)
    cpu_rows = copy_cpu_power(wheel, args.cpu_power_out)
    write_csv(
        args.out / "manifest.csv",
        [
            "source_id",
            "file",
            "title",
            "url",
            "licence",
            "retrieved",
            "raw_sha256",
            "rows",
            "precedence",
        ],
        manifest,
    )
    countries = {r["zone_id"] for r in all_rows if r["zone_type"] == "country"}
    subregions = {r["zone_id"] for r in all_rows if r["zone_type"] == "subregion"}
    clouds = [a for a in aliases if a["kind"] == "cloud_region"]
    print(
        f"wrote {args.out}: {len(countries)} countries, {len(subregions)} sub-national zones, "
        f"{len(clouds)} cloud regions, {len(aliases)} aliases, "
        f"{len(profiles)} hourly profile cells; {cpu_rows} CPU models -> {args.cpu_power_out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
