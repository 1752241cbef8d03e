"""``greenmeter doctor``'s findings (``greenmeter.sensors.diagnose``) as tables, for people."""

from __future__ import annotations

from typing import IO


def render(findings: dict, file: IO[str]) -> None:
    """The findings as tables, for people."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=file, highlight=False, soft_wrap=False)
    console.print(f"[bold]greenmeter doctor[/bold] (greenmeter {findings['greenmeter_version']})")

    plan = Table(title="What a run will report", title_justify="left")
    for column in ("kind", "method", "source"):
        plan.add_column(column, no_wrap=True)
    for entry in findings["plan"]:
        plan.add_row(entry["kind"], entry["method"] or "not reported", entry["source"] or "-")
    console.print(plan)
    for entry in findings["plan"]:
        if entry.get("reason"):
            console.print(f"[bold]{entry['kind']}[/bold]: {escape(entry['reason'])}")
        if entry.get("fix"):
            console.print(f"  fix: {escape(entry['fix'])}")
    console.print()

    zones = Table(title=f"RAPL zones under {findings['rapl']['root']}", title_justify="left")
    for column in ("zone", "name", "readable", "counts as"):
        zones.add_column(column, no_wrap=column != "readable")
    zones.add_column("note", overflow="fold")
    for zone in findings["rapl"]["zones"]:
        zones.add_row(
            zone["zone"],
            zone["name"] or "?",
            "yes" if zone["readable"] else f"no: {zone['problem']}",
            zone["counts_as"],
            zone["note"],
        )
    if findings["rapl"]["zones"]:
        console.print(zones)
    else:
        console.print(f"RAPL: no zones under {findings['rapl']['root']}")

    nvml = findings["nvml"]
    if nvml.get("gpus"):
        gpus = Table(
            title=f"GPUs (NVML, driver {nvml.get('driver_version') or '?'})", title_justify="left"
        )
        for column in ("index", "name", "energy counter", "power limit (W)"):
            gpus.add_column(column)
        for gpu in nvml["gpus"]:
            gpus.add_row(
                str(gpu.get("index")),
                gpu.get("name") or "?",
                "yes" if gpu.get("energy_counter") else "no (power is polled)",
                "?" if gpu.get("power_limit_w") is None else f"{gpu['power_limit_w']:g}",
            )
        console.print(gpus)
    else:
        console.print(f"GPUs (NVML): none ({nvml.get('reason') or 'no GPU found'})")
    _render_amd(findings.get("amdsmi") or {}, console)

    inputs = findings["estimate"]
    estimate = Table(title="Estimate inputs (used where nothing is measured)", title_justify="left")
    estimate.add_column("input")
    estimate.add_column("value", overflow="fold")
    for key, value in inputs.items():
        estimate.add_row(key, "not found" if value is None else str(value))
    console.print(estimate)


def _render_amd(amd: dict, console) -> None:
    """AMD GPUs (AMD SMI): per logical GPU what it can measure; what stands in the way."""
    from rich.markup import escape
    from rich.table import Table

    if amd.get("gpus"):
        gpus = Table(title="GPUs (AMD SMI)", title_justify="left")
        for column in ("index", "name", "partition", "energy counter", "power", "limit (W)"):
            gpus.add_column(column)
        for gpu in amd["gpus"]:
            gpus.add_row(
                str(gpu.get("index")),
                gpu.get("name") or "?",
                str(gpu.get("partition")),
                "yes" if gpu.get("energy_counter") else "no (power is polled)",
                (gpu.get("power") or "none").removesuffix("_socket_power"),
                "?" if gpu.get("power_limit_w") is None else f"{gpu['power_limit_w']:g}",
            )
        console.print(gpus)
        console.print(f"AMD SMI library: {escape(amd.get('library') or '?')}")
    elif amd:
        console.print(f"GPUs (AMD SMI): none ({escape(amd.get('reason') or 'no GPU found')})")
        if amd.get("fix"):
            console.print(f"  fix: {escape(amd['fix'])}")
    for check in amd.get("access") or []:
        if not check["ok"]:
            console.print(f"AMD: {escape(check['check'])}: no. fix: {escape(check['fix'])}")
