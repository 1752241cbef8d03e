"""One self-contained HTML file for one or several runs: nothing is fetched, ever.

Charts are inline SVG drawn here; a few lines of inline script add hover read-outs, and
every chart has a table beside it (the figures without script, colour or sight). Colours
are the Okabe-Ito palette, told apart by people with the common colour-vision deficiencies.

Entry points: :func:`write_html_report` (report files or directories -> file, used by
``greenmeter html`` and ``greenmeter report --html``) and :func:`write_run_html` (the run
``greenmeter run --html`` just finished).
"""

from __future__ import annotations

import json
import math
import shlex
import statistics
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from greenmeter import __version__
from greenmeter.atomic_write import write_text_atomic
from greenmeter.summary import format_co2, format_energy, format_power
from greenmeter.timeline import (
    MAX_STORED_POINTS, Point, TimelineUnreadable, downsample, intervals, read_timeline,
    total_power,
)

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
"""Okabe-Ito, black left out; yellow last (weakest on white)."""
KIND_COLOURS = {"cpu": "#0072B2", "gpu": "#E69F00", "dram": "#009E73"}
CHART_POINTS = 601
"""Steps drawn per power chart (600): about 1.5 px each at full width."""
TABLE_ROWS = 48
"""Rows of the power table under each chart (means over equal spans)."""
MAX_RUN_SECTIONS = 20
"""Runs drawn in detail (the newest); all of them are in the comparison. Keeps a page of a
whole history directory a few MB at most."""
CHART_W, CHART_H = 960, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 16, 14, 46


class ReportsNotReadable(ValueError):
    """Nothing to draw: a named file is not a greenmeter report, or no report was found."""


@dataclass
class RunView:
    """A report as the page needs it: the JSON fields and the timeline points."""

    report: dict
    points: list[Point] = field(default_factory=list)
    timeline_note: str | None = None
    """Why there is no timeline, when there is none."""
    source: str | None = None


@dataclass
class Series:
    label: str
    colour: str
    columns: list[int]
    """Indices into the report's ``components`` whose power is summed into this series."""
    energy_j: float | None


# ---------------------------------------------------------------- loading

def _is_report(data) -> bool:
    return isinstance(data, dict) and "run_id" in data and isinstance(data.get("components"), list)


