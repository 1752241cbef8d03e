"""CodeCarbon's ``emissions.csv`` read as greenmeter history, so a team that switches keeps
its CodeCarbon runs and sees them beside greenmeter's in ``report`` and ``compare``.

Only the file format is read; CodeCarbon itself is never imported. Columns and units are
CodeCarbon's (``codecarbon/output_methods/emissions_data.py``, ``EmissionsData``): 3.x
(3.3.2: 38 columns, water and utilisation among them), 2.x (2.8 has ``experiment_id``,
2.3 not) and 1.x (12 columns, no ``run_id``). Columns are found by name, in any order, as
CodeCarbon itself accepts them. Each row stays CodeCarbon's figure, labelled so
(``tool`` codecarbon, ``source`` such as "codecarbon 3.3.2 (tracking_mode=machine)"), in
greenmeter's units and conventions:

- energies kWh -> J, CodeCarbon's PUE divided back out (greenmeter's energies are the IT
  equipment's; its CO2e carries the PUE); CodeCarbon's ``ram`` is greenmeter's ``dram``
- ``emissions`` kg -> g; the intensity is CodeCarbon's effective one, emissions / energy
- ``timestamp`` is the end of the run in the machine's local time, without a zone
  (CodeCarbon writes ``datetime.now()``): read as UTC unless it carries an offset; the
  start is the end minus ``duration``
- ``project_name`` and ``experiment_id`` become tags (``--group-by tag:project_name``)
- methods: RAM estimated (CodeCarbon's fixed power by memory size), GPU measured (NVML's
  energy counter), CPU ``unrecorded`` (RAPL or a TDP model: the file does not say which)

A run CodeCarbon wrote more than once (``flush()`` in append mode) counts once, as its last
row. docs/codecarbon.md says what differs in method.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from greenmeter.quantities import J_PER_KWH

TOOL = "codecarbon"
SIGNATURE = frozenset({"timestamp", "project_name", "duration", "emissions", "energy_consumed"})
"""Columns of every CodeCarbon emissions.csv since 1.0; a greenmeter history has none."""
TASK_COLUMN = "task_name"
"""Only CodeCarbon's per-task files (``emissions_<experiment>_<run>.csv``) have it."""
NUMBER_COLUMNS = (
    "duration", "emissions", "energy_consumed", "cpu_energy", "gpu_energy", "ram_energy", "pue",
)  # fmt: skip
REQUIRED_NUMBERS = ("duration", "emissions", "energy_consumed")
ENERGY_COLUMNS = {
    "energy_total_j": "energy_consumed",
    "energy_cpu_j": "cpu_energy",
    "energy_gpu_j": "gpu_energy",
    "energy_dram_j": "ram_energy",
}
"""greenmeter's column -> CodeCarbon's (kWh, PUE applied)."""
BAD_LINES_NAMED = 5
"""Bad rows named in a file's one warning; the rest are counted."""
METHOD_NOTE = (
    "{runs} run(s) are CodeCarbon's own figures from emissions.csv (source 'codecarbon ...'): "
    "CodeCarbon charges RAM a fixed power by memory size, takes the CPU from RAPL or else "
    "from its TDP (x load, or x 50 %), counts the whole machine in tracking_mode=machine, "
    "and writes local time (read here as UTC). Compare with care: docs/codecarbon.md"
)

Warn = Callable[[str], None]


def is_emissions_header(header: list[str]) -> bool:
    """Whether a CSV header is CodeCarbon's (any version, any column order)."""
    return set(header) >= SIGNATURE


def method_note(*frames: pd.DataFrame) -> str | None:
    """What differs in method, when ``frames`` (from ``load_history``) have CodeCarbon's rows."""
    runs = sum(int(frame["tool"].eq(TOOL).sum()) for frame in frames)
    return METHOD_NOTE.format(runs=runs) if runs else None


