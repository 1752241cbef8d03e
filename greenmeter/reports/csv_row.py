"""One CSV row per run, appended safely by any number of concurrent runs.

The row is a pure function of the JSON report (:func:`report_row`), so a run reads the
same whether ``greenmeter report`` finds its CSV row or its JSON report.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import stat
from pathlib import Path

from greenmeter.reports.json_report import result_to_dict
from greenmeter.results import COUNTED_KINDS, RunResult

COLUMNS = (
    "run_id", "started_at", "ended_at", "duration_s", "command", "exit_code", "interrupted",
    "partial", "hostname", "energy_total_j", "energy_cpu_j", "energy_gpu_j", "energy_dram_j",
    "cpu_method", "gpu_method", "dram_method", "region", "zone_id", "intensity_g_per_kwh",
    "intensity_source", "intensity_year", "basis", "pue", "energy_kwh", "co2_g",
    "greenmeter_version",
    "tags", "git_commit", "git_branch", "ci_provider", "ci_job", "ci_run_id", "ci_runner",
    "units", "unit_name", "energy_j_per_unit", "co2_g_per_unit", "repeat_group", "repetition",
    "budget_exceeded",
    "job_id", "job_step", "job_node", "job_rank", "job_launcher", "node_meter", "job_devices",
)  # fmt: skip
"""Columns are only ever appended: a history begun by an older version keeps its shorter
header, and ``greenmeter report`` reads the longer rows appended to it since."""
CARBON_COLUMNS = (
    "intensity_g_per_kwh", "intensity_source", "intensity_year", "basis", "pue", "energy_kwh",
)  # fmt: skip
CI_COLUMNS = {
    "git_commit": "git_commit", "git_branch": "git_branch", "ci_provider": "provider",
    "ci_job": "job", "ci_run_id": "run_id", "ci_runner": "runner",
}  # fmt: skip
"""CSV column -> key of the report's ``ci`` object."""


def _blank(value: object) -> object:
    return "" if value is None else value


def _rounded(value: float | None, digits: int) -> object:
    return "" if value is None else round(value, digits)


def kind_method(components: list[dict], kind: str) -> str:
    """How a kind's counted figures were obtained: ``measured``, ``estimated``, or
    ``estimated+measured`` when its components differ; "" for a kind not reported."""
    methods = {
        c.get("method", "") for c in components if c.get("counted", True) and c.get("kind") == kind
    }
    return "+".join(sorted(methods))


def report_row(report: dict) -> dict[str, object]:
    """A JSON report (``result_to_dict``'s shape) as its CSV row; "" for no value."""
    energy = report.get("energy_j") or {}
    carbon = report.get("carbon") or {}
    ci = report.get("ci") or {}
    budget = report.get("budget")
    components = report.get("components") or []
    return {
        "run_id": str(report["run_id"]),
        "started_at": report.get("started_at"),
        "ended_at": report.get("ended_at"),
        "duration_s": _rounded(report.get("duration_s"), 6),
        "command": json.dumps(report.get("command") or []),
        "exit_code": _blank(report.get("exit_code")),
        "interrupted": bool(report.get("interrupted")),
        "partial": bool(report.get("partial")),
        "hostname": (report.get("host") or {}).get("hostname", ""),
        **{f"energy_{k}_j": _rounded(energy.get(k), 6) for k in ("total", *COUNTED_KINDS)},
        **{f"{kind}_method": kind_method(components, kind) for kind in COUNTED_KINDS},
        "region": carbon.get("region") or "",
        "zone_id": _blank(carbon.get("zone_id")),
        **{k: _blank(carbon.get(k)) for k in CARBON_COLUMNS},
        "co2_g": _rounded(carbon.get("co2_g"), 9),
        "greenmeter_version": report.get("greenmeter_version"),
        "tags": json.dumps(report["tags"], sort_keys=True) if report.get("tags") else "",
        **{column: ci.get(key, "") for column, key in CI_COLUMNS.items()},
        "units": _blank(report.get("units")),
        "unit_name": report.get("unit_name") or "",
        "energy_j_per_unit": _blank(report.get("energy_j_per_unit")),
        "co2_g_per_unit": _blank(report.get("co2_g_per_unit")),
        "repeat_group": report.get("repeat_group") or "",
        "repetition": _blank(report.get("repetition")),
        "budget_exceeded": "" if budget is None else bool(budget.get("exceeded")),
        **job_columns(report.get("job")),
    }


def job_columns(job: dict | None) -> dict[str, object]:
    """The job a run was a rank of (its report's ``job``); ``job_devices`` holds, as JSON,
    ``[device, joules, [[from, to], ...]]`` for each shared device the run measured (epoch
    seconds), so that a history can count a device measured twice in one job once."""
    job = job or {}
    devices = [
        [d["device"], d["energy_j"], d["intervals"]]
        for d in job.get("devices") or []
        if d.get("intervals")
    ]
    return {
        "job_id": job.get("job_id") or "",
        "job_step": _blank(job.get("step_id")),
        "job_node": job.get("node") or "",
        "job_rank": _blank(job.get("rank")),
        "job_launcher": job.get("launcher") or "",
        "node_meter": _blank(job.get("node_meter")),
        "job_devices": json.dumps(devices, separators=(",", ":")) if devices else "",
    }


def result_to_row(result: RunResult) -> dict[str, object]:
    return report_row(result_to_dict(result))


def _ends_with_newline(fd: int, size: int) -> bool:
    try:
        return os.pread(fd, 1, size - 1) == b"\n"
    except OSError:  # a device or pipe (/dev/null): nothing to join
        return True


def append_row(path: Path, row: dict[str, object]) -> None:
    """Append one row under an exclusive lock; the header is written once, by whichever
    process finds the file empty while holding the lock. One write() per row, so even a
    reader that takes no lock never sees a half row from another writer. A write that
    fails half-way (disk full) is cut back off, so the file never ends in a half row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    flags = os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:  # read too: the last byte says whether the file ends in a whole line
        fd = os.open(path, os.O_RDWR | flags, 0o666)
    except PermissionError:
        fd = os.open(path, os.O_WRONLY | flags, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            writer.writeheader()
        elif not _ends_with_newline(fd, size):
            buf.write("\n")  # a torn last line stays a line of its own: never glued to this row
        writer.writerow(row)
        data = buf.getvalue().encode("utf-8", "backslashreplace")
        try:
            while data:  # the kernel may take part of it (a nearly full disk)
                data = data[os.write(fd, data) :]
            if stat.S_ISREG(os.fstat(fd).st_mode):  # /dev/null cannot be fsynced
                os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the first error is the one to report
            raise
    finally:
        os.close(fd)  # also releases the lock
