"""resolve_region: codes, names, zones, cloud regions, typos, the loud world fallback."""

import pytest

from greenmeter.carbon.regions import UnknownRegion, resolve_region, search_regions


@pytest.mark.parametrize("query", ["DE", "de", "DEU", "deu", "Germany", "  germany "])
def test_country_codes_and_names_resolve_to_one_zone(query):
    r = resolve_region(query)
    assert (r.zone_id, r.name, r.source, r.year, r.basis) == (
        "DEU",
        "Germany",
        "ember",
        2024,
        "lifecycle",
    )
    assert r.intensity_g_per_kwh == pytest.approx(342.06)
    assert r.region == query and r.fallback is False and r.pue is None


def test_known_country_values():
    assert resolve_region("FR").intensity_g_per_kwh < 100
    assert resolve_region("PL").intensity_g_per_kwh > 500
    assert resolve_region("SE").intensity_g_per_kwh < 50


@pytest.mark.parametrize(
    "query,zone,source,g",
    [
        ("CA-QC", "CA-QC", "electricitymaps", 35),
        ("Quebec", "CA-QC", "electricitymaps", 35),
        ("SE-SE3", "SE-SE3", "electricitymaps", 21),
        ("in-so", "IN-SO", "electricitymaps", 534),
        ("US-CAL-CISO", "US-CAL-CISO", "electricitymaps", 229),
    ],
)
def test_subnational_zones_prefer_electricity_maps_lifecycle(query, zone, source, g):
    r = resolve_region(query)
    assert (r.zone_id, r.source, r.basis) == (zone, source, "lifecycle")
    assert r.intensity_g_per_kwh == pytest.approx(g)


def test_us_state_has_only_a_direct_figure_and_says_so():
    r = resolve_region("US-CA")
    assert (r.zone_id, r.name, r.source, r.year, r.basis) == (
        "US-CA",
        "California",
        "egrid2023",
        2023,
        "direct",
    )
    assert r.intensity_g_per_kwh == pytest.approx(179.06)


def test_georgia_is_the_country_and_the_state_has_its_own_alias():
    assert resolve_region("Georgia").zone_id == "GEO"
    assert resolve_region("Georgia, US").zone_id == "US-GA"


@pytest.mark.parametrize(
    "query,zone,pue",
    [
        ("aws:eu-central-1", "DEU", 1.15),
        ("aws:us-east-1", "US-MIDA-PJM", 1.15),
        ("gcp:europe-west1", "BEL", 1.09),
        ("azure:westeurope", "NLD", 1.18),
        ("AZURE:WestEurope", "NLD", 1.18),
    ],
)
def test_cloud_regions_resolve_to_their_grid_zone_and_bring_the_provider_pue(query, zone, pue):
    r = resolve_region(query)
    assert (r.zone_id, r.basis, r.pue) == (zone, "lifecycle", pue)
    assert r.region == query and "http" in r.pue_source


def test_cloud_region_direct_basis_uses_the_providers_own_figure():
    r = resolve_region("gcp:europe-west1", basis="direct")
    assert (r.zone_id, r.source, r.basis, r.year) == (
        "gcp:europe-west1",
        "google-cloud",
        "direct",
        2024,
    )
    assert r.intensity_g_per_kwh == pytest.approx(103.37)
    assert r.pue == 1.09


def test_direct_basis_for_a_country_without_direct_data_keeps_lifecycle_labelled():
    r = resolve_region("DE", basis="direct")
    assert (
        r.basis == "lifecycle"
    )  # no direct figure shipped for Germany: the label says what we used


@pytest.mark.parametrize("query", [None, "", "   "])
def test_nothing_configured_gives_the_world_average_loudly(query):
    r = resolve_region(query)
    assert (r.region, r.zone_id, r.fallback, r.source, r.basis) == (
        None,
        "WORLD",
        True,
        "ember",
        "lifecycle",
    )
    assert r.intensity_g_per_kwh == pytest.approx(472.94)


def test_asking_for_the_world_explicitly_is_not_a_fallback():
    r = resolve_region("World")
    assert (r.zone_id, r.fallback) == ("WORLD", False)


@pytest.mark.parametrize(
    "query,suggestion",
    [
        ("Germny", "DEU (Germany)"),
        ("frnace", "FRA (France)"),
        ("aws:us-east1", "aws:us-east-1"),
        ("azure:westeurop", "azure:westeurope"),
    ],
)
def test_typo_gives_one_line_did_you_mean(query, suggestion):
    with pytest.raises(UnknownRegion) as info:
        resolve_region(query)
    message = str(info.value)
    assert "\n" not in message and "did you mean" in message and suggestion in message
    assert isinstance(info.value, ValueError)


def test_nonsense_gives_no_suggestion_but_still_a_hint():
    with pytest.raises(UnknownRegion, match=r"unknown region 'qqqqqqqq' .*greenmeter regions"):
        resolve_region("qqqqqqqq")


def test_bad_basis_is_rejected():
    with pytest.raises(ValueError, match="basis"):
        resolve_region("DE", basis="marginal")


def test_search_regions_by_substring_and_fuzzy():
    sweden = search_regions("swed")
    assert {"SWE", "SE-SE1", "SE-SE2", "SE-SE3", "SE-SE4"} <= {r.zone_id for r in sweden}
    assert "azure:swedencentral" in {r.region for r in sweden}
    assert search_regions("Grmany")[0].zone_id == "DEU"
    everything = search_regions()
    assert len(everything) > 500
    assert len({r.region for r in everything}) == len(everything)
