"""Run history: CSV histories and JSON reports -> one pandas DataFrame, selections, and
sums and means per group. Used by ``greenmeter report``, ``compare`` and ``export``; pandas
is imported here only, and this module only by those commands.

Speed (100k runs in well under a second of parsing): each CSV goes through pandas' C parser
with explicit dtypes and only the columns the caller needs. Only a file the fast path
rejects (a row with too many fields, a number that is not one, a row without run_id or
start time) is read again row by row, to name each bad line in a warning and keep the rest.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from greenmeter.report_csv import COLUMNS

Warn = Callable[[str], None]

NUMERIC_COLUMNS = frozenset({
    "duration_s", "exit_code", "energy_total_j", "energy_cpu_j", "energy_gpu_j", "energy_dram_j",
    "intensity_g_per_kwh", "intensity_year", "pue", "energy_kwh", "co2_g", "units",
    "energy_j_per_unit", "co2_g_per_unit", "repetition",
})
BOOL_COLUMNS = ("interrupted", "partial")
REQUIRED_COLUMNS = ("run_id", "started_at", "greenmeter_version", "partial")
"""Read from every file whatever the caller asks: what validates and de-duplicates a row."""
HOST_COLUMNS = ("os", "python", "cpu_model", "gpu_models", "gpu_count")
"""Only JSON reports carry these (export uses them); empty for CSV rows."""

MAX_WARNINGS_PER_FILE = 20
"""Bad rows named one by one per file; the rest are counted (a corrupt file could have
thousands)."""

KEY_ALIASES = {
    "host": "hostname", "branch": "git_branch", "commit": "git_commit", "job": "ci_job",
    "runner": "ci_runner", "provider": "ci_provider", "zone": "zone_id", "run": "run_id",
    "group": "repeat_group", "version": "greenmeter_version", "unit": "unit_name",
}
"""Short names for ``--group-by`` and ``key=value`` selections; any CSV column works too."""
TIME_KEYS = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}
KEY_HELP = ("command, tag:<key>, region, zone, host, branch, commit, job, runner, group "
            "(repeat group), run, day, week, month, or any CSV column")


# --------------------------------------------------------------------------- loading

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
            found = [(p, False) for p in sorted(path.rglob("*")) if p.is_file()
                     and p.suffix.lower() in (".json", ".csv") and not p.name.startswith(".")]
        else:
            found = [(path, True)]
        for file, named in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                out.append((file, named))
    out.sort(key=lambda item: not _is_json(item[0]))
    return out


def load_history(paths: Iterable[Path], warn: Warn, columns: Iterable[str] | None = None
                 ) -> pd.DataFrame:
    """Every run in ``paths`` (files or directories), one row per ``run_id``.

    ``columns``: the CSV columns the caller needs (None: all); the frame also has
    ``started`` (UTC datetime) and bools ``interrupted``, ``partial``. Malformed files and
    rows are skipped with a warning naming the file and line. A run found several times (a
    report and its CSV row, a checkpoint and the final report) counts once: a final
    report is preferred to a checkpoint (``partial``)."""
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
        frame = (frame.sort_values("partial", kind="stable")  # False (final) first
                 .drop_duplicates("run_id", keep="first").sort_index())
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
            dtype = ("float64" if name in NUMERIC_COLUMNS else
                     "bool" if name in BOOL_COLUMNS else "str")
            out[name] = pd.Series(False if dtype == "bool" else np.nan, index=frame.index,
                                  dtype=dtype)
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
    out["started"] = pd.to_datetime(out["started_at"], format="ISO8601", utc=True,
                                    errors="coerce")
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
    if not header or "run_id" not in header:
        if named:
            warn(f"{path}:1: not a greenmeter CSV history (no run_id column); skipped")
        return None
    # Columns are only ever appended: a history begun by an older version has a shorter
    # header than the rows appended since. Read those rows with today's full column list.
    names = list(COLUMNS) if header == list(COLUMNS[:len(header)]) else header
    usecols = [c for c in dict.fromkeys(names) if wanted is None or c in wanted]
    dtype = {c: "float64" if c in NUMERIC_COLUMNS else "str" for c in usecols}
    try:
        raw = pd.read_csv(path, names=names, header=0, usecols=usecols, dtype=dtype,
                          engine="c", keep_default_na=False, na_values=[""],
                          on_bad_lines="error", skip_blank_lines=True)
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


def _read_csv_row_by_row(path: Path, names: list[str], usecols: list[str],
                         wanted: set[str] | None, warn: Warn) -> pd.DataFrame | None:
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
        warn(f"{path}: {bad - MAX_WARNINGS_PER_FILE} more malformed rows skipped "
             f"({bad} in all)")
    return _conform(pd.DataFrame(rows, columns=usecols, dtype="str"), wanted, convert=True)


def _read_report(path: Path, named: bool, warn: Warn) -> dict | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        warn(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); skipped")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        warn(f"{path}: cannot read: {exc}; skipped")
        return None
    if not isinstance(report, dict) or "schema_version" not in report or "run_id" not in report:
        if named:
            warn(f"{path}:1: not a greenmeter report (no schema_version and run_id); skipped")
        return None
    try:
        return report_to_row(report)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        warn(f"{path}: malformed greenmeter report ({type(exc).__name__}: {exc}); skipped")
        return None


def report_to_row(report: dict) -> dict:
    """A JSON report as the CSV row ``report_csv.result_to_row`` would have written, plus
    the host details only reports carry (``HOST_COLUMNS``)."""
    energy = report.get("energy_j") or {}
    carbon = report.get("carbon") or {}
    host = report.get("host") or {}
    ci = report.get("ci") or {}
    budget = report.get("budget")
    components = report.get("components") or []

    def method(kind: str) -> str:
        return "+".join(sorted({c.get("method", "") for c in components
                                if c.get("counted", True) and c.get("kind") == kind}))

    gpus = host.get("gpu_models") or []
    return {
        "run_id": str(report["run_id"]),
        "started_at": report.get("started_at"),
        "ended_at": report.get("ended_at"),
        "duration_s": report.get("duration_s"),
        "command": json.dumps(report.get("command") or []),
        "exit_code": report.get("exit_code"),
        "interrupted": str(bool(report.get("interrupted"))),
        "partial": str(bool(report.get("partial"))),
        "hostname": host.get("hostname"),
        **{f"energy_{k}_j": energy.get(k) for k in ("total", "cpu", "gpu", "dram")},
        "cpu_method": method("cpu"), "gpu_method": method("gpu"), "dram_method": method("dram"),
        **{k: carbon.get(k) for k in ("region", "zone_id", "intensity_g_per_kwh",
                                      "intensity_source", "intensity_year", "basis", "pue",
                                      "energy_kwh", "co2_g")},
        "greenmeter_version": report.get("greenmeter_version"),
        "tags": json.dumps(report["tags"], sort_keys=True) if report.get("tags") else None,
        "git_commit": ci.get("git_commit"), "git_branch": ci.get("git_branch"),
        "ci_provider": ci.get("provider"), "ci_job": ci.get("job"),
        "ci_run_id": ci.get("run_id"), "ci_runner": ci.get("runner"),
        **{k: report.get(k) for k in ("units", "unit_name", "energy_j_per_unit",
                                      "co2_g_per_unit", "repeat_group", "repetition")},
        "budget_exceeded": None if budget is None else str(bool(budget.get("exceeded"))),
        "os": host.get("os"), "python": host.get("python"), "cpu_model": host.get("cpu_model"),
        "gpu_models": ", ".join(gpus) if gpus else None,
        "gpu_count": sum(1 for c in components
                         if c.get("kind") == "gpu" and c.get("counted", True)),
    }


# --------------------------------------------------------------------------- selecting

def parse_time_bound(text: str, now: datetime | None = None) -> pd.Timestamp:
    """``2024-05-01``, ``2024-05-01T12:00``, ``...Z`` / ``+02:00`` (naive = UTC), or an age:
    ``90m``, ``12h``, ``7d``, ``2w`` ago."""
    now = now or datetime.now(timezone.utc)
    age = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*", text)
    if age:
        unit = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days",
                "w": "weeks"}[age[2]]
        return pd.Timestamp(now - timedelta(**{unit: float(age[1])}))
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a date/time (2024-05-01, 2024-05-01T12:00Z) "
                         f"nor an age (12h, 7d, 2w)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return pd.Timestamp(moment)


def key_columns(key: str) -> set[str]:
    """The CSV columns a group key or selection key reads."""
    if key.startswith("tag:"):
        return {"tags"}
    if key in TIME_KEYS:
        return {"started_at"}
    return {KEY_ALIASES.get(key, key)}


def check_key(key: str) -> str:
    """``key`` if ``--group-by``/``key=value`` understands it, else ValueError."""
    if key.startswith("tag:") and len(key) > 4:
        return key
    if key == "command" or key in TIME_KEYS or KEY_ALIASES.get(key, key) in COLUMNS:
        return key
    raise ValueError(f"unknown key {key!r}; use {KEY_HELP}")


def _decoded(column: pd.Series, decode: Callable[[str], str]) -> pd.Series:
    """``decode`` applied once per distinct value (a history repeats a few commands and
    tag sets many times), not once per row; "" where the column is empty."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    labels = np.array([decode(u) for u in uniques] + [""], dtype=object)
    return pd.Series(labels[codes], index=column.index, dtype="str")  # code -1 -> ""


