"""One self-contained HTML page for one or several runs: nothing is fetched, ever.

Charts are inline SVG (``greenmeter.reports.html.charts``); a few lines of inline script
add hover read-outs, and every chart has a table beside it (the figures without script,
colour or sight). Everything here is a pure function of report dicts (the JSON reports'
shape) and their timeline points: :func:`render_html` for reports read back
(``greenmeter.history.html_pages``), :func:`run_page` for the run ``greenmeter run --html``
just finished.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

from greenmeter import __version__
from greenmeter.quantities import (
    DURATION_STEPS,
    ENERGY_STEPS,
    J_PER_KWH,
    MASS_STEPS,
    figures_formatter,
    format_duration,
    format_energy,
    format_figure,
    format_mass,
    format_power,
    unit_for,
)
from greenmeter.reports.command_labels import command_text, label_commands, one_line
from greenmeter.reports.figures import headline_basis
from greenmeter.reports.html import run_details
from greenmeter.reports.html.activity import activity_section, activity_table, findings_section
from greenmeter.reports.html.charts import (
    KIND_COLOURS,
    component_label,
    hbar_chart,
    html_text,
    power_chart,
    power_series,
    series_power,
)
from greenmeter.reports.html.statistics import GroupComparison, groups_section, repeat_section
from greenmeter.reports.html.tables import html_table
from greenmeter.reports.json_report import result_to_dict
from greenmeter.reports.timeline import downsample, intervals, total_power_w
from greenmeter.results import COUNTED_KINDS, Point, RepeatStats, RunResult, singular

TABLE_ROWS = 48
"""Rows of the power table under each chart (means over equal spans)."""
MAX_RUN_SECTIONS = 20
"""Runs drawn in detail (the newest); all of them are in the comparison. Keeps a page of a
whole history directory a few MB at most."""


@dataclass
class RunView:
    """A report as the page needs it: the JSON fields and the timeline points."""

    report: dict
    points: list[Point] = field(default_factory=list)
    timeline_note: str | None = None
    """Why there is no timeline, when there is none."""
    source: str | None = None
    activity: list[Point] = field(default_factory=list)
    """The gauges' running integrals at the times of ``points`` (``activity_channels``)."""


def _view(result: RunResult) -> RunView:
    return RunView(report=result_to_dict(result), points=result.timeline, activity=result.activity)


def run_page(result: RunResult) -> str:
    """The page for a run still in memory; the same as ``greenmeter html`` of its report."""
    return render_html([_view(result)])


def repeat_page(results: list[RunResult], stats: RepeatStats) -> str:
    """One page for the repetitions of ``run --repeat N``: their statistics (the table the
    terminal shows), their comparison, and each repetition in detail."""
    return render_html([_view(r) for r in results], repeat=stats, basis=headline_basis(results[-1]))


# ---------------------------------------------------------------- page sections


def _command_text(report: dict, limit: int | None = None) -> str:
    """The argv as a shell would take it; with ``limit``, on one line and shortened."""
    text = command_text(report.get("command") or [])
    if limit is None:
        return text
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _power_table(report: dict, points: list[Point], unit_s: float, unit: str) -> str:
    series = power_series(report)
    steps = intervals(downsample(points, TABLE_ROWS + 1))
    rows = []
    for s in steps:
        per = series_power(s.power_w, series)
        rows.append(
            [
                f"{s.start_s / unit_s:.3g}\u2013{s.end_s / unit_s:.3g}",
                *(f"{v:.3g}" for v in per),
                f"{sum(per):.3g}",
            ]
        )
    return (
        "<details><summary>Power over time as a table</summary>"
        + html_table(
            f"Mean power (W) per span of time ({unit} since start)",
            [f"time ({unit})", *(f"{s.label} (W)" for s in series), "total (W)"],
            rows,
        )
        + "</details>"
    )


