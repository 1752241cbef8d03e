"""The run page's sections about activity: utilisation and memory per GPU and the
command's busy CPU cores over time (under the power chart), and the findings.

Pure functions of a report dict and its timeline's gauge points (running integrals,
``greenmeter.reports.timeline``): a span's mean is a difference over its length.
"""

from __future__ import annotations

from greenmeter.quantities import DURATION_STEPS, unit_for
from greenmeter.reports.advice import at_stake
from greenmeter.reports.html.charts import (
    CHART_POINTS,
    PALETTE,
    component_label,
    html_text,
    power_series,
    step_line_chart,
)
from greenmeter.reports.timeline import downsample, intervals
from greenmeter.results import Point

TABLE_ROWS = 48

CHARTS = (
    ("gpu_util_pct", "GPU utilisation", "Utilisation (%)"),
    ("gpu_memory_used_mib", "GPU memory used", "Memory used (MiB)"),
    ("cpu_busy_cores", "CPU cores kept busy by the command's processes", "Busy cores"),
)
TABLE_COLUMNS = (
    ("gpu_util_pct", "utilisation (%)", 1.0),
    ("gpu_memory_used_mib", "memory (MiB)", 1.0),
    ("gpu_power_capped", "at power limit (%)", 100.0),
    ("gpu_thermal", "thermal (%)", 100.0),
    ("cpu_busy_cores", "busy cores", 1.0),
    ("rss_mib", "resident memory (MiB)", 1.0),
)
"""(quantity, column heading, factor: 100 turns a 0-1 share into per cent)."""


def _channels(report: dict) -> list[tuple[str, str, str]]:
    """(quantity, whose: ``gpu NAME #0`` or ``process tree``, colour) per gauge, in report
    order; a GPU in its colour of the power chart, the process tree in one that chart
    does not use."""
    comps = report.get("components") or []
    colours = {i: s.colour for s in power_series(report) for i in s.columns}
    tree_colour = next((c for c in PALETTE if c not in colours.values()), PALETTE[-1])
    out = []
    for channel in report.get("activity_channels") or []:
        index = channel.get("component")
        if isinstance(index, int) and 0 <= index < len(comps):
            whose, colour = component_label(comps[index]), colours.get(index, PALETTE[-1])
        else:
            whose, colour = "process tree", tree_colour
        out.append((str(channel.get("quantity")), whose, colour))
    return out


def activity_section(uid: str, report: dict, activity: list[Point]) -> str:
    channels = _channels(report)
    if not channels or len(activity) < 2:
        return ""
    steps = intervals(downsample(activity, CHART_POINTS))
    times = [s.start_s for s in steps] + [steps[-1].end_s]
    figures = []
    for quantity, title, axis in CHARTS:
        picked = [(i, whose, c) for i, (q, whose, c) in enumerate(channels) if q == quantity]
        if not picked or all(steps[0].power_w[i] is None for i, _, _ in picked):
            continue
        series = [(whose, colour, [s.power_w[i] for s in steps]) for i, whose, colour in picked]
        top = 100.0 if quantity == "gpu_util_pct" else None
        legend = "".join(
            f'<li><span class="swatch" style="background:{colour}"></span>{html_text(label)}</li>'
            for label, colour, _ in series
        )
        chart = step_line_chart(f"{uid}-{quantity}", title, times, series, axis, top)
        figures.append(
            f'<figure class="gauge">{chart}<figcaption><ul class="legend">{legend}</ul>'
            f"{html_text(title)}: the mean over each span of the timeline.</figcaption></figure>"
        )
    if not figures:
        return ""
    return "<h3>Activity over time</h3>" + "".join(figures)


def activity_table(report: dict, activity: list[Point]) -> tuple[str, list[str], list[list[str]]]:
    """(caption, headings, rows) of the gauges' means per span, for the page's table."""
    channels = _channels(report)
    steps = intervals(downsample(activity, TABLE_ROWS + 1))
    unit_s, unit = unit_for(max(activity[-1][0] - activity[0][0], 1e-9), DURATION_STEPS)
    columns = [
        (i, f"{whose} {heading}", factor)
        for quantity, heading, factor in TABLE_COLUMNS
        for i, (q, whose, _) in enumerate(channels)
        if q == quantity
    ]
    rows = []
    for s in steps:
        cells = [
            "-" if s.power_w[i] is None else f"{s.power_w[i] * factor:.3g}"
            for i, _, factor in columns
        ]
        rows.append([f"{s.start_s / unit_s:.3g}\u2013{s.end_s / unit_s:.3g}", *cells])
    return (
        f"Mean per span of time ({unit} since start)",
        [f"time ({unit})", *(name for _, name, _ in columns)],
        rows,
    )


def findings_section(report: dict) -> str:
    """Each finding: its id, what was seen, the energy at stake, the evidence, what to try."""
    findings = report.get("findings") or []
    if not findings:
        return ""
    from greenmeter.results import Finding

    items = []
    for f in findings:
        try:
            finding = Finding(**f)
        except TypeError:
            continue  # a report from a later version with more fields: skip, never fail
        evidence = ", ".join(f"{k} = {v}" for k, v in finding.evidence.items())
        items.append(
            f'<li class="finding" data-finding="{html_text(finding.id)}">'
            f"<strong>{html_text(finding.id)}</strong> <small>({html_text(finding.label)})</small>: "
            f"{html_text(finding.summary)}. <em>{html_text(at_stake(finding))}.</em>"
            f"<br>Try: {html_text(finding.what_to_try)}"
            f"<br><small>Evidence: {html_text(evidence)}</small></li>"
        )
    return (
        '<h3>Where energy went to waste</h3><p class="note">Heuristics from the timeline '
        "(see docs/advice.md): each says what it saw and what to try; none is a measurement.</p>"
        f'<ul class="findings">{"".join(items)}</ul>'
    )
