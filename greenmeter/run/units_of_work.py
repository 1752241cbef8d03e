"""Energy per unit of work: how many units (samples, requests, tests...) a run did.

Either the user says it (``--units N --unit-name samples``) or the command writes its own
count to the file named by ``$GREENMETER_UNITS_FILE``, the first of the two variables
greenmeter adds to the command's environment (the second, ``$GREENMETER_CONTROL``, carries
phases and units marked while it runs: greenmeter/run/phases.py). Each line of the file
holds a number, optionally followed by the unit's name (``"50000"`` or ``"50000 samples"``;
``"512 samples"`` then ``"2e6 tokens"`` for two kinds); greenmeter reads it after the
command ends.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

UNITS_FILE_VAR = "GREENMETER_UNITS_FILE"
_MAX_UNITS_FILE_BYTES = 4096


def create_units_file() -> Path | None:
    """An empty file for the command to write its count to; None if no temporary file
    could be made (the command then runs without the variable: measuring never stops it)."""
    try:
        fd, name = tempfile.mkstemp(prefix="greenmeter-units-", suffix=".txt")
    except OSError:
        return None
    os.close(fd)
    return Path(name)


def remove_units_file(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except OSError:  # the command may have removed it already
            pass


@functools.lru_cache(maxsize=1)
def _started_without_lc_ctype() -> bool:
    """True when greenmeter was started without LC_CTYPE: Python's locale coercion (PEP
    538) adds ``LC_CTYPE=C.UTF-8`` to its own environment under the C locale, and the
    command must not inherit what greenmeter was not given. ``/proc/self/environ`` is the
    environment as exec'd, before Python changed it."""
    try:
        with open("/proc/self/environ", "rb") as f:
            return not any(e.startswith(b"LC_CTYPE=") for e in f.read().split(b"\0"))
    except OSError:
        return False


def child_environment(path: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """greenmeter's own environment as it was given, plus ``$GREENMETER_UNITS_FILE``
    when there is a file, and ``extra`` (``$GREENMETER_CONTROL``, greenmeter/run/phases.py)."""
    env = dict(os.environ)
    if "LC_CTYPE" in env and _started_without_lc_ctype():
        del env["LC_CTYPE"]
    if path is not None:
        env[UNITS_FILE_VAR] = str(path)
    env.update(extra or {})
    return env


@dataclass
class UnitsReading:
    counts: list[tuple[float, str | None]]
    """(count, name or None) per line, in the file's order."""
    warning: str | None


def read_units_file(path: Path | None) -> UnitsReading:
    """What the command wrote; an empty or missing file is no count, anything unreadable is
    no count plus a warning."""
    if path is None:
        return UnitsReading([], None)
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_UNITS_FILE_BYTES + 1)
    except OSError:  # the command may have removed it
        return UnitsReading([], None)
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return UnitsReading([], None)
    shown = text if len(text) <= 40 else text[:37] + "..."
    if len(raw) > _MAX_UNITS_FILE_BYTES:
        return UnitsReading(
            [], f"${UNITS_FILE_VAR} ignored: more than {_MAX_UNITS_FILE_BYTES} bytes ({shown!r})"
        )
    counts = []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        number, *name = line.split(None, 1)
        try:
            units = float(number)
        except ValueError:
            units = math.nan
        if not math.isfinite(units) or units <= 0:
            return UnitsReading(
                [],
                f"${UNITS_FILE_VAR} ignored: {line[:40]!r} is not a positive number "
                f"(write e.g. '50000' or '50000 samples', one count per line)",
            )
        counts.append((units, name[0].strip() if name else None))
    return UnitsReading(counts, None)