def _facts(report: dict, points: list[Point]) -> str:
    energy = report.get("energy_j") or {}
    carbon = report.get("carbon") or {}
    duration = report.get("duration_s")
    total = energy.get("total")
    spans = report.get("energy_range_j") or {}
    co2_span = report.get("co2_range_g")
    facts = [
        ("Energy", format_figure(total, run_details.span_of(spans.get("total")), ENERGY_STEPS)),
        (
            "CO\u2082e",
            format_figure(carbon.get("co2_g"), run_details.span_of(co2_span), MASS_STEPS),
        ),
        ("Duration", format_duration(duration)),
        ("Mean power", format_power(total / duration) if total and duration else "-"),
    ]
    basis = (report.get("energy_basis") or {}).get("total")
    notes = {"Energy": BASIS_NOTES[basis]} if basis in BASIS_NOTES else {}
    steps = intervals(points)
    if steps:
        counted = [c.get("counted", True) for c in report.get("components") or []]
        peak = max(total_power_w(s, counted) for s in steps)
        facts.append(("Peak power", format_power(peak)))
        # The timeline holds means over its intervals; a shorter burst is not seen.
        typical = statistics.median(s.end_s - s.start_s for s in steps)
        notes["Peak power"] = f"highest {format_duration(typical)} mean"
    facts.append(("Exit code", run_details.status_text(report)))
    fail = ' class="fail"' if run_details.failed(report) else ""
    return (
        '<dl class="facts">'
        + "".join(
            f"<div{fail if k == 'Exit code' else ''}><dt>{html_text(k)}</dt><dd>{html_text(v)}</dd>"
            + (f"<dd class=note>{html_text(notes[k])}</dd>" if k in notes else "")
            + "</div>"
            for k, v in facts
        )
        + "</dl>"
    )


BASIS_NOTES = {
    "measured": "measured",
    "estimated": "estimated, not measured",
    "mixed": "partly estimated",
}


def _how(comp: dict) -> str:
    """Method and source, with what the backend said about the device (estimate model,
    GPU utilisation, memory, sharing)."""
    how = f"{comp.get('method', '?')}, {comp.get('source', '?')}"
    details = comp.get("details") if isinstance(comp.get("details"), dict) else {}
    if details.get("model"):
        how += f" ({details['model']})"
    if details.get("mean_utilization_pct") is not None:
        how += f"; mean utilisation {details['mean_utilization_pct']:g} %"
    if details.get("peak_memory_used_mib") is not None:
        how += f", peak memory {details['peak_memory_used_mib']:g} MiB"
    if details.get("shared_gpu"):
        how += "; shared with other processes (the figure is the whole device's)"
    if comp.get("partial"):
        how += f"; partial, covers {comp.get('covered_s') or 0:.1f} s"
    return how


def _energy_section(uid: str, report: dict) -> str:
    comps = report.get("components") or []
    total = (report.get("energy_j") or {}).get("total")
    colours = {i: s.colour for s in power_series(report) for i in s.columns}
    rows, bars, texts = [], [], []
    for i, c in enumerate(comps):
        label = component_label(c)
        counted = c.get("counted", True)
        energy = c.get("energy_j")
        share = f"{energy / total * 100:.1f} %" if counted and energy is not None and total else ""
        power = c.get("mean_power_w")
        rows.append(
            [
                html_text(label + ("" if counted else " (detail, not added)")),
                html_text(
                    format_figure(
                        energy, run_details.span_of(c.get("energy_range_j")), ENERGY_STEPS
                    )
                ),
                html_text("-" if power is None else format_power(power)),
                share,
                html_text(_how(c)),
            ]
        )
        bars.append(
            (
                label if counted else f"{label} (not added)",
                [(energy or 0.0, colours.get(i, "#8c8c8c"), label)],
            )
        )
        texts.append(format_energy(energy))
    top = max((v for _, segs in bars for v, _, _ in segs), default=0.0)
    chart = (
        hbar_chart(uid, "Energy per component", bars, unit_for(top, ENERGY_STEPS), "Energy", texts)
        if bars
        else ""
    )
    table = html_table(
        "The same as a table, with how each figure was obtained",
        ["component", "energy", "mean power", "share", "how it was obtained"],
        rows,
        text_cols=(4,),
    )
    left_out = "".join(
        f"<p class=note>Not included: {html_text(item)}</p>"
        for item in report.get("leaves_out") or []
    )
    return f"<h3>Energy per component</h3><figure>{chart}</figure>{table}{left_out}"