def load_run(path: Path) -> RunView:
    """A JSON report and the timeline CSV it names (relative to the report)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportsNotReadable(f"{path}: not readable as JSON: {exc}") from None
    if not _is_report(data):
        raise ReportsNotReadable(f"{path}: not a greenmeter report (no run_id/components)")
    run = RunView(report=data, source=str(path))
    ref = data.get("timeline")
    if not isinstance(ref, dict) or not ref.get("file"):
        run.timeline_note = "This report has no timeline."
        return run
    csv_path = path.parent / str(ref["file"])
    try:
        columns, points = read_timeline(csv_path)
    except (OSError, UnicodeDecodeError, TimelineUnreadable) as exc:
        run.timeline_note = f"The timeline {csv_path.name} could not be read: {exc}"
        return run
    if len(columns) != len(data["components"]) + 1:
        run.timeline_note = (f"The timeline {csv_path.name} has {len(columns) - 1} components, "
                             f"the report {len(data['components'])}.")
        return run
    run.points = points
    return run


def collect_runs(paths: list[Path]) -> tuple[list[RunView], list[str]]:
    """Reports named or found (``*.json``) in directories, oldest first, and a note for
    every JSON file in a directory that was skipped. A named file that is not a report,
    or nothing found at all, raises :class:`ReportsNotReadable`."""
    runs, skipped = [], []
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.glob("*.json")):
                try:
                    runs.append(load_run(candidate))
                except ReportsNotReadable as exc:
                    skipped.append(f"skipped {exc}")
        elif path.exists():
            runs.append(load_run(path))
        else:
            raise ReportsNotReadable(f"{path}: no such file or directory")
    if not runs:
        raise ReportsNotReadable("no greenmeter report found in " + ", ".join(map(str, paths)))
    runs.sort(key=lambda r: str(r.report.get("started_at") or ""))
    return runs, skipped


def write_html_report(report_paths: list[Path], out: Path) -> list[str]:
    """Write one HTML page for the reports in ``report_paths`` (JSON files or directories
    of them) to ``out``, atomically. Returns notes on skipped files (say them to the user).
    Raises :class:`ReportsNotReadable` when there is nothing to draw."""
    runs, skipped = collect_runs(report_paths)
    write_text_atomic(out, render_html(runs))
    return skipped


def write_run_html(result, out: Path) -> None:
    """The page for a :class:`~greenmeter.results.RunResult` still in memory."""
    from greenmeter.report_json import result_to_dict

    # Thinned as the stored timeline is, so this page and 'greenmeter html' of the same
    # report agree to the watt.
    points = downsample(result.timeline, MAX_STORED_POINTS)
    write_text_atomic(out, render_html([RunView(report=result_to_dict(result), points=points)]))


# ---------------------------------------------------------------- numbers and scales

def nice_ticks(top: float, target: int = 5) -> list[float]:
    """0, step, 2 step, ... up to the first tick at or above ``top``; steps 1, 2, 2.5, 5 x 10^k."""
    if not top > 0:
        return [0.0, 1.0]
    raw = top / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(count + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def time_scale(span_s: float) -> tuple[float, str]:
    if span_s <= 120:
        return 1.0, "s"
    if span_s <= 2 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def energy_scale(max_j: float) -> tuple[float, str]:
    if max_j >= 3.6e6:
        return 3.6e6, "kWh"
    if max_j >= 1e4:
        return 1e3, "kJ"
    if max_j >= 1 or max_j == 0:
        return 1.0, "J"
    return 1e-3, "mJ"


def co2_scale(max_g: float) -> tuple[float, str]:
    if max_g >= 1000:
        return 1000.0, "kg"
    if max_g >= 1 or max_g == 0:
        return 1.0, "g"
    return 1e-3, "mg"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _short_span(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _sig3(value: float | None):
    return None if value is None else float(f"{value:.3g}")


def _e(value) -> str:
    return escape(str(value), quote=True)


# ---------------------------------------------------------------- series

def _component_label(comp: dict) -> str:
    index = comp.get("index")
    suffix = f" #{index}" if index is not None and comp.get("kind") == "gpu" else ""
    return f"{comp.get('kind')} {comp.get('name')}{suffix}"


def _pick_colours(kinds: list[str]) -> list[str]:
    """The kind's own colour for its first series, then unused palette colours."""
    used: set[str] = set()
    out = []
    for i, kind in enumerate(kinds):
        colour = KIND_COLOURS.get(kind)
        if colour is None or colour in used:
            colour = next((c for c in PALETTE if c not in used), PALETTE[i % len(PALETTE)])
        used.add(colour)
        out.append(colour)
    return out


def power_series(report: dict) -> list[Series]:
    """The stacked series: one per counted component, or one per kind when there are more
    counted components than colours. Detail components are never stacked (they are
    contained in, or contain, counted ones)."""
    comps = report.get("components") or []
    counted = [i for i, c in enumerate(comps) if c.get("counted", True)]
    if len(counted) <= len(PALETTE):
        groups = [(_component_label(comps[i]), comps[i].get("kind"), [i]) for i in counted]
    else:
        by_kind: dict[str, list[int]] = {}
        for i in counted:
            by_kind.setdefault(str(comps[i].get("kind")), []).append(i)
        groups = [(f"{kind} ({len(idx)} devices)" if len(idx) > 1 else _component_label(comps[idx[0]]),
                   kind, idx) for kind, idx in by_kind.items()]
    colours = _pick_colours([kind for _, kind, _ in groups])
    series = []
    for (label, _, idx), colour in zip(groups, colours):
        values = [comps[i].get("energy_j") for i in idx]
        known = [v for v in values if v is not None]
        series.append(Series(label, colour, idx, sum(known) if known else None))
    return series


