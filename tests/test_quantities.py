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


def test_figures_side_by_side_get_the_digits_that_tell_them_apart():
    from greenmeter.quantities import ENERGY_STEPS, figures_formatter

    fmt = figures_formatter([0.000419, 0.000197], ENERGY_STEPS)
    assert (fmt(0.000419), fmt(0.000197)) == ("419 µJ", "197 µJ")
    close = figures_formatter([0.0004191, 0.0004192], ENERGY_STEPS)
    assert (close(0.0004191), close(0.0004192)) == ("419.1 µJ", "419.2 µJ")
    assert fmt(0.0000123) == "12.3 µJ"  # a standard deviation is not rounded to 0


def test_an_estimate_is_rounded_to_what_it_is_worth_and_keeps_its_range():
    from greenmeter.quantities import (
        ENERGY_STEPS,
        format_energy_range,
        format_estimate,
        format_figure,
    )

    assert format_estimate(2.676, 1.25, 4.58, ENERGY_STEPS) == "≈2.7 J (1.2–4.6 J)"
    assert format_estimate(1234.5, 1200, 1260, ENERGY_STEPS) == "≈1230 J (1200–1300 J)"
    assert format_energy_range(0.19, 0.71) == "190–710 mJ"
    assert format_figure(3.5, None, ENERGY_STEPS) == "3.5 J"  # measured: as always
    assert format_figure(3.5, (3.5, 3.5), ENERGY_STEPS) == "3.5 J"
    assert format_figure(3.5, (1.6, 6.0), ENERGY_STEPS, with_range=False) == "≈3.5 J"


def test_rates_and_counts_read_as_people_write_them():
    from greenmeter.quantities import format_count, format_rate

    assert format_rate(1980.3, "samples") == "1.98 k samples/s"
    assert format_rate(2.97e6, "tokens") == "2.97 M tokens/s"
    assert format_rate(0.5, "steps") == "0.500 steps/s"
    assert (format_count(3e6), format_count(2.5)) == ("3,000,000", "2.5")