def _approx(report: dict) -> str:
    """``≈`` before a figure of a report whose energy is (partly) estimated."""
    basis = (report.get("energy_basis") or {}).get("total")
    return "≈" if basis in ("estimated", "mixed") else ""


def _spans(report: dict) -> dict[str, tuple[float, float] | None]:
    """The report's ``energy_range_j`` per kind as spans (empty for an older report)."""
    ranges = report.get("energy_range_j")
    return (
        {k: run_details.span_of(v) for k, v in ranges.items()} if isinstance(ranges, dict) else {}
    )


def _carbon_section(report: dict) -> str:
    c = report.get("carbon") or {}
    if not c:
        return "<h3>Carbon</h3><p>No carbon figures in this report.</p>"
    region = c.get("region") or "no region set"
    zone = c.get("zone_name") or c.get("zone_id") or "?"
    pue = c.get("pue", 1.0)
    co2 = c.get("co2_g")
    kwh = c.get("energy_kwh") or 0.0
    co2_text = format_figure(co2, run_details.span_of(report.get("co2_range_g")), MASS_STEPS)
    energy_text = format_figure(
        kwh * J_PER_KWH, _spans(report).get("total"), ENERGY_STEPS, with_range=False
    )
    line = (
        f"<strong>{html_text(co2_text)} CO\u2082e</strong> = "
        f"{html_text(energy_text)} ({kwh:.3g} kWh) &times; PUE {pue:g} &times; "
        f"{c.get('intensity_g_per_kwh', 0):g} gCO\u2082e/kWh"
    )
    source = (
        f"Grid intensity: {html_text(zone)} ({html_text(region)}), source {html_text(c.get('intensity_source'))} "
        f"{html_text(c.get('intensity_year'))}, {html_text(c.get('basis'))} basis."
    )
    fallback = (
        '<p class="warn">No region was configured: this uses the world average. Set '
        "<code>--region</code> for a figure that means something.</p>"
        if c.get("region_fallback")
        else ""
    )
    return f"<h3>Carbon</h3><p>{line}</p><p>{source}</p>{fallback}"


def _metadata_section(report: dict, source: str | None) -> str:
    host = report.get("host") or {}
    items = [
        ("Command", f'<code class="argv">{html_text(_command_text(report))}</code>'),
        ("Run id", html_text(report.get("run_id"))),
        ("Started", html_text(report.get("started_at"))),
        ("Ended", html_text(report.get("ended_at"))),
        ("Duration", html_text(format_duration(report.get("duration_s")))),
        ("Exit code", run_details.status_cell(report)),
        ("Interrupted", "yes" if report.get("interrupted") else "no"),
        ("Host", html_text(host.get("hostname"))),
        ("OS", html_text(host.get("os"))),
        ("CPU", html_text(host.get("cpu_model"))),
        ("GPUs", html_text(", ".join(host.get("gpu_models") or []) or "none seen")),
    ]
    for name, value in (host.get("scheduler") or {}).items():
        items.append((name, html_text(value)))
    items.append(("greenmeter", html_text(report.get("greenmeter_version"))))
    if source:
        items.append(("Report file", f"<code>{html_text(source)}</code>"))
    return (
        '<h3>Run</h3><dl class="meta">'
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
        + "</dl>"
    )


