"""Energy, power, mass of CO2e, duration and percentages: read as people write them
(``50kJ``, ``1.5 kWh``, ``10g``, ``5%``) and written the one way greenmeter shows them.

Every figure greenmeter prints, in the terminal, in Markdown and in HTML, goes through
the formatters here, so a run reads the same everywhere. Parsers raise ValueError; the
click types that call them are in ``greenmeter.cli.params``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

J_PER_KWH = 3.6e6
J_PER_WH = 3600.0

# (from this magnitude up, divisor, unit, decimals), largest first. The last step takes
# everything smaller; zero is shown in the base unit (the step whose divisor is 1).
Steps = tuple[tuple[float, float, str, int], ...]
ENERGY_STEPS: Steps = (
    (J_PER_KWH, J_PER_KWH, "kWh", 3),
    (1e4, 1e3, "kJ", 1),
    (1.0, 1.0, "J", 1),
    (1e-3, 1e-3, "mJ", 1),
    (1e-6, 1e-6, "µJ", 1),
    (0.0, 1e-9, "nJ", 1),
)
POWER_STEPS: Steps = ((1.0, 1.0, "W", 1), (0.0, 1e-3, "mW", 1))
MASS_STEPS: Steps = (
    (1e3, 1e3, "kg", 3),
    (1.0, 1.0, "g", 2),
    (1e-3, 1e-3, "mg", 2),
    (1e-6, 1e-6, "µg", 2),
    (0.0, 1e-9, "ng", 2),
)
DURATION_STEPS: Steps = ((7200.0, 3600.0, "h", 2), (120.0, 60.0, "min", 1), (0.0, 1.0, "s", 2))
"""Seconds up to two minutes, minutes up to two hours, then hours."""

NO_FIGURE = "-"


def unit_for(value: float, steps: Steps) -> tuple[float, str]:
    """(divisor, unit) that ``steps`` use for ``value``: the first step it reaches."""
    if value == 0 or not math.isfinite(value):
        return next((d, u) for _, d, u, _ in steps if d == 1.0)
    magnitude = abs(value)
    return next(((d, u) for low, d, u, _ in steps if magnitude >= low), steps[-1][1:3])


def _format(value: float | None, steps: Steps) -> str:
    if value is None or not math.isfinite(value):
        return NO_FIGURE
    divisor, unit = unit_for(value, steps)
    decimals = next(n for _, d, u, n in steps if u == unit)
    return f"{value / divisor:.{decimals}f} {unit}"


def format_energy(joules: float | None) -> str:
    """``12.3 J``, ``45.6 kJ``, ``1.234 kWh``; ``-`` for no figure."""
    return _format(joules, ENERGY_STEPS)


def format_power(watts: float | None) -> str:
    """``250.0 W``, ``12.5 mW``."""
    return _format(watts, POWER_STEPS)


def format_mass(grams: float | None) -> str:
    """Mass of CO2e: ``3.21 g``, ``1.500 kg``, ``0.42 µg`` (a sample's share of a run)."""
    return _format(grams, MASS_STEPS)


def format_duration(seconds: float | None) -> str:
    """``90.00 s``, ``2.5 min``, ``26.00 h``."""
    return _format(seconds, DURATION_STEPS)


def series_formatter(steps: Steps, typical: float) -> Callable[[float], str]:
    """One unit for a whole series of figures (chosen by ``typical``, e.g. its mean) and
    four significant digits: the spread of repeated runs must stay visible, which a
    rounded '1.0 mJ ± 0.0 mJ' would hide."""
    divisor, unit = unit_for(typical, steps)
    return lambda value: f"{value / divisor:.4g} {unit}"


def format_significant(value: float | None, steps: Steps, digits: int = 3) -> str:
    """``value`` in its own unit with ``digits`` significant digits: ``0.419 mJ``,
    ``12.3 kJ``. For figures worth that many digits (a J per sample), not more."""
    if value is None or not math.isfinite(value):
        return NO_FIGURE
    divisor, unit = unit_for(value, steps)
    return f"{_significant(value / divisor, digits)} {unit}"


def _significant(number: float, digits: int) -> str:
    """``number`` rounded to ``digits`` significant digits, without an exponent and
    keeping trailing zeros that are significant (``0.4190`` at four digits)."""
    if number == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(number)))
    return f"{round(number, decimals):.{max(0, decimals)}f}"