def _series_power(power_w: list[float | None], series: list[Series]) -> list[float]:
    return [sum(power_w[i] or 0.0 for i in s.columns) for s in series]


# ---------------------------------------------------------------- SVG pieces

def _svg_open(css_class: str, uid: str, width: int, height: int, title: str, desc: str,
              extra: str = "") -> str:
    return (f'<svg class="{css_class}" id="{uid}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="{uid}-title {uid}-desc" preserveAspectRatio="xMinYMin meet"{extra}>'
            f'<title id="{uid}-title">{_e(title)}</title><desc id="{uid}-desc">{_e(desc)}</desc>')


def _outline(xs: list[str], upper: list[str], lower: list[str]) -> str:
    """A closed step outline: along the upper values left to right, back along the lower
    ones. Coordinates are pre-formatted strings so equal ones merge (no zero-length steps)."""
    parts = [f"M{xs[0]},{upper[0]}"]
    y = upper[0]
    last_cmd = ""

    def move(cmd: str, value: str) -> None:
        nonlocal last_cmd
        if cmd == last_cmd == "H":
            parts[-1] = f"H{value}"  # two horizontal moves in a row: keep the last
        else:
            parts.append(f"{cmd}{value}")
        last_cmd = cmd

    for k in range(len(upper)):
        if upper[k] != y:
            move("V", upper[k])
            y = upper[k]
        move("H", xs[k + 1])
    for k in range(len(lower) - 1, -1, -1):
        if lower[k] != y:
            move("V", lower[k])
            y = lower[k]
        move("H", xs[k])
    return "".join(parts) + "Z"


