"""The command's own earlier runs, for the ``regression`` finding: energy per unit of the
finished, successful runs in the run's CSV history with the same recorded command, tags
and unit name, oldest first.

Read with the csv module from the end of the file only (``TAIL_BYTES``, some thousands of
runs): a run must not pay for pandas, nor for reading a history of years.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from greenmeter.results import RunLabels

TAIL_BYTES = 2 * 1024 * 1024
"""How much of the end of the history is read (about 4,000 runs)."""


def prior_j_per_unit(csv_path: Path, labels: RunLabels, unit_name: str | None) -> list[float]:
    """J per unit of the earlier runs like this one; [] when there are none or the file
    cannot be read (the finding is then simply not made)."""
    command = json.dumps(labels.command)
    tags = json.dumps(labels.tags, sort_keys=True) if labels.tags else ""
    try:
        with open(csv_path, "rb") as f:
            header = f.readline()
            size = os.fstat(f.fileno()).st_size
            start = max(f.tell(), size - TAIL_BYTES)
            f.seek(start)
            data = f.read()
    except OSError:
        return []
    if start > len(header):  # the first line read may be the end of a row
        data = data[data.find(b"\n") + 1 :]
    text = (header + data).decode("utf-8", errors="replace")
    found = []
    for row in csv.DictReader(io.StringIO(text)):
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
            except (TypeError, ValueError):
                continue
    return found