def _run_section(n: int, count: int, run: RunView, hover: dict) -> str:
    report = run.report
    uid = f"run{n}"
    heading = f"Run {n} of {count}" if count > 1 else "Run"
    partial = (
        '<p class="warn">Partial report: a checkpoint written while the command still ran '
        "(or greenmeter was killed).</p>"
        if report.get("partial")
        else ""
    )
    out = [
        f'<section class="run" id="{uid}" aria-labelledby="{uid}-h">'
        f'<h2 id="{uid}-h">{heading}: <code>{html_text(_command_text(report, 80))}</code></h2>',
        partial,
        _facts(report, run.points),
        run_details.warnings_section(report),
        f"<p>Tags: {run_details.tags_cell(report.get('tags'))}</p>" if report.get("tags") else "",
        "<h3>Power over time</h3>",
    ]
    svg, data = power_chart(f"{uid}-power", report, run.points)
    if svg and data:
        hover[f"{uid}-power-data"] = data
        legend = "".join(
            f'<li><span class="swatch" style="background:{s.colour}"></span>{html_text(s.label)}: '
            f"{html_text(format_energy(s.energy_j))}</li>"
            for s in power_series(report)
        )
        unit_s, unit = unit_for(max(run.points[-1][0] - run.points[0][0], 1e-9), DURATION_STEPS)
        out.append(
            f'<figure class="power">{svg}<div class="tip" hidden></div>'
            f'<figcaption><ul class="legend">{legend}</ul>Counted components, stacked: the top '
            "edge is the total. Each step is the mean power over its span, so the area is "
            "the energy.</figcaption></figure>"
        )
        out.append(_power_table(report, run.points, unit_s, unit))
        gauges = activity_section(uid, report, run.activity)
        if gauges:
            caption, head, rows = activity_table(report, run.activity)
            out += [
                gauges,
                "<details><summary>Activity over time as a table</summary>"
                + html_table(caption, head, rows)
                + "</details>",
            ]
    else:
        out.append(f"<p>{html_text(run.timeline_note or 'No timeline points to draw.')}</p>")
    out += [
        _phases_section(report),
        findings_section(report),
        _energy_section(f"{uid}-energy", report),
        run_details.gpu_section(report),
        run_details.work_section(report),
        _carbon_section(report),
        run_details.cross_check_section(report),
        _metadata_section(report, run.source),
        "</section>",
    ]
    return "".join(out)


def _phases_section(report: dict) -> str:
    """The phases the command marked (shaded on the power chart), as a table."""
    phases = report.get("phases")
    if not phases or not phases.get("list"):
        return ""
    from greenmeter.reports.phases import phase_table

    head, rows = phase_table(phases)
    table = html_table(
        f"{phases['marks']:,} marks; top-level phases are shaded on the power chart",
        head,
        [[html_text(cell) for cell in row] for row in rows],
        text_cols=(0,),
    )
    return f"<h3>Phases</h3>{table}"


def _per_unit(report: dict) -> tuple[float, str] | None:
    """J per unit of work, where the report carries it (``greenmeter run --units``)."""
    value = report.get("energy_j_per_unit")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return float(value), str(report.get("unit_name") or "unit")


def _first_detailed(count: int) -> int:
    """The number of the oldest run drawn in detail."""
    return max(1, count - MAX_RUN_SECTIONS + 1)


def _region(report: dict) -> str:
    carbon = report.get("carbon") or {}
    return str(carbon.get("region") or carbon.get("zone_id") or "world")