def power_chart(uid: str, report: dict, points: list[Point]) -> tuple[str, dict | None]:
    """The stacked power-over-time SVG and the data the hover script reads."""
    series = power_series(report)
    steps = intervals(downsample(points, CHART_POINTS))
    if not steps or not series:
        return "", None
    t0, t1 = steps[0].start_s, steps[-1].end_s
    span = max(t1 - t0, 1e-9)
    per_step = [_series_power(s.power_w, series) for s in steps]
    top_w = max((sum(p) for p in per_step), default=0.0)
    y_ticks = nice_ticks(top_w)
    y_top = y_ticks[-1] or 1.0
    plot_w, plot_h = CHART_W - MARGIN_L - MARGIN_R, CHART_H - MARGIN_T - MARGIN_B
    base = MARGIN_T + plot_h

    def x(t: float) -> str:
        return f"{MARGIN_L + (t - t0) / span * plot_w:.1f}"

    def y(w: float) -> str:
        return f"{base - w / y_top * plot_h:.1f}"

    xs = [x(s.start_s) for s in steps] + [x(t1)]
    unit_s, unit = time_scale(span)
    peak = max(range(len(steps)), key=lambda k: sum(per_step[k]))
    total_j = sum(s.energy_j or 0.0 for s in series)
    desc = (f"Stacked area chart of power in watts over {format_duration(span)}, "
            f"{len(series)} series: " + ", ".join(s.label for s in series) +
            f". Highest total {format_power(sum(per_step[peak]))} at "
            f"{steps[peak].start_s / unit_s:.3g} {unit}; mean {format_power(total_j / span)}.")
    out = [_svg_open("power-chart", uid, CHART_W, CHART_H, "Power over time, stacked by component",
                     desc, f' data-hover="{uid}-data"')]
    out.append('<g class="grid">')
    for tick in y_ticks:
        out.append(f'<line x1="{MARGIN_L}" x2="{CHART_W - MARGIN_R}" y1="{y(tick)}" y2="{y(tick)}"/>')
    out.append("</g>")
    lower = [0.0] * len(steps)
    for j, s in enumerate(series):
        upper = [lower[k] + per_step[k][j] for k in range(len(steps))]
        d = _outline(xs, [y(v) for v in upper], [y(v) for v in lower])
        energy = format_energy(s.energy_j)
        out.append(f'<path class="series" data-series="{_e(s.label)}" fill="{s.colour}" d="{d}">'
                   f'<title>{_e(s.label)}: {energy}</title></path>')
        lower = upper
    out.append(f'<g class="axis"><line x1="{MARGIN_L}" x2="{CHART_W - MARGIN_R}" y1="{base}" '
               f'y2="{base}"/><line x1="{MARGIN_L}" x2="{MARGIN_L}" y1="{MARGIN_T}" y2="{base}"/>')
    for tick in y_ticks:
        out.append(f'<text x="{MARGIN_L - 6}" y="{y(tick)}" text-anchor="end" '
                   f'dominant-baseline="middle">{_tick_label(tick)}</text>')
    for tick in nice_ticks(span / unit_s, 8):
        if tick * unit_s <= span * 1.0001:
            out.append(f'<line x1="{x(t0 + tick * unit_s)}" x2="{x(t0 + tick * unit_s)}" '
                       f'y1="{base}" y2="{base + 5}"/><text x="{x(t0 + tick * unit_s)}" '
                       f'y="{base + 18}" text-anchor="middle">{_tick_label(tick)}</text>')
    out.append(f'<text class="label" x="{MARGIN_L + plot_w / 2:.0f}" y="{CHART_H - 6}" '
               f'text-anchor="middle">Time since start ({unit})</text>')
    out.append(f'<text class="label" transform="translate(16 {MARGIN_T + plot_h / 2:.0f}) '
               f'rotate(-90)" text-anchor="middle">Power (W)</text></g>')
    out.append(f'<line class="cursor" x1="0" x2="0" y1="{MARGIN_T}" y2="{base}" '
               f'visibility="hidden"/></svg>')
    hover = {
        "x": [float(v) for v in xs],
        "t": [_sig3(s.start_s / unit_s) for s in steps] + [_sig3(t1 / unit_s)],
        "unit": unit,
        "names": [s.label for s in series],
        "p": [[_sig3(v) for v in p] for p in per_step],
    }
    return "".join(out), hover


def hbar_chart(uid: str, title: str, rows: list[tuple[str, list[tuple[float, str, str]]]],
               scale: tuple[float, str], axis_label: str, value_text: list[str]) -> str:
    """Horizontal bars, one row per label, each row stacked from (value, colour, name)."""
    divisor, unit = scale
    label_w, value_w, row_h = 230, 110, 26
    height = MARGIN_T + row_h * len(rows) + 44
    plot_w = CHART_W - label_w - value_w
    top = max((sum(v for v, _, _ in segs) for _, segs in rows), default=0.0) / divisor
    ticks = nice_ticks(top)
    x_top = ticks[-1] or 1.0

    def x(value: float) -> float:
        return label_w + value / divisor / x_top * plot_w

    desc = f"Bar chart, {axis_label}: " + "; ".join(
        f"{label} {text}" for (label, _), text in zip(rows, value_text))
    out = [_svg_open("bar-chart", uid, CHART_W, height, title, desc), '<g class="grid">']
    base = MARGIN_T + row_h * len(rows)
    for tick in ticks:
        px = f"{label_w + tick / x_top * plot_w:.1f}"
        out.append(f'<line x1="{px}" x2="{px}" y1="{MARGIN_T}" y2="{base}"/>')
    out.append("</g>")
    for r, ((label, segs), text) in enumerate(zip(rows, value_text)):
        y = MARGIN_T + r * row_h
        short = label if len(label) <= 32 else label[:31] + "\u2026"
        out.append(f'<text x="{label_w - 8}" y="{y + row_h / 2:.1f}" text-anchor="end" '
                   f'dominant-baseline="middle">{_e(short)}<title>{_e(label)}</title></text>')
        start = 0.0
        for value, colour, name in segs:
            if value <= 0:
                continue
            out.append(f'<rect class="bar" x="{x(start):.1f}" y="{y + 4}" '
                       f'width="{max(x(start + value) - x(start), 0.5):.1f}" height="{row_h - 8}" '
                       f'fill="{colour}"><title>{_e(name)}</title></rect>')
            start += value
        out.append(f'<text x="{x(start) + 6:.1f}" y="{y + row_h / 2:.1f}" '
                   f'dominant-baseline="middle">{_e(text)}</text>')
    out.append(f'<g class="axis"><line x1="{label_w}" x2="{label_w}" y1="{MARGIN_T}" y2="{base}"/>')
    for tick in ticks:
        px = f"{label_w + tick / x_top * plot_w:.1f}"
        out.append(f'<text x="{px}" y="{base + 16}" text-anchor="middle">{_tick_label(tick)}</text>')
    out.append(f'<text class="label" x="{label_w + plot_w / 2:.0f}" y="{height - 6}" '
               f'text-anchor="middle">{_e(axis_label)} ({unit})</text></g></svg>')
    return "".join(out)


