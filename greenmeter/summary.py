"""The end-of-run summary on stderr (rich, imported only here)."""

from __future__ import annotations

import sys

from collections.abc import Collection

from greenmeter.results import RunResult


def format_energy(joules: float | None) -> str:
    if joules is None:
        return "-"
    if abs(joules) >= 3.6e6:
        return f"{joules / 3.6e6:.3f} kWh"
    if abs(joules) >= 1e4:
        return f"{joules / 1e3:.1f} kJ"
    if abs(joules) >= 1:
        return f"{joules:.1f} J"
    return f"{joules * 1e3:.1f} mJ"


def format_power(watts: float) -> str:
    return f"{watts:.1f} W" if abs(watts) >= 1 else f"{watts * 1e3:.1f} mW"


def format_co2(grams: float) -> str:
    if grams >= 1000:
        return f"{grams / 1000:.3f} kg"
    if grams >= 1:
        return f"{grams:.2f} g"
    if 0 < abs(grams) < 1e-3:  # per-unit figures: a sample's share is micrograms
        return f"{grams * 1e6:.2f} µg"
    return f"{grams * 1000:.2f} mg"


def print_summary(result: RunResult, file=None, already_said: Collection[str] = ()) -> None:
    """``already_said``: warnings said on stderr before the command ran (sensor gaps and
    their fixes), not repeated here."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Names, sources and warnings come from hardware, data files and the command: Text,
    # never markup ("[intel-rapl-mmio]" would vanish, "[/x]" would raise). No emoji
    # codes either: ":smile:" in a command's words stays as it is.
    console = Console(file=file or sys.stderr, highlight=False, emoji=False)
    status = f"exit {result.exit_code}" + (", interrupted" if result.interrupted else "")
    table = Table(title=f"greenmeter: {result.duration_s:.2f} s, {status}", title_justify="left",
                  show_edge=False, pad_edge=False)
    table.add_column("component")
    table.add_column("energy", justify="right")
    table.add_column("mean power", justify="right")
    table.add_column("how")
    for comp in result.components:
        label = f"{comp.kind} {comp.name}" if comp.counted else f"  ({comp.kind} {comp.name}, not added)"
        power = "-" if comp.mean_power_w is None else format_power(comp.mean_power_w)
        how = f"{comp.method}, {comp.source}" + (", partial" if comp.partial else "")
        table.add_row(Text(label), format_energy(comp.energy_j), power, Text(how))
    carbon = result.carbon
    table.add_row("[bold]total[/bold]", f"[bold]{format_energy(result.energy_j['total'])}[/bold]",
                  "", f"{carbon.energy_kwh:.3g} kWh")
    console.print(table)
    if console.is_terminal:
        _print_power_sparkline(console, result)
    region = carbon.region or "world average (no region set)"
    pue = f" x PUE {carbon.pue:g}" if carbon.pue != 1 else ""
    if carbon.pue_source:
        pue += " (provider's)"
    if carbon.time_resolved:
        where = f"{region}: {carbon.zone_name}, " if carbon.zone_id else ""
        provenance = f"energy-weighted mean ({where}hourly {carbon.intensity_source} {carbon.intensity_year}, {carbon.basis})"
    else:
        provenance = f"({region}: {carbon.zone_name}, {carbon.intensity_source} {carbon.intensity_year}, {carbon.basis})"
    console.print(Text.assemble((f"{format_co2(carbon.co2_g)} CO2e", "bold"),
                                f"{pue} at {carbon.intensity_g_per_kwh:.4g} gCO2e/kWh {provenance}"))
    net = result.energy_net_j
    if net is not None:
        parts = ", ".join(f"{kind} {format_energy(net[kind])}" for kind in ("cpu", "gpu", "dram")
                          if net[kind] is not None)
        console.print(f"above idle ({result.idle_baseline_s:.1f} s baseline before the command): "
                      f"[bold]{format_energy(net['total'])}[/bold] ({parts})")
    if result.units:
        from rich.markup import escape

        from greenmeter.units_of_work import singular

        name = escape(result.unit_name)  # the command's words, not markup
        console.print(f"per {singular(name)} ({result.units:g} {name}): "
                      f"{format_energy(result.energy_j_per_unit)}, "
                      f"{format_co2(result.co2_g_per_unit)} CO2e")
    if result.budget is not None:
        style = "bold red" if result.budget.exceeded else "green"
        console.print(f"[{style}]{result.budget.describe()}[/{style}]")
    if result.cross_check and "difference" in result.cross_check:
        _print_cross_check(console, result.cross_check)
    for warning in result.warnings:
        if warning in already_said:
            continue
        console.print(Text.assemble(("warning:", "yellow"), f" {warning}"))


def _print_cross_check(console, check: dict) -> None:
    """greenmeter and CodeCarbon side by side (``--cross-check codecarbon``)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"cross-check: CodeCarbon {check['version']} ({check['mode']}, "
                             f"{check['country_iso_code']}, {check['duration_s']:.2f} s)"),
                  title_justify="left", show_edge=False, pad_edge=False)
    for name in ("", "greenmeter", "CodeCarbon", "difference"):
        table.add_column(name, justify="right" if name else "left")
    for row in check["difference"]:
        if row["kind"] == "gpu" and row["greenmeter_j"] is None and not row["codecarbon_j"]:
            continue  # no GPU on either side
        if row["kind"] == "co2":
            label, fmt, unit = "CO2e", format_co2, "g"
        else:
            label, fmt, unit = {"dram": "dram (CodeCarbon: ram)"}.get(row["kind"], row["kind"]), format_energy, "j"
        diff = row[f"difference_{unit}"]
        pct = "" if row["difference_pct"] is None else f" ({row['difference_pct']:+.0f} %)"
        table.add_row(label, "-" if row[f"greenmeter_{unit}"] is None else fmt(row[f"greenmeter_{unit}"]),
                      fmt(row[f"codecarbon_{unit}"]),
                      "-" if diff is None else f"{'+' if diff >= 0 else '-'}{fmt(abs(diff))}{pct}")
    console.print(table)


def _print_power_sparkline(console, result: RunResult) -> None:
    """Total power over the run as one line of blocks, scaled from 0 W to the peak."""
    from rich.text import Text

    from greenmeter.sparkline import sparkline, total_power_w

    width = max(10, min(60, console.width - 30))
    power = total_power_w(result.timeline, [c.counted for c in result.components], width)
    if len(power) < 2:
        return
    peak = max(power)
    console.print(Text.assemble("total power ", (sparkline(power, peak), "green"),
                                f" 0\u2013{format_power(peak)} over {result.duration_s:.1f} s"))