def _command_text(value: str) -> str:
    try:
        argv = json.loads(value)
        return shlex.join(argv) if isinstance(argv, list) else str(argv)
    except (ValueError, TypeError):
        return value


def _tag_value(tag: str) -> Callable[[str], str]:
    def decode(value: str) -> str:
        try:
            tags = json.loads(value)
        except (ValueError, TypeError):
            return ""
        return str(tags.get(tag, "")) if isinstance(tags, dict) else ""
    return decode


def key_series(frame: pd.DataFrame, key: str) -> pd.Series:
    """The value of ``key`` for every run, as text ("" where missing)."""
    if key.startswith("tag:"):
        return _decoded(frame["tags"], _tag_value(key[4:]))
    if key == "command":
        return _decoded(frame["command"], _command_text)
    if key in TIME_KEYS:
        return frame["started"].dt.strftime(TIME_KEYS[key]).fillna("")
    column = frame[KEY_ALIASES.get(key, key)]
    if column.dtype == "float64":  # exit_code=0, repetition=2: shown without ".0"
        return column.map(lambda v: "" if math.isnan(v) else f"{v:g}")
    return column.fillna("").astype("str")


@dataclass(frozen=True)
class Selection:
    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> "Selection":
        key, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"{text!r} is not key=value (e.g. branch=main, tag:model=resnet)")
        return cls(check_key(key.strip()), value)

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        return key_series(frame, self.key).eq(self.value)


