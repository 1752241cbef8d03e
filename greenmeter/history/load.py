"""Run history: CSV histories and JSON reports -> one pandas DataFrame, one row per run.
Used by ``greenmeter report``, ``compare`` and ``export``; pandas is imported by the
history package only, and that only by those commands.

Speed (100k runs in well under a second of parsing): each CSV goes through pandas' C parser
with explicit dtypes and only the columns the caller needs. Only a file the fast path
rejects (a row with too many fields, a number that is not one, a row without run_id or
start time) is read again row by row, to name each bad line in a warning and keep the rest.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from greenmeter.history import codecarbon_csv
from greenmeter.reports.csv_row import COLUMNS, report_row
from greenmeter.results import SCHEMA_VERSION

READABLE_SCHEMA_VERSIONS = (1, SCHEMA_VERSION)
"""Report versions read: 2 only added ``phases`` to 1 (docs/report-schema.md)."""

Warn = Callable[[str], None]

NUMERIC_COLUMNS = frozenset(
    {
        "duration_s",
        "exit_code",
        "energy_total_j",
        "energy_cpu_j",
        "energy_gpu_j",
        "energy_dram_j",
        "intensity_g_per_kwh",
        "intensity_year",
        "pue",
        "energy_kwh",
        "co2_g",
        "units",
        "energy_j_per_unit",
        "co2_g_per_unit",
        "repetition",
    }
)
BOOL_COLUMNS = ("interrupted", "partial")
REQUIRED_COLUMNS = ("run_id", "started_at", "greenmeter_version", "partial")
"""Read from every file whatever the caller asks: what validates and de-duplicates a row."""
HOST_COLUMNS = ("os", "python", "cpu_model", "gpu_models", "gpu_count")
"""Only JSON reports carry these (export uses them); empty for CSV rows."""
SOURCE_COLUMNS = ("tool", "source")
"""Whose figure a row is, in every frame: ``greenmeter`` for greenmeter's runs; ``codecarbon``
and e.g. "codecarbon 3.3.2 (tracking_mode=machine)" for rows of CodeCarbon's emissions.csv
(``history.codecarbon_csv``)."""
GREENMETER_TOOL = "greenmeter"

MAX_WARNINGS_PER_FILE = 20
"""Bad rows named one by one per file; the rest are counted (a corrupt file could have
thousands)."""


def _is_json(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def expand_paths(paths: Iterable[Path]) -> list[tuple[Path, bool]]:
    """Files to read, each once, as (path, named): directories are searched recursively for
    ``*.json`` reports and ``*.csv`` histories (``named`` False: files there that are not
    greenmeter's are skipped without a word). JSON first, so that when a report and a CSV
    row describe the same finished run, the report (with host details) is the one kept."""
    seen: set[Path] = set()
    out: list[tuple[Path, bool]] = []
    for path in paths:
        if path.is_dir():
            found = [
                (p, False)
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in (".json", ".csv")
                and not p.name.startswith(".")
            ]
        else:
            found = [(path, True)]
        for file, named in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                out.append((file, named))
    out.sort(key=lambda item: not _is_json(item[0]))
    return out


def load_history(
    paths: Iterable[Path], warn: Warn, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """Every run in ``paths`` (files or directories), one row per ``run_id``.

    ``columns``: the CSV columns the caller needs (None: all); the frame also has
    ``started`` (UTC datetime) and bools ``interrupted``, ``partial``. Malformed files and
    rows are skipped with a warning naming the file and line. A run found several times (a
    report and its CSV row, a checkpoint and the final report) counts once: a final
    report is preferred to a checkpoint (``partial``), and greenmeter's row to a CodeCarbon
    row of the same run (``greenmeter export --format codecarbon`` wrote it)."""
    wanted = None if columns is None else set(columns) | set(REQUIRED_COLUMNS)
    reports: list[dict] = []
    frames: list[pd.DataFrame] = []
    for path, named in expand_paths(paths):
        if _is_json(path):
            row = _read_report(path, named, warn)
            if row is not None:
                reports.append(row)
        else:
            frame = _read_csv(path, named, wanted, warn)
            if frame is not None and len(frame):
                frames.append(frame)
    if reports:
        frames.insert(0, _conform(pd.DataFrame.from_records(reports), wanted, convert=True))
    if not frames:
        return _conform(pd.DataFrame({"run_id": pd.Series(dtype="str")}), wanted, convert=True)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame["run_id"].duplicated().any():
        rank = frame["tool"].ne(GREENMETER_TOOL) * 2 + frame["partial"]  # final greenmeter first
        frame = (
            frame.iloc[np.argsort(rank.to_numpy(), kind="stable")]
            .drop_duplicates("run_id", keep="first")
            .sort_index()
        )
    return frame.reset_index(drop=True)


def _columns(wanted: set[str] | None) -> list[str]:
    return [c for c in (*COLUMNS, *HOST_COLUMNS) if wanted is None or c in wanted]


def _conform(frame: pd.DataFrame, wanted: set[str] | None, convert: bool) -> pd.DataFrame:
    """The frame every source ends as: the wanted columns (missing ones empty), floats,
    bools, strings with NaN for empty, and ``started`` parsed. ``convert``: the values are
    still untyped (JSON reports, the row-by-row path); the fast CSV path typed them already."""
    out = {}
    for name in _columns(wanted):
        if name not in frame:
            dtype = (
                "float64" if name in NUMERIC_COLUMNS else "bool" if name in BOOL_COLUMNS else "str"
            )
            out[name] = pd.Series(
                False if dtype == "bool" else np.nan, index=frame.index, dtype=dtype
            )
            continue
        column = frame[name]
        if name in BOOL_COLUMNS:
            column = column.astype("str").eq("True")
        elif convert and name in NUMERIC_COLUMNS:
            column = pd.to_numeric(column, errors="coerce").astype("float64")
        elif convert:
            text = column.astype("str")
            column = text.where(text.ne(""))
        out[name] = column
    for name in SOURCE_COLUMNS:
        out[name] = frame.get(name, GREENMETER_TOOL)
    out["started"] = pd.to_datetime(out["started_at"], format="ISO8601", utc=True, errors="coerce")
    return pd.DataFrame(out, index=frame.index)


def _header(path: Path) -> list[str] | None:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return next(csv.reader(f), None)


def _read_csv(path: Path, named: bool, wanted: set[str] | None, warn: Warn) -> pd.DataFrame | None:
    try:
        header = _header(path)
    except OSError as exc:
        warn(f"{path}: cannot read: {exc.strerror}; skipped")
        return None
    if header and codecarbon_csv.is_emissions_header(header):
        frame = codecarbon_csv.read_emissions_csv(path, header, named, warn)
        return None if frame is None else _conform(frame, wanted, convert=True)
    if not header or "run_id" not in header:
        if named:
            warn(f"{path}:1: not a greenmeter CSV history (no run_id column); skipped")
        return None
    # Columns are only ever appended: a history begun by an older version has a shorter
    # header than the rows appended since. Read those rows with today's full column list.
    names = list(COLUMNS) if header == list(COLUMNS[: len(header)]) else header
    usecols = [c for c in dict.fromkeys(names) if wanted is None or c in wanted]
    dtype = {c: "float64" if c in NUMERIC_COLUMNS else "str" for c in usecols}
    try:
        raw = pd.read_csv(
            path,
            names=names,
            header=0,
            usecols=usecols,
            dtype=dtype,
            engine="c",
            keep_default_na=False,
            na_values=[""],
            on_bad_lines="error",
            skip_blank_lines=True,
        )
        frame = _conform(raw, wanted, convert=False)
        if not _invalid(frame).any():
            return frame
    except (ValueError, pd.errors.ParserError):
        pass
    except OSError as exc:
        warn(f"{path}: cannot read: {exc.strerror}; skipped")
        return None
    return _read_csv_row_by_row(path, names, usecols, wanted, warn)


def _invalid(frame: pd.DataFrame) -> pd.Series:
    return frame["run_id"].isna() | frame["started"].isna() | frame["greenmeter_version"].isna()


def _row_problem(row: list[str], names: list[str], position: dict[str, int]) -> str | None:
    if len(row) > len(names):
        return f"{len(row)} fields, expected at most {len(names)}"
    if len(row) <= position["greenmeter_version"]:
        return f"row cut short ({len(row)} of {len(names)} fields)"
    row = row + [""] * (len(names) - len(row))
    if not row[position["run_id"]].strip():
        return "no run_id"
    started = row[position["started_at"]]
    try:
        datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return f"started_at {started[:40]!r} is not an ISO 8601 time"
    if not row[position["greenmeter_version"]]:
        return "no greenmeter_version"
    for name, i in position.items():
        if name in NUMERIC_COLUMNS and row[i]:
            try:
                float(row[i])
            except ValueError:
                return f"{name} {row[i][:40]!r} is not a number"
    return None


def _read_csv_row_by_row(
    path: Path, names: list[str], usecols: list[str], wanted: set[str] | None, warn: Warn
) -> pd.DataFrame | None:
    """The slow path: Python's csv module, line numbers, one warning per bad row."""
    if any(c not in names for c in REQUIRED_COLUMNS if c != "partial"):
        missing = ", ".join(c for c in REQUIRED_COLUMNS if c not in names)
        warn(f"{path}:1: header lacks {missing}; skipped")
        return None
    position = {name: names.index(name) for name in dict.fromkeys(names)}
    keep = [position[c] for c in usecols]
    rows = []
    bad = 0
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        try:
            for row in reader:
                if not row or row == [""]:
                    continue
                problem = _row_problem(row, names, position)
                if problem:
                    bad += 1
                    if bad <= MAX_WARNINGS_PER_FILE:
                        warn(f"{path}:{reader.line_num}: skipped: {problem}")
                    continue
                row = row + [""] * (len(names) - len(row))
                rows.append([row[i] for i in keep])
        except csv.Error as exc:  # e.g. a NUL byte: the rest of the file cannot be trusted
            warn(f"{path}:{reader.line_num}: unreadable from here on ({exc}); rows before kept")
    if bad > MAX_WARNINGS_PER_FILE:
        warn(f"{path}: {bad - MAX_WARNINGS_PER_FILE} more malformed rows skipped ({bad} in all)")
    return _conform(pd.DataFrame(rows, columns=usecols, dtype="str"), wanted, convert=True)


def _read_report(path: Path, named: bool, warn: Warn) -> dict | None:
    report = read_report(path, named, warn)
    if report is None:
        return None
    try:
        return report_to_row(report)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        warn(f"{path}: malformed greenmeter report ({type(exc).__name__}: {exc}); skipped")
        return None


def read_report(path: Path, named: bool, warn: Warn) -> dict | None:
    """A JSON report of a version this greenmeter reads, or None (with a warning when
    ``named`` or when it claims to be one)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        warn(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); skipped")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        warn(f"{path}: cannot read: {exc}; skipped")
        return None
    if not isinstance(report, dict) or "run_id" not in report:
        if named:
            warn(f"{path}:1: not a greenmeter report (no schema_version and run_id); skipped")
        return None
    if report.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        versions = " and ".join(map(str, READABLE_SCHEMA_VERSIONS))
        warn(
            f"{path}: report schema_version {report.get('schema_version')!r}, this greenmeter "
            f"reads {versions}; skipped"
        )
        return None
    return report


def report_to_row(report: dict) -> dict:
    """A JSON report as its CSV row (``greenmeter.reports.csv_row.report_row``: the one
    mapping), plus the host details only reports carry (``HOST_COLUMNS``)."""
    host = report.get("host") or {}
    gpus = host.get("gpu_models") or []
    components = report.get("components") or []
    return {
        **report_row(report),
        "os": host.get("os") or "",
        "python": host.get("python") or "",
        "cpu_model": host.get("cpu_model") or "",
        "gpu_models": ", ".join(gpus),
        "gpu_count": sum(
            1 for c in components if c.get("kind") == "gpu" and c.get("counted", True)
        ),
    }


def reports_frame(reports: list[dict]) -> pd.DataFrame:
    """JSON reports already read (an HTML page's), as the frame :func:`load_history` gives."""
    rows = [report_to_row(r) for r in reports]
    return _conform(pd.DataFrame.from_records(rows, columns=_columns(None)), None, convert=True)
