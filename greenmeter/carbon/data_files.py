"""Where the shipped grid-intensity files live, installed or in a source checkout."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import greenmeter


@functools.lru_cache(maxsize=1)
def data_dir() -> Path:
    """The ``grid_intensity_data/`` folder.

    A wheel force-includes it as ``greenmeter/grid_intensity_data`` (the path
    ``importlib.resources.files("greenmeter") / "grid_intensity_data"`` names for an installed package;
    checked directly because importing importlib.resources costs start-up time); a source checkout
    or editable install has it at the repository root, next to the package.
    """
    package_dir = Path(greenmeter.__file__).resolve().parent
    installed = package_dir / "grid_intensity_data"
    if installed.is_dir():
        return installed
    return package_dir.parent / "grid_intensity_data"


def read_table(name: str) -> tuple[dict[str, int], list[list[str]]]:
    """(column name -> index, rows) of a shipped CSV; plain csv.reader: DictReader is 3x slower."""
    with (data_dir() / name).open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return {column: i for i, column in enumerate(header)}, list(reader)