def figures_formatter(values: list[float], steps: Steps) -> Callable[[float], str]:
    """One unit for figures shown side by side (by their median) and the fewest
    significant digits, three at least and six at most, that tell them apart: 0.419 and
    0.197 mJ per sample must not both read 0.4 mJ."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    typical = finite[len(finite) // 2] if finite else 0.0
    divisor, unit = unit_for(typical, steps)
    digits = 3
    distinct = len(set(finite))
    while digits < 6 and len({_significant(v / divisor, digits) for v in finite}) < distinct:
        digits += 1
    return lambda value: (
        NO_FIGURE
        if value is None or not math.isfinite(value)
        else f"{_significant(value / divisor, digits)} {unit}"
    )


def worth_digits(value: float, low: float, high: float) -> int:
    """Significant digits an estimate is worth: two when its range is wider than ±10 %,
    else three."""
    return 2 if value and (high - low) / abs(value) > 0.2 else 3


def format_energy_range(low_j: float, high_j: float) -> str:
    """``1.3–4.6 J``: both ends in the unit of the high one, two significant digits."""
    divisor, unit = unit_for(high_j, ENERGY_STEPS)
    return f"{_significant(low_j / divisor, 2)}–{_significant(high_j / divisor, 2)} {unit}"


def format_estimate(value: float | None, low: float, high: float, steps: Steps) -> str:
    """An estimate rounded to what it is worth, with its range: ``≈2.7 J (1.3–4.6 J)``."""
    if value is None or not math.isfinite(value):
        return NO_FIGURE
    digits = worth_digits(value, low, high)
    divisor, unit = unit_for(high, steps)
    ends = f"{_significant(low / divisor, 2)}–{_significant(high / divisor, 2)} {unit}"
    return f"≈{format_significant(value, steps, digits)} ({ends})"


def format_figure(
    value: float | None, span: tuple[float, float] | None, steps: Steps, with_range: bool = True
) -> str:
    """A figure as greenmeter shows it everywhere: a measurement (no span, or a span of
    width 0) as its formatter writes it; an estimate rounded to what it is worth, marked
    ``≈`` and with its range unless ``with_range`` is False."""
    if span is None or span[0] == span[1] or value is None:
        return _format(value, steps)
    if with_range:
        return format_estimate(value, span[0], span[1], steps)
    return "≈" + format_significant(value, steps, worth_digits(value, *span))


def format_count(count: float) -> str:
    """``3,000,000``, ``512``, ``2.5``: a count of units as people write it."""
    return f"{int(count):,}" if float(count).is_integer() and abs(count) < 1e15 else f"{count:g}"


RATE_STEPS: Steps = ((1e9, 1e9, "G", 3), (1e6, 1e6, "M", 3), (1e3, 1e3, "k", 3), (0.0, 1.0, "", 3))


def format_rate(per_s: float | None, unit_name: str) -> str:
    """Throughput with three significant digits: ``1.98 k samples/s``, ``412 tokens/s``."""
    if per_s is None or not math.isfinite(per_s):
        return NO_FIGURE
    divisor, prefix = unit_for(per_s, RATE_STEPS)
    return f"{_significant(per_s / divisor, 3)} {prefix + ' ' if prefix else ''}{unit_name}/s"


# ---------------------------------------------------------------- parsing

_NUMBER_AND_UNIT = re.compile(
    r"^\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-z0-9%]*)\s*$"
)

ENERGY_UNITS_J = {
    "J": 1.0,
    "mJ": 1e-3,
    "kJ": 1e3,
    "MJ": 1e6,
    "GJ": 1e9,
    "Wh": J_PER_WH,
    "kWh": J_PER_KWH,
    "MWh": J_PER_KWH * 1e3,
}
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
            raise ValueError(
                f"unknown energy unit {unit!r} in {text!r}; use one of "
                f"{', '.join(ENERGY_UNITS_J)}{hint}"
            )
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
            raise ValueError(
                f"unknown mass unit {unit!r} in {text!r}; use one of "
                f"{', '.join(MASS_UNITS_G)} (optionally followed by CO2e)"
            )
        value *= MASS_UNITS_G[key]
    return value


DURATION_UNITS_S = {"s": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_s(text: str) -> float:
    """``"3h"``, ``"90min"``, ``"1.5 h"``, ``"2d"`` -> seconds. A bare number is seconds."""
    value, unit = _split(text)
    if unit:
        key = unit.lower()
        if key not in DURATION_UNITS_S:
            raise ValueError(
                f"unknown duration unit {unit!r} in {text!r}; use one of "
                f"{', '.join(DURATION_UNITS_S)}"
            )
        value *= DURATION_UNITS_S[key]
    return value


def parse_fraction(text: str) -> float:
    """``"5%"`` -> 0.05. A bare number is a percentage too: ``"5"`` -> 0.05."""
    value, unit = _split(text)
    if unit not in ("", "%"):
        raise ValueError(f"{text!r}: expected a percentage such as 5%")
    return value / 100.0
