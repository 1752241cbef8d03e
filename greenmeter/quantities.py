"""Energy, mass of CO2e and percentages as people write them: ``50kJ``, ``1.5 kWh``,
``10g``, ``5%``.

Used for budgets (``run --max-energy/--max-co2``) and gates (``compare --max-increase``).
Parsing happens while click parses options, so a bad unit is refused before the command starts.
"""

from __future__ import annotations

import math
import re

import click

_NUMBER_AND_UNIT = re.compile(
    r"^\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-z0-9%]*)\s*$")

ENERGY_UNITS_J = {"J": 1.0, "mJ": 1e-3, "kJ": 1e3, "MJ": 1e6, "GJ": 1e9,
                  "Wh": 3600.0, "kWh": 3.6e6, "MWh": 3.6e9}
"""Case matters for the prefixes: mJ is a millijoule, MJ a megajoule."""
_ENERGY_ANY_CASE = {"j": "J", "kj": "kJ", "gj": "GJ", "wh": "Wh", "kwh": "kWh"}
"""Spellings whose case cannot change their meaning (no m/M clash)."""

MASS_UNITS_G = {"mg": 1e-3, "g": 1.0, "kg": 1e3, "t": 1e6}
_CO2_SUFFIXES = ("co2e", "co2eq", "co2")


def _split(text: str) -> tuple[float, str]:
    match = _NUMBER_AND_UNIT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a number with an optional unit")
    value = float(match["number"])
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value, match["unit"]


def parse_energy_j(text: str) -> float:
    """``"50kJ"`` -> 50000.0 joules. A bare number is joules."""
    value, unit = _split(text)
    if unit:
        canonical = unit if unit in ENERGY_UNITS_J else _ENERGY_ANY_CASE.get(unit.lower())
        if canonical is None:
            hint = " (mJ is a millijoule, MJ a megajoule)" if unit.lower() in ("mj", "mwh") else ""
            raise ValueError(f"unknown energy unit {unit!r} in {text!r}; use one of "
                             f"{', '.join(ENERGY_UNITS_J)}{hint}")
        value *= ENERGY_UNITS_J[canonical]
    return value


def parse_mass_g(text: str) -> float:
    """``"10g"``, ``"2 kgCO2e"`` -> grams of CO2e. A bare number is grams."""
    value, unit = _split(text)
    if unit:
        key = unit.lower()
        for suffix in _CO2_SUFFIXES:
            if key.endswith(suffix) and key != suffix:
                key = key[: -len(suffix)]
                break
        if key not in MASS_UNITS_G:
            raise ValueError(f"unknown mass unit {unit!r} in {text!r}; use one of "
                             f"{', '.join(MASS_UNITS_G)} (optionally followed by CO2e)")
        value *= MASS_UNITS_G[key]
    return value


def parse_fraction(text: str) -> float:
    """``"5%"`` -> 0.05. A bare number is a percentage too: ``"5"`` -> 0.05."""
    value, unit = _split(text)
    if unit not in ("", "%"):
        raise ValueError(f"{text!r}: expected a percentage such as 5%")
    return value / 100.0


class _QuantityType(click.ParamType):
    """A click type for a positive quantity; numbers from a settings file are taken as the
    base unit (joules, grams), like a bare number on the command line."""

    parse = staticmethod(parse_energy_j)
    allow_zero = False

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = self.parse(str(value))
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if not math.isfinite(number) or number < 0 or (number == 0 and not self.allow_zero):
            self.fail(f"{value!r} must be {'zero or more' if self.allow_zero else 'positive'}",
                      param, ctx)
        return number


class EnergyType(_QuantityType):
    """Energy in joules: ``50kJ``, ``0.5 kWh``, ``1200`` (J)."""

    name = "energy"
    parse = staticmethod(parse_energy_j)


class MassType(_QuantityType):
    """Mass of CO2e in grams: ``10g``, ``1.5kg``, ``500mg``, ``3`` (g)."""

    name = "mass"
    parse = staticmethod(parse_mass_g)


class PercentType(_QuantityType):
    """A non-negative fraction written as a percentage: ``5%`` -> 0.05."""

    name = "percent"
    parse = staticmethod(parse_fraction)
    allow_zero = True

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a settings-file number is a percentage, as on the command line
        return super().convert(value, param, ctx)


ENERGY = EnergyType()
MASS = MassType()
PERCENT = PercentType()
