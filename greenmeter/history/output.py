"""``greenmeter report``'s output: the per-group frame from ``history.aggregate`` as a rich
table (a terminal), CSV or JSON (raw numbers, for programs), or Markdown (for CI pages)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd

from greenmeter.history.aggregate import AGGREGATE_COLUMNS
from greenmeter.history.rating import LABEL, RATING_COLUMNS, star_text
from greenmeter.quantities import (
    ENERGY_STEPS,
    MASS_STEPS,
    figures_formatter,
    format_duration,
    format_energy,
    format_mass,
    series_formatter,
)
from greenmeter.reports import markdown
from greenmeter.reports.command_labels import ELLIPSIS, label_commands
from greenmeter.reports.text_table import print_table
from greenmeter.results import singular

_TIME_COLUMNS = ("first_started_at", "last_started_at")


TABLE_MAX_ROWS = 200
"""A terminal table longer than this shows its last rows only (rich lays out a table in
time that grows faster than its rows; CSV, JSON and Markdown give every row)."""


def _iso(frame: pd.DataFrame) -> pd.DataFrame:
    """Times as ISO 8601 UTC text (numpy's C formatter: strftime takes seconds on 100k)."""
    out = frame.copy()
    for name in _TIME_COLUMNS:
        values = out[name].dt.tz_convert(None).to_numpy().astype("datetime64[s]")
        text = pd.Series(np.datetime_as_string(values, unit="s"), index=out.index) + "Z"
        out[name] = text.where(out[name].notna())
    return out


def to_csv(frame: pd.DataFrame) -> str:
    return _iso(frame).to_csv(index=False, lineterminator="\n")


def to_json(frame: pd.DataFrame) -> str:
    records = _iso(frame).to_dict(orient="records")
    clean = [
        {
            k: (
                None
                if isinstance(v, float) and math.isnan(v)
                else int(v)
                if k in ("runs", "partial", "failed", "over_budget")
                else v
            )
            for k, v in record.items()
        }
        for record in records
    ]
    return json.dumps(clean, indent=2, allow_nan=False) + "\n"


def _key_text(value: str, limit: int = 60) -> str:
    """A group's name on one line (a command may hold newlines), shortened if long."""
    text = " ".join(str(value).split())
    if not text:
        return "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _period(first, last) -> str:
    if pd.isna(first):
        return "-"
    start, end = f"{first:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}"
    if end == start:
        return start
    return f"{start} → {end[11:] if end[:10] == start[:10] else end}"


def _command_labels(frame: pd.DataFrame):
    """``--group-by command``: the groups' commands with the words they share elided."""
    if "command" not in frame.columns:
        return None
    return label_commands(frame["command"].tolist(), limit=60)


def command_note(frame: pd.DataFrame) -> str | None:
    """What the elided words of the command column are, said under the table."""
    labels = _command_labels(frame)
    if labels is None or not (labels.prefix or labels.suffix):
        return None
    parts = [f"{ELLIPSIS} at the start: {labels.prefix}"] * bool(labels.prefix)
    parts += [f"{ELLIPSIS} at the end: {labels.suffix}"] * bool(labels.suffix)
    return "command: " + "; ".join(parts)


def display(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and rows with units, for people. Columns that would be empty everywhere
    (failures, budgets, units) are left out; commands show what differs between them."""
    keys = [c for c in frame.columns if c not in AGGREGATE_COLUMNS]
    commands = _command_labels(frame)
    show_failed = bool(frame["failed"].sum() > 0)
    show_budget = bool(frame["over_budget"].sum() > 0)
    show_units = bool(frame["units_sum"].notna().any())
    headers = [*keys, "runs"]
    headers += ["failed"] * show_failed + ["over budget"] * show_budget
    headers += ["duration", "energy", "energy/run", "CO2e"]
    names = set(frame["unit_name"].dropna()) - {""}
    one_unit = next(iter(names)) if len(names) == 1 and "," not in next(iter(names)) else None
    headers += [f"per {singular(one_unit)}" if one_unit else "per unit"] * show_units
    headers += ["period (UTC)"]
    # One unit and enough digits to tell the groups apart (0.419 vs 0.197 mJ per sample).
    per_unit_j = figures_formatter(frame["energy_j_per_unit"].dropna().tolist(), ENERGY_STEPS)
    per_unit_g = figures_formatter(frame["co2_g_per_unit"].dropna().tolist(), MASS_STEPS)
    rows = []
    for i, r in enumerate(frame.to_dict(orient="records")):
        if commands is not None:
            r["command"] = commands.labels[i]
        runs = f"{r['runs']}" + (f" ({r['partial']} partial)" if r["partial"] else "")
        mean = format_energy(r["energy_j_mean"])
        if not math.isnan(r["energy_j_std"]):
            spread = series_formatter(ENERGY_STEPS, r["energy_j_mean"])
            mean = f"{spread(r['energy_j_mean'])} ± {spread(r['energy_j_std'])}"
        row = [_key_text(r[k]) for k in keys] + [runs]
        row += [str(r["failed"])] * show_failed + [str(r["over_budget"])] * show_budget
        row += [
            format_duration(r["duration_s_sum"]),
            format_energy(r["energy_j_sum"]),
            mean,
            format_mass(r["co2_g_sum"]),
        ]
        if show_units:
            unit = "" if one_unit or not r["unit_name"] else f" per {singular(r['unit_name'])}"
            row.append(
                "-"
                if math.isnan(r["energy_j_per_unit"])
                else f"{per_unit_j(r['energy_j_per_unit'])}, "
                f"{per_unit_g(r['co2_g_per_unit'])}{unit}"
            )
        rows.append([*row, _period(r["first_started_at"], r["last_started_at"])])
    return headers, rows


def to_markdown(frame: pd.DataFrame) -> str:
    note = command_note(frame)
    return markdown.table(*display(frame)) + (f"\n{note}\n" if note else "")


def render_table(frame: pd.DataFrame, file, colour: bool, title: str) -> None:
    headers, rows = display(frame)
    keys = len([c for c in frame.columns if c not in AGGREGATE_COLUMNS])
    print_table(
        headers,
        rows,
        title,
        file,
        colour,
        name_columns=keys,
        left=("period (UTC)",),
        footer=command_note(frame),
    )


def table_text(frame: pd.DataFrame, title: str) -> str:
    buffer = io.StringIO()
    render_table(frame, buffer, colour=False, title=title)
    return buffer.getvalue()


def rating_display(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """``report --rate`` for people: the keys, runs (or a reference's source), J per unit,
    the stars and the band they stand for (``greenmeter.history.rating``)."""
    keys = [c for c in frame.columns if c not in RATING_COLUMNS]
    headers = [*keys, "runs", "J per unit", "rating", "band"]
    rows = []
    for r in frame.to_dict(orient="records"):
        value = r["energy_j_per_unit"]
        unit = singular(r["unit_name"] or "units")
        per_unit = "-" if pd.isna(value) else f"{format_energy(value)}/{unit}"
        band = (
            "-"
            if pd.isna(r["band_low_j_per_unit"])
            else f"{format_energy(r['band_low_j_per_unit'])} \u2013 "
            f"{format_energy(r['band_high_j_per_unit'])}"
        )
        runs = str(r["runs"]) if r["source"] == "runs" else f"reference: {r['source']}"
        rows.append([*(_key_text(r[k]) for k in keys), runs, per_unit, star_text(r["stars"]), band])
    return headers, rows


def rating_title(frame: pd.DataFrame, by: str | None) -> str:
    sets = f", rated within each {by}" if by else ""
    return f"greenmeter rating: {len(frame)} members{sets} ({LABEL})"


def rating_markdown(frame: pd.DataFrame, by: str | None) -> str:
    return f"**{rating_title(frame, by)}**\n\n" + markdown.table(*rating_display(frame))


def rating_table_text(frame: pd.DataFrame, by: str | None, file=None, colour: bool = False) -> str:
    """The rating as a terminal table: printed to ``file`` if given, else returned."""
    headers, rows = rating_display(frame)
    keys = len([c for c in frame.columns if c not in RATING_COLUMNS])
    buffer = io.StringIO() if file is None else file
    print_table(
        headers,
        rows,
        rating_title(frame, by),
        buffer,
        colour,
        name_columns=keys,
        left=("rating", "band", "runs"),
    )
    return buffer.getvalue() if file is None else ""


def rating_to_json(frame: pd.DataFrame, by: str | None) -> str:
    records = [
        {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()}
        for r in frame.astype(object).to_dict(orient="records")
    ]
    for r in records:
        if r["stars"] is not None:
            r["stars"] = int(r["stars"])
        r["runs"] = int(r["runs"])
    return (
        json.dumps({"label": LABEL, "by": by, "members": records}, indent=2, allow_nan=False) + "\n"
    )