def _comparison_section(runs: list[RunView]) -> str:
    kinds = [
        k
        for k in COUNTED_KINDS
        if any((r.report.get("energy_j") or {}).get(k) is not None for r in runs)
    ]
    reports = [r.report for r in runs]
    commands = label_commands([r.get("command") for r in reports], limit=60)
    same = len(set(commands.labels)) == 1  # nothing differs: the table needs less of it
    if same:
        commands = label_commands([r.get("command") for r in reports], limit=32)
    short = label_commands([r.get("command") for r in reports], limit=24).labels
    labels = [
        f"#{n} " + ("\u2717 " if run_details.failed(r) else "") + text
        for n, (r, text) in enumerate(zip(reports, short), start=1)
    ]
    energies = [(r.report.get("energy_j") or {}) for r in runs]
    co2 = [(r.report.get("carbon") or {}).get("co2_g") for r in runs]
    durations = [r.report.get("duration_s") for r in runs]
    per_unit = [_per_unit(r.report) for r in runs]
    base = energies[0].get("total")
    regions = [_region(r) for r in reports]
    one_region = regions[0] if len(set(regions)) == 1 else None  # said once, in the caption
    rows = []
    first_detailed = _first_detailed(len(runs))
    # One unit, and the digits that tell the runs apart (estimates marked ≈, as everywhere).
    per_unit_cell = figures_formatter([pu[0] for pu in per_unit if pu], ENERGY_STEPS)
    for n, (r, e, g, d, pu) in enumerate(zip(runs, energies, co2, durations, per_unit), start=1):
        total = e.get("total")
        delta = (
            f"{(total - base) / base * 100:+.1f} %" if n > 1 and total is not None and base else ""
        )
        started = str(r.report.get("started_at") or "")[:16].replace("T", " ")
        rows.append(
            [
                (f'<a href="#run{n}">#{n}</a>' if n >= first_detailed else f"#{n}")
                + f'<br><small class="nowrap">{html_text(started)}</small>',
                f'<code class="nowrap" title="{html_text(_command_text(r.report))}">'
                f"{html_text(commands.labels[n - 1])}</code>"
                + (
                    f"<br>{run_details.tags_cell(r.report.get('tags'))}"
                    if r.report.get("tags")
                    else ""
                ),
                run_details.status_cell(r.report),
                html_text(format_duration(d)),
                *(
                    html_text(format_figure(e.get(k), spans.get(k), ENERGY_STEPS, False))
                    for k, spans in ((k, _spans(r.report)) for k in ("total", *kinds))
                ),
                html_text(
                    format_figure(
                        g, run_details.span_of(r.report.get("co2_range_g")), MASS_STEPS, False
                    )
                ),
                *([] if one_region else [html_text(regions[n - 1])]),
                html_text(
                    f"{_approx(r.report)}{per_unit_cell(pu[0])} per {singular(pu[1])}"
                    if pu
                    else "-"
                ),
                delta,
            ]
        )
    head = [
        "run",
        "command and tags",
        "exit",
        "duration",
        "energy",
        *kinds,
        "CO\u2082e",
        *([] if one_region else ["region"]),
        "per unit",
        "vs #1",
    ]
    elided = [
        f"{where} \u2026 stands for the words every command {verb} with: {text}"
        for where, verb, text in (
            ("a leading", "starts", commands.prefix),
            ("a trailing", "ends", commands.suffix),
        )
        if text
    ]
    table = html_table(
        "Runs compared, oldest first: start time (UTC), what differs between the commands "
        "(hover for the whole command) and the tags, exit status (\u2717: failed), energy in total "
        "and per kind, energy per unit of work, change in energy relative to run #1"
        + ("; every run ran the same command" if same else "")
        + (f"; all in region {one_region}" if one_region else "")
        + "".join(f"; {e}" for e in elided),
        head,
        rows,
        text_cols=(1, 2, *([] if one_region else [len(head) - 3])),
        row_classes=["failed" if run_details.failed(r) else "" for r in reports],
    )
    totals = [e.get("total") or 0.0 for e in energies]
    charts = [
        hbar_chart(
            "cmp-energy",
            "Energy per run, stacked by kind",
            [
                (label, [(e.get(k) or 0.0, KIND_COLOURS[k], k) for k in kinds])
                for label, e in zip(labels, energies)
            ],
            unit_for(max(totals), ENERGY_STEPS),
            "Energy",
            [format_energy(e.get("total")) for e in energies],
        )
    ]
    charts.append(
        hbar_chart(
            "cmp-co2",
            "CO2e per run",
            [(label, [(g or 0.0, "#555555", "CO2e")]) for label, g in zip(labels, co2)],
            unit_for(max(g or 0.0 for g in co2), MASS_STEPS),
            "CO\u2082e",
            [format_mass(g) for g in co2],
        )
    )
    span = max(d or 0.0 for d in durations)
    charts.append(
        hbar_chart(
            "cmp-duration",
            "Duration per run",
            [(label, [(d or 0.0, "#56B4E9", "duration")]) for label, d in zip(labels, durations)],
            unit_for(span, DURATION_STEPS),
            "Duration",
            [format_duration(d) for d in durations],
        )
    )
    if any(per_unit):
        # Enough digits to tell the runs apart, in one unit: 0.419 vs 0.197 mJ per sample.
        per_unit_text = figures_formatter([pu[0] for pu in per_unit if pu], ENERGY_STEPS)
        charts.append(
            hbar_chart(
                "cmp-per-unit",
                "Energy per unit of work",
                [
                    (label, [(pu[0] if pu else 0.0, "#CC79A7", "J per unit")])
                    for label, pu in zip(labels, per_unit)
                ],
                unit_for(max(pu[0] for pu in per_unit if pu), ENERGY_STEPS),
                "Energy per unit",
                [f"{per_unit_text(pu[0])} per {singular(pu[1])}" if pu else "-" for pu in per_unit],
            )
        )
    legend = "".join(
        f'<li><span class="swatch" style="background:{KIND_COLOURS[k]}"></span>{k}</li>'
        for k in kinds
    )
    return (
        '<section id="comparison" aria-labelledby="comparison-h">'
        f'<h2 id="comparison-h">{len(runs)} runs compared</h2><div class="wide">{table}</div>'
        f'<figure>{charts[0]}<figcaption><ul class="legend">{legend}</ul></figcaption></figure>'
        + "".join(f"<figure>{c}</figure>" for c in charts[1:])
        + "</section>"
    )


