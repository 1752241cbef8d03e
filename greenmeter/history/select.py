"""Which runs of the history: ``key=value`` selections, ``--since``/``--until``, and the
keys ``--group-by`` and selections understand."""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from greenmeter.history.load import SOURCE_COLUMNS
from greenmeter.reports.csv_row import COLUMNS

KEY_ALIASES = {
    "host": "hostname",
    "branch": "git_branch",
    "commit": "git_commit",
    "job": "job_id",
    "step": "job_step",
    "node": "job_node",
    "rank": "job_rank",
    "launcher": "job_launcher",
    "ci-job": "ci_job",
    "runner": "ci_runner",
    "provider": "ci_provider",
    "zone": "zone_id",
    "run": "run_id",
    "group": "repeat_group",
    "version": "greenmeter_version",
    "unit": "unit_name",
}
"""Short names for ``--group-by`` and ``key=value`` selections; any CSV column works too."""
TIME_KEYS = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}
PHASE_KEY = "phase"
"""One row per phase of each run's JSON report, not per run (``history.phases``)."""
KEY_HELP = (
    "command, tag:<key>, region, zone, host, branch, commit, ci-job, runner, group "
    "(repeat group), run, job, step, node, rank, launcher, phase, day, week, month, tool "
    "(greenmeter or codecarbon), source (e.g. 'codecarbon 3.3.2 (tracking_mode=machine)'), "
    "or any CSV column"
)


def parse_time_bound(text: str, now: datetime | None = None) -> pd.Timestamp:
    """``2024-05-01``, ``2024-05-01T12:00``, ``...Z`` / ``+02:00`` (naive = UTC), or an age:
    ``90m``, ``12h``, ``7d``, ``2w`` ago."""
    now = now or datetime.now(timezone.utc)
    age = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*", text)
    if age:
        unit = {
            "s": "seconds",
            "m": "minutes",
            "min": "minutes",
            "h": "hours",
            "d": "days",
            "w": "weeks",
        }[age[2]]
        try:
            return pd.Timestamp(now - timedelta(**{unit: float(age[1])}))
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            raise ValueError(f"{text!r} reaches before any date greenmeter can read") from None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a date/time (2024-05-01, 2024-05-01T12:00Z) "
            f"nor an age (12h, 7d, 2w)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return pd.Timestamp(moment)


def key_columns(key: str) -> set[str]:
    """The CSV columns a group key or selection key reads."""
    if key.startswith("tag:"):
        return {"tags"}
    if key in TIME_KEYS:
        return {"started_at"}
    if key == PHASE_KEY:
        return set()  # from the JSON reports, beside the history's columns
    return {KEY_ALIASES.get(key, key)}


def check_key(key: str) -> str:
    """``key`` if ``--group-by``/``key=value`` understands it, else ValueError."""
    if key.startswith("tag:") and len(key) > 4:
        return key
    if (
        key in ("command", PHASE_KEY, *SOURCE_COLUMNS, *TIME_KEYS)
        or KEY_ALIASES.get(key, key) in COLUMNS
    ):
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
    def parse(cls, text: str) -> Selection:
        key, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"{text!r} is not key=value (e.g. branch=main, tag:model=resnet)")
        return cls(check_key(key.strip()), value)

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        return key_series(frame, self.key).eq(self.value)


def select(
    frame: pd.DataFrame,
    selections: Iterable[Selection] = (),
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for selection in selections:
        mask &= selection.mask(frame)
    if since is not None:
        mask &= frame["started"] >= since
    if until is not None:
        mask &= frame["started"] < until
    return frame if mask.all() else frame[mask]