# ---------------------------------------------------------------- page sections

def _command_text(report: dict, limit: int | None = None) -> str:
    """The argv as a shell would take it; with ``limit``, on one line and shortened."""
    command = report.get("command") or []
    text = shlex.join(str(a) for a in command) if isinstance(command, list) else str(command)
    if limit is None:
        return text
    text = " ".join(text.split())  # a multi-line `python -c` script reads as one line
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _table(caption: str, head: list[str], rows: list[list[str]], text_cols: tuple = ()) -> str:
    """A table; cells are already-escaped HTML. The first column heads the rows; the others
    are figures, aligned right, except ``text_cols``."""

    def cls(i: int) -> str:
        return "" if i == 0 or i in text_cols else " class=num"

    out = [f"<table><caption>{_e(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col"{cls(i)}>{_e(h)}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f'<th scope="row">{row[0]}</th>']
        cells += [f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row[1:], start=1)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _power_table(report: dict, points: list[Point], unit_s: float, unit: str) -> str:
    series = power_series(report)
    steps = intervals(downsample(points, TABLE_ROWS + 1))
    rows = []
    for s in steps:
        per = _series_power(s.power_w, series)
        rows.append([f"{s.start_s / unit_s:.3g}\u2013{s.end_s / unit_s:.3g}",
                     *(f"{v:.3g}" for v in per), f"{sum(per):.3g}"])
    return ("<details><summary>Power over time as a table</summary>" +
            _table(f"Mean power (W) per span of time ({unit} since start)",
                   [f"time ({unit})", *(f"{s.label} (W)" for s in series), "total (W)"], rows) +
            "</details>")


