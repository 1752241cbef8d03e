"""Settings files: ``--config FILE``, else ``./greenmeter.toml``.

Precedence is click's own: command line > environment (``GREENMETER_*``) > this file
(click's ``default_map``) > built-in defaults. Every value is checked here, with the
file and line in the message, before the command is launched.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

import click

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_CONFIG = Path("greenmeter.toml")
NOT_SETTINGS = {"config", "command"}


def _line_of(text: str, key: str) -> int | None:
    match = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text, re.M)
    return text.count("\n", 0, match.start()) + 1 if match else None


def setting_name(param: click.Option) -> str:
    """The key for an option in a settings file: its long name, ``--cpu-tdp`` -> ``cpu_tdp``."""
    long_name = max(param.opts, key=len)
    return long_name.lstrip("-").replace("-", "_")


def _type_error(param: click.Option, value: object) -> str | None:
    """Why a TOML value can never be this option's (click's own conversion would raise a
    TypeError, or quietly turn ``true`` into 1.0), or None to let click convert it."""
    if isinstance(value, dict):
        return "expected a single value, not a table"
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return "expected a single value, not a date or time"
    if isinstance(value, list) and not param.multiple:
        return "expected a single value, not a list"
    kind = param.type
    if isinstance(kind, (click.types.FloatParamType, click.types.IntParamType)):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return "expected a number"
        if isinstance(kind, click.types.IntParamType) and isinstance(value, float):
            if not value.is_integer():  # click would quietly make 2.9 repetitions 2
                return "expected a whole number"
    elif isinstance(kind, click.types.BoolParamType):
        if not isinstance(value, (bool, str)):
            return "expected true or false"
    elif isinstance(kind, (click.types.StringParamType, click.Path, click.Choice)):
        if not isinstance(value, str):
            return "expected a string (in quotes)"
    return None


def load_config(ctx: click.Context, path: Path | None) -> dict:
    """Parse and check a settings file against ``ctx.command``'s options.

    Returns a ``default_map`` for ``ctx``; raises :class:`click.BadParameter` naming the
    file and line for a syntax error, an unknown key or a bad value."""
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    try:
        exists = path.exists()
    except OSError as exc:  # under a directory this user cannot enter
        raise click.BadParameter(
            f"{path}: cannot read: {exc.strerror}", param_hint="--config"
        ) from None
    if not exists:
        if explicit:
            raise click.BadParameter(f"{path}: no such file", param_hint="--config")
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not a statement
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line N, column M)"
        raise click.BadParameter(f"{path}: {exc}", param_hint="--config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path}: cannot read: {exc}", param_hint="--config") from None

    params = {
        setting_name(p): p
        for p in ctx.command.params
        if isinstance(p, click.Option) and p.name not in NOT_SETTINGS
    }
    settings = {}
    for key, value in data.items():
        where = f"{path}, line {_line_of(text, key) or '?'}"
        param = params.get(key)
        if param is None:
            known = ", ".join(sorted(params))
            raise click.BadParameter(
                f"{where}: unknown setting '{key}' (known: {known})", param_hint="--config"
            )
        values = value if param.multiple and isinstance(value, list) else [value]
        problem = next(filter(None, (_type_error(param, v) for v in values)), None)
        try:
            if problem is not None:
                raise click.BadParameter(problem)
            converted = tuple(param.type.convert(v, param, ctx) for v in values)
            if not param.multiple:
                converted = converted[0]
        except click.BadParameter as exc:
            raise click.BadParameter(
                f"{where}: {key} = {value!r}: {exc.message}", param_hint="--config"
            ) from None
        except (
            TypeError,
            ValueError,
            AttributeError,
        ) as exc:  # a type's convert not ready for TOML
            raise click.BadParameter(
                f"{where}: {key} = {value!r}: not a valid {param.type.name} ({exc})",
                param_hint="--config",
            ) from None
        settings[param.name] = converted
    return settings
