"""The end-of-run summary on stderr (rich, imported inside the functions), with the
run's total power as a sparkline when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Collection

from greenmeter.quantities import (
    DURATION_STEPS,
    ENERGY_STEPS,
    MASS_STEPS,
    format_duration,
    format_energy,
    format_energy_range,
    format_figure,
    format_power,
    series_formatter,
)
from greenmeter.reports.cross_check import (
    CROSS_CHECK_HEADERS,
    cross_check_rows,
    cross_check_title,
)
from greenmeter.reports.figures import headline_basis, per_unit_lines
from greenmeter.reports.timeline import downsample, intervals, total_power_w
from greenmeter.results import (
    COUNTED_KINDS,
    MEASURED,
    Point,
    RepeatStats,
    RunResult,
    singular,
)

BLOCKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"  # one eighth to full height


def print_summary(
    result: RunResult, file=None, already_said: Collection[str] = (), advice: bool = True
) -> None:
    """``already_said``: warnings said on stderr before the command ran (sensor gaps and
    their fixes), not repeated here. ``advice``: the findings' lines (``--no-advice``)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Names, sources and warnings come from hardware, data files and the command: Text,
    # never markup ("[intel-rapl-mmio]" would vanish, "[/x]" would raise). No emoji
    # codes either: ":smile:" in a command's words stays as it is.
    console = Console(file=file or sys.stderr, highlight=False, emoji=False)
    status = f"exit {result.exit_code}" + (", interrupted" if result.interrupted else "")
    basis = result.energy_basis["total"]
    table = Table(
        title=f"greenmeter: {format_duration(result.duration_s)}, {status}"
        + (f"; {headline_basis(result)}" if basis != MEASURED else ""),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    estimated = basis is not None and basis != MEASURED
    table.add_column("component")
    table.add_column("energy", justify="right")
    if estimated:
        table.add_column("range", justify="right")
    table.add_column("mean power", justify="right")
    table.add_column("how")
    for comp in result.components:
        label = (
            f"{comp.kind} {comp.name}"
            if comp.counted
            else f"  ({comp.kind} {comp.name}, not added)"
        )
        power = "-" if comp.mean_power_w is None else format_power(comp.mean_power_w)
        how = f"{comp.method}, {comp.source}" + (", partial" if comp.partial else "")
        span = comp.energy_range_j
        energy = [format_figure(comp.energy_j, span, ENERGY_STEPS, with_range=False)]
        if estimated:
            energy.append(format_energy_range(*span) if span else "")
        table.add_row(Text(label), *energy, power, Text(how))
    carbon = result.carbon
    total, total_span = result.energy_j["total"], result.energy_range_j["total"]
    total_cells = [f"[bold]{format_figure(total, total_span, ENERGY_STEPS, False)}[/bold]"]
    if estimated:
        total_cells.append(format_energy_range(*total_span) if total_span else "")
    table.add_row("[bold]total[/bold]", *total_cells, "", basis or "no figure")
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
    console.print(
        Text.assemble(
            (f"{format_figure(carbon.co2_g, result.co2_range_g, MASS_STEPS)} CO2e", "bold"),
            f"{pue} at {carbon.intensity_g_per_kwh:.4g} gCO2e/kWh {provenance}",
        )
    )
    net = result.energy_net_j
    if net is not None:
        parts = ", ".join(
            f"{kind} {format_energy(net[kind])}" for kind in COUNTED_KINDS if net[kind] is not None
        )
        console.print(
            f"above idle ({result.idle_baseline_s:.1f} s baseline before the command): "
            f"[bold]{format_energy(net['total'])}[/bold] ({parts})"
        )
    for line in per_unit_lines(result):
        console.print(Text(line))  # the command's words, not markup
    for item in result.leaves_out:
        console.print(Text(f"not included: {item}"))
    if result.phases is not None and result.phases.phases:
        _print_phases(console, result)
    if result.budget is not None:
        style = "bold red" if result.budget.exceeded else "green"
        console.print(f"[{style}]{result.budget.describe()}[/{style}]")
    if result.cross_check and "difference" in result.cross_check:
        _print_cross_check(console, result.cross_check)
    if result.job is not None:
        console.print(Text(job_line(result.job)))
    if advice:
        from greenmeter.reports.advice import advice_lines

        for line in advice_lines(result.findings):
            console.print(Text(line, style="cyan"))
    for warning in result.warnings:
        if warning in already_said:
            continue
        console.print(Text.assemble(("warning:", "yellow"), f" {warning}"))


def _print_phases(console, result: RunResult) -> None:
    from rich.table import Table
    from rich.text import Text

    from greenmeter.reports.phases import phase_table, phases_to_dict

    headers, rows = phase_table(phases_to_dict(result.phases))
    table = Table(title="phases", title_justify="left", show_edge=False, pad_edge=False)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # phase names are the command's words
    console.print(table)


def job_line(job: dict) -> str:
    """What this rank measured of its node (the report's ``job``), in one line."""
    where = f"job {job['job_id']} ({job['launcher']}), node {job['node']}"
    if job.get("rank") is not None:
        where += f", rank {job['rank']}"
        if job.get("world_size") is not None:
            where += f" of {job['world_size']}"
    devices = job.get("devices") or []
    held = [
        f"{d['device']} for {format_duration(d['measured_s'])}"
        for d in devices
        if d["measured_s"] > 0
    ]
    if not devices:
        return f"{where}: nothing shared to measure once (each rank's estimate is its own)"
    if held:
        return f"{where}: measured {', '.join(held)} (the node's shared devices, once per job)"
    return f"{where}: the node's shared devices were measured by run {job.get('measured_by')}"


def _print_cross_check(console, check: dict) -> None:
    """greenmeter and CodeCarbon side by side (``--cross-check codecarbon``)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(cross_check_title(check)),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for name in CROSS_CHECK_HEADERS:
        table.add_column(name, justify="right" if name else "left")
    for row in cross_check_rows(check):
        table.add_row(*row)
    console.print(table)


def _print_power_sparkline(console, result: RunResult) -> None:
    """Total power over the run as one line of blocks, scaled from 0 W to the peak."""
    from rich.text import Text

    width = max(10, min(60, console.width - 30))
    power = power_profile_w(result.timeline, [c.counted for c in result.components], width)
    if len(power) < 2:
        return
    peak = max(power)
    console.print(
        Text.assemble(
            "total power ",
            (sparkline(power, peak), "green"),
            f" 0\u2013{format_power(peak)} over {format_duration(result.duration_s)}",
        )
    )


def sparkline(values: list[float], top: float) -> str:
    """One block per value, its height the value's share of ``top`` (0 -> the lowest block)."""
    if not top > 0:
        return BLOCKS[0] * len(values)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[min(last, max(0, round(v / top * last)))] for v in values)


