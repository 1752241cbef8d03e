"""``greenmeter report --rate``: 1 to 5 stars per member of a group, by energy per unit.

The AI Energy Score's method (Hugging Face): within each set of members compared (each
value of ``--by``, e.g. each task; members with different units of work are never
compared), the range from the lowest to the highest J per unit is cut into five bands
of equal width; the lowest band gets five stars, the highest one. A rating is therefore
relative to the runs compared, on the hardware they ran on, and says nothing absolute.
``--reference FILE`` adds published figures (name, J per unit, source) to every set,
so the bands span them too.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from greenmeter.history.aggregate import aggregate

BANDS = 5
LABEL = "relative to the runs compared, on this hardware"
RATING_COLUMNS = (
    "runs",
    "unit_name",
    "energy_j_per_unit",
    "stars",
    "band_low_j_per_unit",
    "band_high_j_per_unit",
    "source",
)


@dataclass(frozen=True)
class Reference:
    name: str
    j_per_unit: float
    source: str
    group: str | None = None
    """Only in this ``--by`` set; None: in every set."""


def load_references(path: Path) -> list[Reference]:
    """A CSV of ``name, J per unit, source`` (an optional fourth column names the
    ``--by`` value it belongs to); a header line is allowed. ValueError naming the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    found = []
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < 3:
            raise ValueError(f"{path}:{line}: expected name, J per unit, source")
        name, value, source = (cell.strip() for cell in row[:3])
        try:
            j_per_unit = float(value)
        except ValueError:
            if line == 1:
                continue  # the header
            raise ValueError(f"{path}:{line}: {value!r} is not a number of joules") from None
        if not math.isfinite(j_per_unit) or j_per_unit <= 0:
            raise ValueError(f"{path}:{line}: J per unit must be a positive number")
        group = row[3].strip() if len(row) > 3 and row[3].strip() else None
        found.append(Reference(name, j_per_unit, source, group))
    if not found:
        raise ValueError(f"{path}: no reference figures (name, J per unit, source)")
    return found


def stars(value: float, low: float, high: float) -> tuple[int, float, float]:
    """(stars, band's low edge, band's high edge) of ``value`` in [low, high]: five equal
    bands, five stars for the lowest. A set whose members all match gets five stars."""
    width = (high - low) / BANDS
    if width <= 0:
        return BANDS, low, high
    band = min(BANDS - 1, int((value - low) / width))
    return BANDS - band, low + band * width, low + (band + 1) * width


def rate(
    frame: pd.DataFrame, members: list[str], by: str | None, references: Sequence[Reference] = ()
) -> pd.DataFrame:
    """One row per member (``members`` keys, within each ``by`` value and unit): runs, J
    per unit, stars and its band; reference figures as rows of their own."""
    keys = [*([by] if by else []), *members, "unit"]
    # The "unit" key keeps units apart; its value is the unit's name (aggregate's own
    # unit_name column lists the names a group mixed, here always one).
    table = aggregate(frame, keys).drop(columns="unit_name").rename(columns={"unit": "unit_name"})
    table["source"] = "runs"
    rows = table[[*keys[:-1], "runs", "unit_name", "energy_j_per_unit", "source"]]
    rows = rows.astype({"unit_name": "str"})
    extra = []
    sets = (
        rows[[by, "unit_name"]].drop_duplicates() if by else rows[["unit_name"]].drop_duplicates()
    )
    for ref in references:
        for _, rated in sets.iterrows():
            if not rated["unit_name"]:
                continue
            if by and ref.group is not None and rated[by] != ref.group:
                continue
            entry = {k: "" for k in keys[:-1]}
            if by:
                entry[by] = rated[by]
            entry[members[0]] = ref.name
            entry.update(
                runs=0,
                unit_name=rated["unit_name"],
                energy_j_per_unit=ref.j_per_unit,
                source=ref.source,
            )
            extra.append(entry)
    if extra:
        rows = pd.concat([rows, pd.DataFrame(extra)], ignore_index=True)
    rows = rows.reset_index(drop=True)
    rows["stars"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    rows["band_low_j_per_unit"] = math.nan
    rows["band_high_j_per_unit"] = math.nan
    set_keys = [by, "unit_name"] if by else ["unit_name"]
    for _, members_of_set in rows.groupby(set_keys, sort=False):
        values = members_of_set["energy_j_per_unit"].dropna()
        if values.empty:
            continue
        low, high = float(values.min()), float(values.max())
        for i, value in values.items():
            n, band_low, band_high = stars(float(value), low, high)
            rows.loc[i, ["stars", "band_low_j_per_unit", "band_high_j_per_unit"]] = (
                n,
                band_low,
                band_high,
            )
    order = [*set_keys, "energy_j_per_unit"]
    rows = rows.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)
    return rows[[*keys[:-1], *RATING_COLUMNS]]


def star_text(n) -> str:
    """``★★★☆☆ 3/5``; ``-`` for a member without energy per unit."""
    if n is None or pd.isna(n):
        return "-"
    n = int(n)
    return "\u2605" * n + "\u2606" * (BANDS - n) + f" {n}/{BANDS}"
