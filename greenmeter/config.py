"""Settings files: ``--config FILE``, else ``./greenmeter.toml``.

Precedence is click's own: command line > environment (``GREENMETER_*``) > this file
(click's ``default_map``) > built-in defaults. Every value is checked here, with the
file and line in the message, before the command is launched.
"""

from __future__ import annotations

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


def load_config(ctx: click.Context, path: Path | None) -> dict:
    """Parse and check a settings file against ``ctx.command``'s options.

    Returns a ``default_map`` for ``ctx``; raises :class:`click.BadParameter` naming the
    file and line for a syntax error, an unknown key or a bad value."""
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    if not path.exists():
        if explicit:
            raise click.BadParameter(f"{path}: no such file", param_hint="--config")
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line N, column M)"
        raise click.BadParameter(f"{path}: {exc}", param_hint="--config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path}: cannot read: {exc}", param_hint="--config") from None

    params = {setting_name(p): p for p in ctx.command.params
              if isinstance(p, click.Option) and p.name not in NOT_SETTINGS}
    settings = {}
    for key, value in data.items():
        where = f"{path}, line {_line_of(text, key) or '?'}"
        param = params.get(key)
        if param is None:
            known = ", ".join(sorted(params))
            raise click.BadParameter(f"{where}: unknown setting '{key}' (known: {known})",
                                     param_hint="--config")
        try:
            if param.multiple:
                values = value if isinstance(value, list) else [value]
                converted = tuple(param.type.convert(v, param, ctx) for v in values)
            else:
                converted = param.type.convert(value, param, ctx)
        except click.BadParameter as exc:
            raise click.BadParameter(f"{where}: {key} = {value!r}: {exc.message}",
                                     param_hint="--config") from None
        settings[param.name] = converted
    return settings