def power_profile_w(points: list[Point], counted: list[bool], width: int) -> list[float]:
    """Mean total power of the counted components over up to ``width`` equal spans of time."""
    return [total_power_w(step, counted) for step in intervals(downsample(points, width + 1))]


def repeat_stats_rows(stats: RepeatStats) -> list[list[str]]:
    """[metric, mean, median, std, "low - high"] with units, one unit per row."""
    labels = {
        "energy_j": ("energy", ENERGY_STEPS),
        "duration_s": ("duration", DURATION_STEPS),
        "co2_g": ("CO2e", MASS_STEPS),
        "energy_j_per_unit": (f"energy per {singular(stats.unit_name or 'unit')}", ENERGY_STEPS),
    }
    rows = []
    for name, summary in stats.metrics.items():
        label, steps = labels[name]
        fmt = series_formatter(steps, summary.mean)
        std = "-" if summary.std is None else fmt(summary.std)
        ci = "-" if summary.ci_low is None else f"{fmt(summary.ci_low)} - {fmt(summary.ci_high)}"
        rows.append([label, fmt(summary.mean), fmt(summary.median), std, ci])
    return rows


NOISY_SPREAD = 0.10
"""Repetitions whose energy has a coefficient of variation above this are noisy enough
that comparing variants run one after the other can mislead."""


def spread_advice(stats: RepeatStats) -> str | None:
    """Advice when the repetitions' energy spreads widely; None when it does not."""
    energy = stats.metrics.get("energy_j")
    if energy is None or energy.std is None or not energy.mean:
        return None
    spread = energy.std / energy.mean
    if spread <= NOISY_SPREAD:
        return None
    return (
        f"the repetitions' energy varies by {spread:.0%} (standard deviation / mean): to "
        f"compare variants on this machine, interleave them (A, B, A, B, ...; e.g. a "
        f"shell loop of --repeat 1 runs) so that drift and neighbours' load hit both alike"
    )


REPEAT_STATS_HEADERS = ("metric", "mean", "median", "std dev", "95 % CI of the mean")
"""The columns of :func:`repeat_stats_rows`."""


def print_repeat_stats(stats: RepeatStats, file=None, basis: str | None = None) -> None:
    """The statistics of ``run --repeat N`` as a table on stderr; ``basis``: what the
    figures are (:func:`headline_basis`), said in the title unless measured."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    warmups = f" after {stats.warmup} warm-up(s)" if stats.warmup else ""
    said = f" ({basis})" if basis and basis != MEASURED else ""
    table = Table(
        title=f"greenmeter: {stats.n} repetitions{warmups}{said}",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for name in REPEAT_STATS_HEADERS:
        table.add_column(name, justify="left" if name == "metric" else "right")
    for row in repeat_stats_rows(stats):
        table.add_row(*(Text(cell) for cell in row))  # a unit name is not markup
    console = Console(file=file or sys.stderr, highlight=False)
    console.print(table)
    advice = spread_advice(stats)
    if advice:
        console.print(Text.assemble(("note:", "yellow"), f" {advice}"))
