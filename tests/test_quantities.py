"""Budgets and gates as people write them: unit-aware parsing, bad units refused."""

from __future__ import annotations

import click
import pytest

from greenmeter.cli.params import ENERGY, MASS, PERCENT
from greenmeter.quantities import parse_energy_j, parse_fraction, parse_mass_g


@pytest.mark.parametrize(
    "text, joules",
    [
        ("50kJ", 50_000.0),
        ("50 kJ", 50_000.0),
        ("1200", 1200.0),
        ("12.5J", 12.5),
        ("2MJ", 2e6),
        ("3mJ", 0.003),
        ("1Wh", 3600.0),
        ("1.5kWh", 5.4e6),
        ("0.5 kwh", 1.8e6),
        ("1e3J", 1000.0),
        ("1MWh", 3.6e9),
        ("2kj", 2000.0),
    ],
)
def test_energy_units(text, joules):
    assert parse_energy_j(text) == pytest.approx(joules, rel=1e-12)


@pytest.mark.parametrize(
    "text, grams",
    [
        ("10g", 10.0),
        ("10", 10.0),
        ("1.5kg", 1500.0),
        ("500mg", 0.5),
        ("2 kgCO2e", 2000.0),
        ("3gCO2", 3.0),
        ("1t", 1e6),
        ("0.25 KG", 250.0),
    ],
)
def test_mass_units(text, grams):
    assert parse_mass_g(text) == pytest.approx(grams, rel=1e-12)


@pytest.mark.parametrize(
    "text, fraction", [("5%", 0.05), ("5", 0.05), ("0.5%", 0.005), ("12.5 %", 0.125), ("0%", 0.0)]
)
def test_percentages(text, fraction):
    assert parse_fraction(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["50kB", "mj", "1.5 kw", "abc", "J", "5 5J", "inf", "nan"])
def test_bad_energy_is_refused(text):
    with pytest.raises(click.BadParameter):
        ENERGY.convert(text, None, None)


def test_ambiguous_millijoule_says_which():
    with pytest.raises(click.BadParameter, match="millijoule"):
        ENERGY.convert("5mj", None, None)


@pytest.mark.parametrize("text", ["10lb", "-1g", "0g", "kg"])
def test_bad_or_non_positive_mass_is_refused(text):
    with pytest.raises(click.BadParameter):
        MASS.convert(text, None, None)


def test_settings_file_numbers_are_base_units():
    assert ENERGY.convert(50000, None, None) == 50000.0
    assert MASS.convert(2.5, None, None) == 2.5
    assert PERCENT.convert(5, None, None) == pytest.approx(0.05)
    with pytest.raises(click.BadParameter):
        ENERGY.convert(-3, None, None)
