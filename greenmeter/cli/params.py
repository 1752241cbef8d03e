"""click types and checks shared by the commands: quantities, tags, GPU selection,
finite numbers, and output paths that must be writable before anything runs."""

from __future__ import annotations

import errno
import math
import os
import re
import tempfile
from pathlib import Path

import click

from greenmeter.quantities import parse_duration_s, parse_energy_j, parse_fraction, parse_mass_g
from greenmeter.reports.atomic_write import is_special


class _QuantityType(click.ParamType):
    """A positive quantity; numbers from a settings file are taken as the base unit
    (joules, grams), like a bare number on the command line."""

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
            self.fail(
                f"{value!r} must be {'zero or more' if self.allow_zero else 'positive'}", param, ctx
            )
        return number


class EnergyType(_QuantityType):
    """Energy in joules: ``50kJ``, ``0.5 kWh``, ``1200`` (J)."""

    name = "energy"
    parse = staticmethod(parse_energy_j)


class MassType(_QuantityType):
    """Mass of CO2e in grams: ``10g``, ``1.5kg``, ``500mg``, ``3`` (g)."""

    name = "mass"
    parse = staticmethod(parse_mass_g)


class DurationType(_QuantityType):
    """A duration in seconds: ``3h``, ``90min``, ``2d``, ``30`` (s)."""

    name = "duration"
    parse = staticmethod(parse_duration_s)


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
DURATION = DurationType()
PERCENT = PercentType()

_TAG_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


class TagType(click.ParamType):
    """``key=value``; the key is letters, digits, ``_ . -``; the value is any text."""

    name = "key=value"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        key = key.strip()
        if not sep or not _TAG_KEY.match(key):
            self.fail(f"{value!r} is not key=value (key: letters, digits, _ . -)", param, ctx)
        return key, text


TAG = TagType()


class UnitsType(click.ParamType):
    """``512`` or ``512:samples``: a positive count of units of work, optionally named."""

    name = "N[:name]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        number, _, unit_name = str(value).partition(":")
        try:
            count = float(number)
        except ValueError:
            count = math.nan
        if not math.isfinite(count) or count <= 0:
            self.fail(f"{value!r}: expected a positive count, e.g. 512 or 512:samples", param, ctx)
        return count, unit_name.strip() or None


UNITS = UnitsType()


class RegexType(click.ParamType):
    """A Python regular expression, compiled (a bad one is refused before launch)."""

    name = "regex"

    def convert(self, value, param, ctx):
        if isinstance(value, re.Pattern):
            return value
        try:
            return re.compile(str(value))
        except re.error as exc:
            self.fail(f"{value!r} is not a regular expression: {exc}", param, ctx)


REGEX = RegexType()


class GpuSelection(click.ParamType):
    """``--gpus``: syntax checked here (also for env and config values); whether the
    GPUs exist is checked against NVML and AMD SMI when the sensors open, still before
    launch."""

    name = "all|none|GPUS"

    def convert(self, value, param, ctx):
        from greenmeter.sensors.gpu_selection import parse_gpu_selection

        try:
            return parse_gpu_selection(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan (which passes every range comparison) and,
    where the range is open-ended, infinity."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def writable_file(path: str | Path, param: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Fail before launch if a file could not be written to ``path``: a temporary file is
    made and removed beside it, with the name the atomic write will use, so a directory
    that only looks writable (``/proc``, a read-only mount) or a name too long for the
    file system is refused now, not after the command. ``suffixes``: names that go beside
    it too (the report's ``.timeline.csv``). ``-`` is refused: standard output belongs to
    the command (history commands take ``-o -``)."""
    text = os.fspath(path)
    if text == "-":
        raise click.BadParameter(
            "'-' (standard output) is the command's own; give a file name", param_hint=param
        )
    if text.endswith("/"):
        raise click.BadParameter(
            f"{text} names a directory (it ends in '/'); give a file name", param_hint=param
        )
    path = Path(text)
    try:
        if path.is_dir():
            raise click.BadParameter(f"{path} is a directory; give a file name", param_hint=param)
        parent = path.parent
        if not parent.is_dir():
            raise click.BadParameter(
                f"directory {parent} does not exist; create it first", param_hint=param
            )
        if path.exists() and not os.access(path, os.W_OK):
            raise click.BadParameter(f"{path} is not writable", param_hint=param)
        if is_special(path):
            return path  # /dev/null, a FIFO: written to in place, never replaced
        for name in (path.name, *(path.stem + s for s in suffixes)):
            fd, probe = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=parent)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        reason = "file name too long" if exc.errno == errno.ENAMETOOLONG else exc.strerror
        raise click.BadParameter(f"{path} cannot be written: {reason}", param_hint=param) from None
    return path


def output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """Callback of an output option of a command whose result is its output: None for
    standard output (``-`` or not given); a file is checked writable before any work."""
    if value is None or value == "-":
        return None
    return writable_file(Path(value), param.opts[0])