STYLE = """
:root{--fg:#1b1b1b;--muted:#595959;--line:#d0d0d0;--bg:#fff;--panel:#f5f6f7}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1040px;padding:20px 24px 40px;font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:24px;margin:0 0 2px}h2{font-size:20px;margin:28px 0 8px;border-top:2px solid var(--line);
padding-top:14px;overflow-wrap:anywhere}h3{font-size:16px;margin:20px 0 6px}h4{margin:12px 0 4px}
header p{color:var(--muted);margin:0}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--panel);padding:1px 4px;
border-radius:3px}
code.argv{white-space:pre-wrap}
dl.facts{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
dl.facts div{background:var(--panel);border-radius:6px;padding:8px 14px;min-width:120px}
dl.facts dt{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
dl.facts dd{margin:0;font-size:20px;font-weight:600}
dl.facts dd.note{font-size:12px;font-weight:400;color:var(--muted)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}
figure{margin:6px 0 10px;position:relative}
svg{width:100%;height:auto;display:block;font:12px system-ui,sans-serif}
svg text{fill:var(--fg)}svg .label{font-weight:600}
svg .grid line{stroke:#e6e6e6}svg .band0{fill:#f1f1f6}svg .band1{fill:#e8eef4}svg .axis line{stroke:#333}
svg .cursor{stroke:#000;stroke-dasharray:3 3}
figcaption{color:var(--muted);font-size:13px}
ul.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 18px;
color:var(--fg);font-size:14px}
.swatch{display:inline-block;width:14px;height:14px;border-radius:2px;margin-right:6px;
vertical-align:-2px;outline:1px solid rgba(0,0,0,.25)}
.tip{position:absolute;pointer-events:none;background:rgba(255,255,255,.95);border:1px solid #999;
border-radius:4px;padding:4px 8px;font-size:12px;white-space:pre;top:8px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px;width:100%}
.wide{overflow-x:auto}.wide table{font-size:13px}.nowrap{white-space:nowrap}
caption{text-align:left;color:var(--muted);font-size:13px;padding-bottom:4px}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
thead th{border-bottom:2px solid #999}
details{margin:4px 0 10px}summary{cursor:pointer;color:#0b5394}
a{color:#0b5394}.warn{background:#fff4e5;border-left:4px solid #D55E00;padding:6px 10px}
.warn ul{margin:4px 0;padding-left:20px}
.fail{color:#a51d00;font-weight:600;white-space:nowrap}tr.failed{background:#fdeceb}dl.facts div.fail{background:#fdeceb}
#significance th{white-space:nowrap}
.tag{display:inline-block;background:#e8eef6;border-radius:3px;padding:0 5px;margin:1px 2px 1px 0;
font-size:12px;white-space:nowrap}
footer{margin-top:30px;color:var(--muted);font-size:13px}
"""