def select(frame: pd.DataFrame, selections: Iterable[Selection] = (),
           since: pd.Timestamp | None = None, until: pd.Timestamp | None = None) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for selection in selections:
        mask &= selection.mask(frame)
    if since is not None:
        mask &= frame["started"] >= since
    if until is not None:
        mask &= frame["started"] < until
    return frame if mask.all() else frame[mask]


# --------------------------------------------------------------------------- aggregating

AGGREGATE_COLUMNS = (
    "runs", "partial", "failed", "over_budget", "first_started_at", "last_started_at",
    "duration_s_sum", "duration_s_mean", "energy_j_sum", "energy_j_mean", "energy_j_std",
    "energy_kwh_sum", "co2_g_sum", "co2_g_mean", "units_sum", "energy_j_per_unit",
    "co2_g_per_unit",
)
AGGREGATE_INPUTS = {"exit_code", "duration_s", "energy_total_j", "energy_kwh", "co2_g", "units",
                    "budget_exceeded"}
ALL_RUNS = "all runs"


def aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of ``keys`` (none: one group of every run): counts, sums and means. Energy
    and CO2 per unit are ratios of sums over the runs that counted units."""
    key_names = keys or ["group"]
    work = pd.DataFrame({
        "run_id": frame["run_id"],
        "partial": frame["partial"],
        "failed": frame["exit_code"].notna() & frame["exit_code"].ne(0),
        "over_budget": frame["budget_exceeded"].eq("True"),
        "started": frame["started"],
        "duration_s": frame["duration_s"],
        "energy_j": frame["energy_total_j"],
        "energy_kwh": frame["energy_kwh"],
        "co2_g": frame["co2_g"],
        "units": frame["units"].where(frame["units"] > 0),
    }, index=frame.index)
    work["unit_energy_j"] = work["energy_j"].where(work["units"].notna())
    work["unit_co2_g"] = work["co2_g"].where(work["units"].notna())
    for name, key in zip(key_names, keys):
        work[name] = key_series(frame, key)
    if not keys:
        work["group"] = ALL_RUNS
    grouped = work.groupby(key_names, sort=True, dropna=False)
    out = grouped.agg(
        runs=("run_id", "size"), partial=("partial", "sum"), failed=("failed", "sum"),
        over_budget=("over_budget", "sum"),
        first_started_at=("started", "min"), last_started_at=("started", "max"),
        duration_s_sum=("duration_s", "sum"), duration_s_mean=("duration_s", "mean"),
        energy_j_sum=("energy_j", "sum"), energy_j_mean=("energy_j", "mean"),
        energy_j_std=("energy_j", "std"), energy_kwh_sum=("energy_kwh", "sum"),
        co2_g_sum=("co2_g", "sum"), co2_g_mean=("co2_g", "mean"),
        units_sum=("units", "sum"), unit_energy_j=("unit_energy_j", "sum"),
        unit_co2_g=("unit_co2_g", "sum"),
    )
    counted = out["units_sum"] > 0
    out["units_sum"] = out["units_sum"].where(counted)
    out["energy_j_per_unit"] = (out["unit_energy_j"] / out["units_sum"]).where(counted)
    out["co2_g_per_unit"] = (out["unit_co2_g"] / out["units_sum"]).where(counted)
    return out.reset_index()[[*key_names, *AGGREGATE_COLUMNS]]