def _facts(report: dict, points: list[Point]) -> str:
    energy = report.get("energy_j") or {}
    carbon = report.get("carbon") or {}
    duration = report.get("duration_s")
    total = energy.get("total")
    facts = [("Energy", format_energy(total)),
             ("CO\u2082e", format_co2(carbon["co2_g"]) if carbon.get("co2_g") is not None else "-"),
             ("Duration", format_duration(duration)),
             ("Mean power", format_power(total / duration) if total and duration else "-")]
    notes = {}
    steps = intervals(points)
    if steps:
        counted = [c.get("counted", True) for c in report.get("components") or []]
        peak = max(total_power(s, counted) for s in steps)
        facts.append(("Peak power", format_power(peak)))
        # The timeline holds means over its intervals; a shorter burst is not seen.
        typical = statistics.median(s.end_s - s.start_s for s in steps)
        notes["Peak power"] = f"highest {_short_span(typical)} mean"
    exit_code = report.get("exit_code")
    facts.append(("Exit code", "running" if exit_code is None else str(exit_code)))
    return '<dl class="facts">' + "".join(
        f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd>" +
        (f"<dd class=note>{_e(notes[k])}</dd>" if k in notes else "") + "</div>"
        for k, v in facts) + "</dl>"


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
        label = _component_label(c)
        counted = c.get("counted", True)
        energy = c.get("energy_j")
        share = f"{energy / total * 100:.1f} %" if counted and energy is not None and total else ""
        power = c.get("mean_power_w")
        rows.append([_e(label + ("" if counted else " (detail, not added)")), _e(format_energy(energy)),
                     _e("-" if power is None else format_power(power)), share, _e(_how(c))])
        bars.append((label if counted else f"{label} (not added)",
                     [(energy or 0.0, colours.get(i, "#8c8c8c"), label)]))
        texts.append(format_energy(energy))
    top = max((v for _, segs in bars for v, _, _ in segs), default=0.0)
    chart = hbar_chart(uid, "Energy per component", bars, energy_scale(top), "Energy", texts) if bars else ""
    table = _table("The same as a table, with how each figure was obtained",
                   ["component", "energy", "mean power", "share", "how it was obtained"], rows,
                   text_cols=(4,))
    return f"<h3>Energy per component</h3><figure>{chart}</figure>{table}"


def _carbon_section(report: dict) -> str:
    c = report.get("carbon") or {}
    if not c:
        return "<h3>Carbon</h3><p>No carbon figures in this report.</p>"
    region = c.get("region") or "no region set"
    zone = c.get("zone_name") or c.get("zone_id") or "?"
    pue = c.get("pue", 1.0)
    co2 = c.get("co2_g")
    kwh = c.get("energy_kwh") or 0.0
    line = (f"<strong>{_e(format_co2(co2) if co2 is not None else '-')} CO\u2082e</strong> = "
            f"{_e(format_energy(kwh * 3.6e6))} ({kwh:.3g} kWh) &times; PUE {pue:g} &times; "
            f"{c.get('intensity_g_per_kwh', 0):g} gCO\u2082e/kWh")
    source = (f"Grid intensity: {_e(zone)} ({_e(region)}), source {_e(c.get('intensity_source'))} "
              f"{_e(c.get('intensity_year'))}, {_e(c.get('basis'))} basis.")
    fallback = ('<p class="warn">No region was configured: this uses the world average. Set '
                "<code>--region</code> for a figure that means something.</p>"
                if c.get("region_fallback") else "")
    return f"<h3>Carbon</h3><p>{line}</p><p>{source}</p>{fallback}"