SCRIPT = """
(function(){
var data=JSON.parse(document.getElementById("hover-data").textContent);
document.querySelectorAll("svg.power-chart").forEach(function(svg){
  var d=data[svg.getAttribute("data-hover")];if(!d)return;
  var fig=svg.parentNode,tip=fig.querySelector(".tip"),cur=svg.querySelector(".cursor");
  svg.setAttribute("data-hover-ready","");
  function hide(){tip.hidden=true;cur.setAttribute("visibility","hidden");}
  svg.addEventListener("pointermove",function(ev){
    var pt=svg.createSVGPoint();pt.x=ev.clientX;pt.y=ev.clientY;
    var x=pt.matrixTransform(svg.getScreenCTM().inverse()).x,lo=0,hi=d.p.length-1;
    if(x<d.x[0]||x>d.x[d.x.length-1]){hide();return;}
    while(lo<hi){var mid=(lo+hi+1)>>1;if(d.x[mid]<=x)lo=mid;else hi=mid-1;}
    var p=d.p[lo],sum=0,lines=[d.t[lo]+"\\u2013"+d.t[lo+1]+" "+d.unit];
    for(var i=p.length-1;i>=0;i--){lines.push(d.names[i]+": "+p[i]+" W");sum+=p[i];}
    lines.push("total: "+sum.toPrecision(3)+" W");tip.textContent=lines.join("\\n");
    cur.setAttribute("x1",x);cur.setAttribute("x2",x);cur.setAttribute("visibility","visible");
    tip.hidden=false;var w=fig.clientWidth,px=x/svg.viewBox.baseVal.width*w;
    tip.style.left=(px>w/2?px-tip.offsetWidth-12:px+12)+"px";
  });
  svg.addEventListener("pointerleave",hide);
});
})();
"""


def table_section(uid: str, heading: str, head: list[str], rows: list[list[str]]) -> str:
    """A section of its own with one table of text cells (``report --rate``'s rating)."""
    cells = [[html_text(c) for c in row] for row in rows]
    return (
        f'<section id="{uid}" aria-labelledby="{uid}-h"><h2 id="{uid}-h">'
        f"{html_text(heading)}</h2>"
        + html_table(heading, head, cells, text_cols=tuple(range(1, len(head))))
        + "</section>"
    )


def render_html(
    runs: list[RunView],
    groups: GroupComparison | None = None,
    repeat: RepeatStats | None = None,
    basis: str | None = None,
    before: str = "",
) -> str:
    """The whole page: a comparison when there are several runs (with ``groups``, the
    significance test between groups; with ``repeat``, a repeat group's statistics first),
    then each run; ``before``: a section first (e.g. a rating)."""
    hover: dict[str, dict] = {}
    if len(runs) == 1:
        report = runs[0].report
        total = (report.get("energy_j") or {}).get("total")
        co2 = (report.get("carbon") or {}).get("co2_g")
        title = (
            f"greenmeter: {_command_text(report, 60)} \u2014 {format_energy(total)}, "
            f"{format_mass(co2)} CO\u2082e"
        )
        intro = f"One run, started {report.get('started_at')}."
    elif repeat is not None:
        title = f"greenmeter: {repeat.n} repetitions of {_command_text(runs[0].report, 60)}"
        intro = f"{repeat.n} repetitions, started {runs[0].report.get('started_at')}."
    else:
        title = f"greenmeter: {len(runs)} runs compared"
        intro = (
            f"{len(runs)} runs, from {runs[0].report.get('started_at')} "
            f"to {runs[-1].report.get('started_at')}."
        )
    body = [before] if before else []
    body += [repeat_section(repeat, basis)] if repeat is not None else []
    body += [_comparison_section(runs)] if len(runs) > 1 else []
    body += [groups_section(groups)] if groups is not None else []
    first_detailed = _first_detailed(len(runs))
    if first_detailed > 1:
        intro += (
            f" Runs #{first_detailed} to #{len(runs)} are shown in detail; "
            "the comparison has them all."
        )
    body += [
        _run_section(n, len(runs), run, hover)
        for n, run in enumerate(runs, start=1)
        if n >= first_detailed
    ]
    data = json.dumps(hover, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html_text(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>Energy and carbon report</h1><p>{html_text(intro)}</p></header><main>"
        + "".join(body)
        + f"</main><footer>Written by greenmeter {html_text(__version__)}. This page is self-contained: "
        "it loads nothing from the network.</footer>"
        f'<script type="application/json" id="hover-data">{data}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
