"""One CSV row per run, appended safely by any number of concurrent runs."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from pathlib import Path

from greenmeter.report_json import iso_utc
from greenmeter.results import RunResult

COLUMNS = (
    "run_id", "started_at", "ended_at", "duration_s", "command", "exit_code", "interrupted",
    "partial", "hostname", "energy_total_j", "energy_cpu_j", "energy_gpu_j", "energy_dram_j",
    "cpu_method", "gpu_method", "dram_method", "region", "zone_id", "intensity_g_per_kwh",
    "intensity_source", "intensity_year", "basis", "pue", "energy_kwh", "co2_g",
    "greenmeter_version",
    "tags", "git_commit", "git_branch", "ci_provider", "ci_job", "ci_run_id", "ci_runner",
    "units", "unit_name", "energy_j_per_unit", "co2_g_per_unit", "repeat_group", "repetition",
    "budget_exceeded",
)
"""Columns are only ever appended: a history begun by an older version keeps its shorter
header, and ``greenmeter report`` reads the longer rows appended to it since."""


def _method(result: RunResult, kind: str) -> str:
    methods = sorted({c.method for c in result.components if c.counted and c.kind == kind})
    return "+".join(methods)


def result_to_row(result: RunResult) -> dict[str, object]:
    energy = result.energy_j
    carbon = result.carbon
    return {
        "run_id": result.run_id,
        "started_at": iso_utc(result.started_at),
        "ended_at": iso_utc(result.ended_at),
        "duration_s": round(result.duration_s, 6),
        "command": json.dumps(result.command),
        "exit_code": "" if result.exit_code is None else result.exit_code,
        "interrupted": result.interrupted,
        "partial": result.partial,
        "hostname": result.host.get("hostname", ""),
        **{f"energy_{k}_j": "" if v is None else round(v, 6) for k, v in energy.items()},
        "cpu_method": _method(result, "cpu"),
        "gpu_method": _method(result, "gpu"),
        "dram_method": _method(result, "dram"),
        "region": carbon.region or "",
        "zone_id": carbon.zone_id,
        "intensity_g_per_kwh": carbon.intensity_g_per_kwh,
        "intensity_source": carbon.intensity_source,
        "intensity_year": carbon.intensity_year,
        "basis": carbon.basis,
        "pue": carbon.pue,
        "energy_kwh": carbon.energy_kwh,
        "co2_g": round(carbon.co2_g, 9),
        "greenmeter_version": result.greenmeter_version,
        "tags": json.dumps(result.tags, sort_keys=True) if result.tags else "",
        **_ci_columns(result.ci or {}),
        "units": _blank(result.units),
        "unit_name": result.unit_name or "",
        "energy_j_per_unit": _blank(result.energy_j_per_unit),
        "co2_g_per_unit": _blank(result.co2_g_per_unit),
        "repeat_group": result.repeat_group or "",
        "repetition": _blank(result.repetition),
        "budget_exceeded": "" if result.budget is None else result.budget.exceeded,
    }


def _blank(value: object) -> object:
    return "" if value is None else value


def _ci_columns(ci: dict[str, str]) -> dict[str, str]:
    return {"git_commit": ci.get("git_commit", ""), "git_branch": ci.get("git_branch", ""),
            "ci_provider": ci.get("provider", ""), "ci_job": ci.get("job", ""),
            "ci_run_id": ci.get("run_id", ""), "ci_runner": ci.get("runner", "")}


def append_row(path: Path, row: dict[str, object]) -> None:
    """Append one row under an exclusive lock; the header is written once, by whichever
    process finds the file empty while holding the lock. One write() per row, so even a
    reader that takes no lock never sees a half row from another writer. A write that
    fails half-way (disk full) is cut back off, so the file never ends in a half row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            writer.writeheader()
        writer.writerow(row)
        data = buf.getvalue().encode("utf-8")
        try:
            while data:  # the kernel may take part of it (a nearly full disk)
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the first error is the one to report
            raise
    finally:
        os.close(fd)  # also releases the lock