def group_keys(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """``report``'s group keys: CodeCarbon's runs are never summed with greenmeter's, so
    ``source`` leads unless the keys already tell the tools apart."""
    if "tool" in keys or "source" in keys or not frame["tool"].eq(TOOL).any():
        return keys
    return ["source", *keys]


def read_emissions_csv(
    path: Path, header: list[str], named: bool, warn: Warn
) -> pd.DataFrame | None:
    """The runs of one CodeCarbon file in greenmeter's history columns, as text and floats
    ("" for no text; ``history.load`` types the rest). Bad rows are skipped with ONE
    warning for the file."""
    if TASK_COLUMN in header:
        if named:
            warn(
                f"{path}: a CodeCarbon task file (per-task figures of one run, whose total "
                f"is in its emissions.csv); skipped"
            )
        return None
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[tuple[int, str]] = []
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            next(reader, None)
            try:
                for row in reader:
                    if not row or row == [""]:
                        continue
                    if len(row) != len(header):
                        bad.append((reader.line_num, f"{len(row)} fields, expected {len(header)}"))
                        continue
                    rows.append(row)
                    lines.append(reader.line_num)
            except csv.Error as exc:  # e.g. a NUL byte: the rest cannot be trusted
                bad.append((reader.line_num, f"unreadable from here on ({exc})"))
    except OSError as exc:
        warn(f"{path}: cannot read: {exc.strerror}; skipped")
        return None
    raw = pd.DataFrame(rows, columns=header, dtype="str")
    raw.index = pd.Index(lines, name="line")
    raw = raw.loc[:, ~raw.columns.duplicated()]
    numbers = {c: pd.to_numeric(raw[c], errors="coerce") for c in NUMBER_COLUMNS if c in raw}
    ended = pd.to_datetime(raw["timestamp"], format="ISO8601", utc=True, errors="coerce")
    run_id = _run_ids(raw)
    problem = pd.Series("", index=raw.index, dtype="str")
    checks = [(ended.isna(), "timestamp", "is not an ISO 8601 time")]
    checks += [(numbers[c].isna(), c, "is not a number") for c in REQUIRED_NUMBERS]
    for mask, column, what in checks:
        new = mask & problem.eq("")
        problem[new] = column + " " + raw.loc[new, column].str.slice(0, 40).map(repr) + " " + what
    problem[run_id.eq("") & problem.eq("")] = "no run_id"
    bad += list(problem[problem.ne("")].items())
    if bad:
        bad.sort()
        named_lines = "; ".join(f"line {n}: {why}" for n, why in bad[:BAD_LINES_NAMED])
        more = f"; and {len(bad) - BAD_LINES_NAMED} more" if len(bad) > BAD_LINES_NAMED else ""
        warn(f"{path}: {len(bad)} malformed CodeCarbon row(s) skipped ({named_lines}{more})")
    keep = problem.eq("")
    out = _history_rows(raw[keep], {c: v[keep] for c, v in numbers.items()}, ended[keep])
    out["run_id"] = run_id[keep]
    # flush() in append mode writes a run again each time, with its totals so far
    return out[~out["run_id"].duplicated(keep="last")].reset_index(drop=True)


def _run_ids(raw: pd.DataFrame) -> pd.Series:
    """CodeCarbon's ``run_id``; 1.x wrote none: a digest of the row stands in, the same
    for the same row wherever the file is copied."""
    if "run_id" in raw:
        return raw["run_id"]
    digests = [
        "codecarbon-" + hashlib.sha256("\x1f".join(row).encode()).hexdigest()[:16]
        for row in raw.itertuples(index=False)
    ]
    return pd.Series(digests, index=raw.index, dtype="str")


def _history_rows(
    raw: pd.DataFrame, numbers: dict[str, pd.Series], ended: pd.Series
) -> pd.DataFrame:
    index = raw.index
    nothing = pd.Series(np.nan, index=index, dtype="float64")

    def text(column: str) -> pd.Series:
        if column not in raw:
            return pd.Series("", index=index, dtype="str")
        return raw[column]

    def number(column: str) -> pd.Series:
        return numbers.get(column, nothing)

    pue = number("pue").where(number("pue") > 0).fillna(1.0)
    energy_j = {ours: number(theirs) * J_PER_KWH / pue for ours, theirs in ENERGY_COLUMNS.items()}
    co2_g = number("emissions") * 1000.0
    started = ended - pd.to_timedelta(number("duration"), unit="s")
    version, mode = text("codecarbon_version"), text("tracking_mode")
    source = (
        TOOL
        + (" " + version).where(version.ne(""), "")
        + (" (tracking_mode=" + mode + ")").where(mode.ne(""), "")
    )
    country, subnational = text("country_iso_code"), text("region")
    on_cloud = text("on_cloud").eq("Y")
    region = country.where(subnational.eq("") | country.eq(""), country + "/" + subnational)
    region = region.where(~on_cloud, text("cloud_provider") + ":" + text("cloud_region"))
    return pd.DataFrame(
        {
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "duration_s": number("duration"),
            "interrupted": False,
            "partial": False,
            **energy_j,
            "cpu_method": np.where(energy_j["energy_cpu_j"].notna(), "unrecorded", ""),
            "gpu_method": np.where(energy_j["energy_gpu_j"] > 0, "measured", ""),
            "dram_method": np.where(energy_j["energy_dram_j"].notna(), "estimated", ""),
            "region": region,
            "zone_id": country,
            "intensity_g_per_kwh": co2_g
            / number("energy_consumed").where(number("energy_consumed") > 0),
            "intensity_source": TOOL,
            "pue": pue,
            "energy_kwh": energy_j["energy_total_j"] / J_PER_KWH,
            "co2_g": co2_g,
            "tags": _tags(text("project_name"), text("experiment_id")),
            "os": text("os"),
            "python": text("python_version"),
            "cpu_model": text("cpu_model"),
            "gpu_models": text("gpu_model"),
            "gpu_count": text("gpu_count"),
            "tool": TOOL,
            "source": source,
        },
        index=index,
    )


def _iso(moments: pd.Series) -> pd.Series:
    """ISO 8601 UTC text, as greenmeter's reports write it (numpy's C formatter: pandas'
    strftime takes seconds on 100k rows)."""
    values = moments.dt.tz_convert(None).to_numpy().astype("datetime64[ms]")
    text = pd.Series(np.datetime_as_string(values, unit="ms"), index=moments.index) + "Z"
    return text.where(moments.notna(), "")


def _tags(projects: pd.Series, experiments: pd.Series) -> pd.Series:
    """CodeCarbon's labels as greenmeter tags, encoded once per distinct pair."""
    cache: dict[tuple[str, str], str] = {}
    out = []
    for pair in zip(projects.tolist(), experiments.tolist()):
        if pair not in cache:
            tags = {k: v for k, v in zip(("project_name", "experiment_id"), pair) if v}
            cache[pair] = json.dumps(tags, sort_keys=True) if tags else ""
        out.append(cache[pair])
    return pd.Series(out, index=projects.index, dtype="str")
