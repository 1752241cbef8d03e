"""``greenmeter when``'s answer in each format: a table (stderr), JSON, and the line that starts
the job then with SLURM (``sbatch --begin``), ``at`` or ``cron``. Pure functions of a Plan.

Times for the schedulers are local (``TZ``), as sbatch, at and cron read them, rounded up to
the minute at and cron work in. A local time that a DST change makes happen twice is said.
"""

from __future__ import annotations

import math
import shlex
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from greenmeter.quantities import format_duration, format_energy, format_mass

if TYPE_CHECKING:  # the types only: reports import nothing of carbon at run time
    from greenmeter.carbon.when.plan import Plan
    from greenmeter.carbon.when.window import Start

FORMATS = ("text", "json", "sbatch", "at", "cron")


def _utc(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _iso_utc(t_s: float) -> str:
    moment = datetime.fromtimestamp(t_s, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def local_minute(t_s: float) -> datetime:
    """The local time at or just after ``t_s``, on a whole minute (never before the start)."""
    return datetime.fromtimestamp(math.ceil(t_s / 60) * 60).astimezone()


def ambiguity(t_s: float) -> str | None:
    """Why a local wall-clock time is not enough for this start, or None."""
    naive = datetime.fromtimestamp(math.ceil(t_s / 60) * 60)  # local, naive: fold says which
    if naive.replace(fold=0).timestamp() != naive.replace(fold=1).timestamp():
        return (
            f"local time {naive:%Y-%m-%d %H:%M} happens twice (a DST change): "
            f"at and cron may start the job at the first one"
        )
    return None


def sbatch_line(plan: Plan) -> str:
    return f"--begin={local_minute(plan.best.start_s):%Y-%m-%dT%H:%M:%S}"


def at_line(plan: Plan, command: list[str]) -> str:
    line = f"at -t {local_minute(plan.best.start_s):%Y%m%d%H%M}"
    return f"echo {shlex.quote(shlex.join(command))} | {line}" if command else line


def cron_line(plan: Plan, command: list[str]) -> str:
    """One crontab line for that minute, day and month (cron repeats it every year)."""
    moment = local_minute(plan.best.start_s)
    what = shlex.join(command) if command else "COMMAND"
    return f"{moment.minute} {moment.hour} {moment.day} {moment.month} * {what}"


def _start_dict(plan: Plan, start: Start) -> dict:
    return {
        "start": _iso_utc(start.start_s),
        "intensity_g_per_kwh": round(start.intensity_g_per_kwh, 3),
        "low_g_per_kwh": None if start.low_g_per_kwh is None else round(start.low_g_per_kwh, 3),
        "high_g_per_kwh": None if start.high_g_per_kwh is None else round(start.high_g_per_kwh, 3),
        "co2_g": None if plan.co2_g(start) is None else round(plan.co2_g(start), 3),
    }


def plan_to_dict(plan: Plan) -> dict:
    return {
        "zone_id": plan.zone_id,
        "duration_s": plan.job.duration_s,
        "job": plan.job.source,
        "energy_j": plan.job.energy_j,
        "earliest": _iso_utc(plan.earliest_s),
        "deadline": _iso_utc(plan.deadline_s),
        "rests_on": plan.outlook.rests_on,
        "kind": plan.outlook.kind,
        "source": plan.outlook.source,
        "basis": plan.outlook.series.basis,
        "best": _start_dict(plan, plan.best),
        "now": _start_dict(plan, plan.now),
        "saving_pct": round(plan.saving_pct, 2),
        "alternatives": [_start_dict(plan, s) for s in plan.alternatives],
        "warnings": plan.warnings,
    }


def _spread(start: Start) -> str:
    if start.low_g_per_kwh is None or start.high_g_per_kwh is None:
        return "-"
    return f"{start.low_g_per_kwh:.0f}-{start.high_g_per_kwh:.0f}"


def _local_differs(plan: Plan) -> bool:
    return datetime.fromtimestamp(plan.best.start_s).astimezone().utcoffset().total_seconds() != 0


def _row(plan: Plan, label: str, start: Start) -> list[str]:
    now = plan.now.intensity_g_per_kwh
    versus = 100.0 * (start.intensity_g_per_kwh - now) / now if now > 0 else 0.0
    moment = datetime.fromtimestamp(start.start_s, tz=timezone.utc)
    cells = [label, f"{moment:%a %d %b %H:%M}"]
    if _local_differs(plan):
        cells.append(f"{datetime.fromtimestamp(start.start_s).astimezone():%a %H:%M %Z}")
    cells += [f"{start.intensity_g_per_kwh:.0f}", _spread(start)]
    if plan.job.energy_j is not None:
        cells.append(format_mass(plan.co2_g(start)))
    cells.append(f"{versus:+.1f} %")
    return cells


def print_plan(plan: Plan, file=None) -> None:
    """The answer on stderr: the best start, now, the next best, and what it rests on."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stderr, highlight=False)
    energy = f", {format_energy(plan.job.energy_j)}" if plan.job.energy_j is not None else ""
    console.print(
        f"greenmeter when: {plan.zone_id}, a {format_duration(plan.job.duration_s)} job "
        f"({plan.job.source}{energy}) ending by {_utc(plan.deadline_s)}"
    )
    table = Table(show_edge=False, pad_edge=False)
    columns = ["", "start (UTC)", "local", "gCO2e/kWh", "spread", "CO2e", "vs now"]
    if not _local_differs(plan):
        columns.remove("local")
    if plan.job.energy_j is None:
        columns.remove("CO2e")
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("", "start (UTC)", "local") else "right"
        )
    table.add_row(*_row(plan, "best", plan.best))
    table.add_row(*_row(plan, "now", plan.now))
    for start in plan.alternatives:
        table.add_row(*_row(plan, "next", start))
    console.print(table)
    spread = (
        "spread: 10th-90th percentile of those hours"
        if plan.best.low_g_per_kwh is not None
        else "no spread given by the forecast"
    )
    console.print(f"rests on: {plan.outlook.rests_on}; {spread}")
    console.print(
        f"expected saving against starting now: {plan.saving_pct:.1f} % "
        f"({plan.outlook.series.basis} basis)"
    )
    for warning in plan.warnings:
        console.print(f"greenmeter: warning: {warning}")