def _metadata_section(report: dict, source: str | None) -> str:
    host = report.get("host") or {}
    items = [
        ("Command", f'<code class="argv">{_e(_command_text(report))}</code>'),
        ("Run id", _e(report.get("run_id"))),
        ("Started", _e(report.get("started_at"))), ("Ended", _e(report.get("ended_at"))),
        ("Duration", _e(format_duration(report.get("duration_s")))),
        ("Exit code", _e(report.get("exit_code"))),
        ("Interrupted", "yes" if report.get("interrupted") else "no"),
        ("Host", _e(host.get("hostname"))), ("OS", _e(host.get("os"))),
        ("CPU", _e(host.get("cpu_model"))),
        ("GPUs", _e(", ".join(host.get("gpu_models") or []) or "none seen")),
    ]
    for name, value in (host.get("scheduler") or {}).items():
        items.append((name, _e(value)))
    items.append(("greenmeter", _e(report.get("greenmeter_version"))))
    if source:
        items.append(("Report file", f"<code>{_e(source)}</code>"))
    warnings = report.get("warnings") or []
    warn = ("<h4>Warnings</h4><ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>"
            if warnings else "")
    return ('<h3>Run</h3><dl class="meta">' +
            "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + f"</dl>{warn}")


def _run_section(n: int, count: int, run: RunView, hover: dict) -> str:
    report = run.report
    uid = f"run{n}"
    heading = f"Run {n} of {count}" if count > 1 else "Run"
    partial = ('<p class="warn">Partial report: a checkpoint written while the command still ran '
               "(or greenmeter was killed).</p>" if report.get("partial") else "")
    out = [f'<section class="run" id="{uid}" aria-labelledby="{uid}-h">'
           f'<h2 id="{uid}-h">{heading}: <code>{_e(_command_text(report, 80))}</code></h2>', partial,
           _facts(report, run.points), "<h3>Power over time</h3>"]
    svg, data = power_chart(f"{uid}-power", report, run.points)
    if svg and data:
        hover[f"{uid}-power-data"] = data
        legend = "".join(
            f'<li><span class="swatch" style="background:{s.colour}"></span>{_e(s.label)}: '
            f"{_e(format_energy(s.energy_j))}</li>" for s in power_series(report))
        unit_s, unit = time_scale(max(run.points[-1][0] - run.points[0][0], 1e-9))
        out.append(f'<figure class="power">{svg}<div class="tip" hidden></div>'
                   f'<figcaption><ul class="legend">{legend}</ul>Counted components, stacked: the top '
                   "edge is the total. Each step is the mean power over its span, so the area is "
                   "the energy.</figcaption></figure>")
        out.append(_power_table(report, run.points, unit_s, unit))
    else:
        out.append(f"<p>{_e(run.timeline_note or 'No timeline points to draw.')}</p>")
    out += [_energy_section(f"{uid}-energy", report), _carbon_section(report),
            _metadata_section(report, run.source), "</section>"]
    return "".join(out)


def _per_unit(report: dict) -> tuple[float, str] | None:
    """J per unit of work, where the report carries it (``greenmeter run --units``)."""
    value = report.get("energy_j_per_unit")
    units = report.get("units")
    name = report.get("unit_name") or (units.get("name") if isinstance(units, dict) else None)
    if isinstance(value, dict):
        name, value = value.get("unit_name", name), value.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return float(value), str(name or "unit")


def _first_detailed(count: int) -> int:
    """The number of the oldest run drawn in detail."""
    return max(1, count - MAX_RUN_SECTIONS + 1)


def _comparison_section(runs: list[RunView]) -> str:
    kinds = [k for k in ("cpu", "gpu", "dram")
             if any((r.report.get("energy_j") or {}).get(k) is not None for r in runs)]
    labels = [f"#{n} {_command_text(r.report, 40)}" for n, r in enumerate(runs, start=1)]
    energies = [(r.report.get("energy_j") or {}) for r in runs]
    co2 = [(r.report.get("carbon") or {}).get("co2_g") for r in runs]
    durations = [r.report.get("duration_s") for r in runs]
    per_unit = [_per_unit(r.report) for r in runs]
    base = energies[0].get("total")
    rows = []
    first_detailed = _first_detailed(len(runs))
    for n, (r, e, g, d, pu) in enumerate(zip(runs, energies, co2, durations, per_unit), start=1):
        total = e.get("total")
        delta = (f"{(total - base) / base * 100:+.1f} %" if n > 1 and total is not None and base
                 else "")
        carbon = r.report.get("carbon") or {}
        started = str(r.report.get("started_at") or "")[:16].replace("T", " ")
        rows.append([
            (f'<a href="#run{n}">#{n}</a>' if n >= first_detailed else f"#{n}") +
            f'<br><small class="nowrap">{_e(started)}</small>',
            f"<code>{_e(_command_text(r.report, 40))}</code>",
            _e(format_duration(d)), _e(format_energy(total)),
            *(_e(format_energy(e.get(k))) for k in kinds),
            _e(format_co2(g) if g is not None else "-"),
            _e(carbon.get("region") or carbon.get("zone_id") or "world"),
            _e(f"{pu[0]:.4g} J/{pu[1]}" if pu else "-"), delta])
    head = ["run", "command", "duration", "energy", *kinds, "CO\u2082e", "region", "per unit",
            "vs #1"]
    table = _table("Runs compared, oldest first: start time (UTC), energy in total and per "
                   "kind, energy per unit of work, change in energy relative to run #1", head, rows, text_cols=(1, len(head) - 3))
    totals = [e.get("total") or 0.0 for e in energies]
    charts = [hbar_chart("cmp-energy", "Energy per run, stacked by kind", [
        (label, [(e.get(k) or 0.0, KIND_COLOURS[k], k) for k in kinds])
        for label, e in zip(labels, energies)], energy_scale(max(totals)), "Energy",
        [format_energy(e.get("total")) for e in energies])]
    charts.append(hbar_chart("cmp-co2", "CO2e per run", [
        (label, [(g or 0.0, "#555555", "CO2e")]) for label, g in zip(labels, co2)],
        co2_scale(max(g or 0.0 for g in co2)), "CO\u2082e",
        [format_co2(g) if g is not None else "-" for g in co2]))
    span = max(d or 0.0 for d in durations)
    charts.append(hbar_chart("cmp-duration", "Duration per run", [
        (label, [(d or 0.0, "#56B4E9", "duration")]) for label, d in zip(labels, durations)],
        time_scale(span), "Duration", [format_duration(d) for d in durations]))
    if any(per_unit):
        charts.append(hbar_chart("cmp-per-unit", "Energy per unit of work", [
            (label, [(pu[0] if pu else 0.0, "#CC79A7", "J per unit")])
            for label, pu in zip(labels, per_unit)],
            (1.0, "J"), "Energy per unit", [f"{pu[0]:.4g} J/{pu[1]}" if pu else "-"
                                            for pu in per_unit]))
    legend = "".join(f'<li><span class="swatch" style="background:{KIND_COLOURS[k]}"></span>{k}</li>'
                     for k in kinds)
    return ('<section id="comparison" aria-labelledby="comparison-h">'
            f'<h2 id="comparison-h">{len(runs)} runs compared</h2><div class="wide">{table}</div>'
            f'<figure>{charts[0]}<figcaption><ul class="legend">{legend}</ul></figcaption></figure>' +
            "".join(f"<figure>{c}</figure>" for c in charts[1:]) + "</section>")


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
svg .grid line{stroke:#e6e6e6}svg .axis line{stroke:#333}
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


def render_html(runs: list[RunView]) -> str:
    """The whole page: a comparison when there are several runs, then each run."""
    hover: dict[str, dict] = {}
    if len(runs) == 1:
        report = runs[0].report
        total = (report.get("energy_j") or {}).get("total")
        co2 = (report.get("carbon") or {}).get("co2_g")
        title = (f"greenmeter: {_command_text(report, 60)} \u2014 {format_energy(total)}, "
                 f"{format_co2(co2) if co2 is not None else '-'} CO\u2082e")
        intro = f"One run, started {report.get('started_at')}."
    else:
        title = f"greenmeter: {len(runs)} runs compared"
        intro = (f"{len(runs)} runs, from {runs[0].report.get('started_at')} "
                 f"to {runs[-1].report.get('started_at')}.")
    body = [_comparison_section(runs)] if len(runs) > 1 else []
    first_detailed = _first_detailed(len(runs))
    if first_detailed > 1:
        intro += (f" Runs #{first_detailed} to #{len(runs)} are shown in detail; "
                  "the comparison has them all.")
    body += [_run_section(n, len(runs), run, hover)
             for n, run in enumerate(runs, start=1) if n >= first_detailed]
    data = json.dumps(hover, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>Energy and carbon report</h1><p>{_e(intro)}</p></header><main>"
        + "".join(body) +
        f"</main><footer>Written by greenmeter {_e(__version__)}. This page is self-contained: "
        "it loads nothing from the network.</footer>"
        f'<script type="application/json" id="hover-data">{data}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
