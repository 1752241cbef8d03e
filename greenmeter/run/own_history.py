"""The command's own earlier runs, for the ``regression`` finding: energy per unit of the
latest finished, successful runs in the run's CSV history with the same recorded command,
tags and unit name, oldest first.

Read with the csv module from the end of the file only (``TAIL_BYTES``, some thousands of
runs), newest row first, stopping at the runs asked for: a run must not pay for pandas,
nor for reading a history of years.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

from greenmeter.results import RunLabels

TAIL_BYTES = 2 * 1024 * 1024
"""How much of the end of the history is read (about 4,000 runs)."""


def prior_j_per_unit(
    csv_path: Path, labels: RunLabels, unit_name: str | None, limit: int
) -> list[float]:
    """J per unit of the last ``limit`` earlier runs like this one, oldest first; [] when
    there are none or the file cannot be read (the finding is then simply not made)."""
    command = json.dumps(labels.command)
    tags = json.dumps(labels.tags, sort_keys=True) if labels.tags else ""
    try:
        with open(csv_path, "rb") as f:
            header = f.readline().decode("utf-8", errors="replace")
            size = os.fstat(f.fileno()).st_size
            start = max(f.tell(), size - TAIL_BYTES)
            f.seek(start)
            data = f.read()
    except OSError:
        return []
    if start > len(header):  # the first line read may be the end of a row
        data = data[data.find(b"\n") + 1 :]
    names = next(csv.reader([header]), [])
    found: list[float] = []
    for row in _newest_first(data.decode("utf-8", errors="replace"), names, _csv_cell(command)):
        if len(found) >= limit:
            break
        if (
            row.get("command") == command
            and (row.get("tags") or "") == tags
            and (row.get("unit_name") or None) == unit_name
            and row.get("exit_code") == "0"
            and row.get("partial") == "False"
            and row.get("run_id") != labels.run_id
        ):
            try:
                found.append(float(row["energy_j_per_unit"]))
            except (KeyError, TypeError, ValueError):
                continue
    return found[::-1]


def _newest_first(text: str, names: list[str], cell: str) -> Iterator[dict[str, str]]:
    """The rows of ``text`` that hold ``cell``, last row first. A command with a line
    break spans lines in the file: then every row is parsed, in order, and reversed."""
    if "\n" in cell:
        yield from reversed(list(csv.DictReader(io.StringIO(text), fieldnames=names)))
        return
    for line in reversed(text.split("\n")):
        if cell in line:
            yield dict(zip(names, next(csv.reader([line]), [])))


def _csv_cell(value: str) -> str:
    """``value`` as the csv module writes it in a row (quoted, quotes doubled)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([value, ""])
    return buffer.getvalue()[:-1]
