"""The SVG charts of the HTML report: stacked power over time and horizontal bars.

Drawn here, inline, with no library and nothing fetched. Colours are the Okabe-Ito
palette, told apart by people with the common colour-vision deficiencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from greenmeter.quantities import (
    DURATION_STEPS,
    format_duration,
    format_energy,
    format_power,
    unit_for,
)
from greenmeter.reports.timeline import downsample, intervals
from greenmeter.results import Point

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
"""Okabe-Ito, black left out; yellow last (weakest on white)."""
KIND_COLOURS = {"cpu": "#0072B2", "gpu": "#E69F00", "dram": "#009E73"}
CHART_POINTS = 601
"""Steps drawn per power chart (600): about 1.5 px each at full width."""
CHART_W, CHART_H = 960, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 16, 14, 46


@dataclass
class Series:
    label: str
    colour: str
    columns: list[int]
    """Indices into the report's ``components`` whose power is summed into this series."""
    energy_j: float | None


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


def _sig3(value: float | None):
    return None if value is None else float(f"{value:.3g}")


def html_text(value) -> str:
    """Any value as HTML text, quotes escaped too (safe in attributes)."""
    return escape(str(value), quote=True)


# ---------------------------------------------------------------- series


def component_label(comp: dict) -> str:
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
        groups = [(component_label(comps[i]), comps[i].get("kind"), [i]) for i in counted]
    else:
        by_kind: dict[str, list[int]] = {}
        for i in counted:
            by_kind.setdefault(str(comps[i].get("kind")), []).append(i)
        groups = [
            (
                f"{kind} ({len(idx)} devices)" if len(idx) > 1 else component_label(comps[idx[0]]),
                kind,
                idx,
            )
            for kind, idx in by_kind.items()
        ]
    colours = _pick_colours([kind for _, kind, _ in groups])
    series = []
    for (label, _, idx), colour in zip(groups, colours):
        values = [comps[i].get("energy_j") for i in idx]
        known = [v for v in values if v is not None]
        series.append(Series(label, colour, idx, sum(known) if known else None))
    return series


def series_power(power_w: list[float | None], series: list[Series]) -> list[float]:
    return [sum(power_w[i] or 0.0 for i in s.columns) for s in series]


# ---------------------------------------------------------------- SVG pieces


def _svg_open(
    css_class: str, uid: str, width: int, height: int, title: str, desc: str, extra: str = ""
) -> str:
    return (
        f'<svg class="{css_class}" id="{uid}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" preserveAspectRatio="xMinYMin meet"{extra}>'
        f'<title id="{uid}-title">{html_text(title)}</title><desc id="{uid}-desc">{html_text(desc)}</desc>'
    )


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


MAX_BANDS = 200
"""Phase occurrences drawn as bands on a power chart (the report lists at most 200 per
phase; a phase repeated more is one band from its first start to its last end)."""


def _phase_bands(report: dict, x, t0: float, t1: float, top: float, base: float) -> str:
    """The top-level phases as shaded bands behind the power, named on hover."""
    phases = [p for p in ((report.get("phases") or {}).get("list") or []) if not p["parent"]]
    out = ['<g class="phases">']
    drawn = 0
    for i, p in enumerate(phases):
        spans = p["occurrences"] if p["count"] == len(p["occurrences"]) else []
        spans = spans or [[p["start_s"], p["end_s"], p["energy_j"]["total"]]]
        for start, end, energy in spans:
            if drawn >= MAX_BANDS:
                break
            left, right = max(start, t0), min(end, t1)
            if right <= left:
                continue
            drawn += 1
            out.append(
                f'<rect class="band band{i % 2}" x="{x(left)}" y="{top}" '
                f'width="{float(x(right)) - float(x(left)):.1f}" height="{base - top:.1f}">'
                f"<title>{html_text(p['name'])}: {format_duration(end - start)}, "
                f"{format_energy(energy)}</title></rect>"
            )
    out.append("</g>")
    return "".join(out) if drawn else ""


def _time_axes(
    base: float, y_ticks, y, x, t0: float, span: float, unit_s: float, tick_marks: bool
) -> list[str]:
    """The axes of a chart over time (opens the ``axis`` group its caller closes): both
    lines, the y tick labels, and the time ticks (with marks under the power chart)."""
    out = [
        f'<g class="axis"><line x1="{MARGIN_L}" x2="{CHART_W - MARGIN_R}" y1="{base}" '
        f'y2="{base}"/><line x1="{MARGIN_L}" x2="{MARGIN_L}" y1="{MARGIN_T}" y2="{base}"/>'
    ]
    for tick in y_ticks:
        out.append(
            f'<text x="{MARGIN_L - 6}" y="{y(tick)}" text-anchor="end" '
            f'dominant-baseline="middle">{_tick_label(tick)}</text>'
        )
    for tick in nice_ticks(span / unit_s, 8):
        if tick * unit_s <= span * 1.0001:
            at = x(t0 + tick * unit_s)
            mark = f'<line x1="{at}" x2="{at}" y1="{base}" y2="{base + 5}"/>' if tick_marks else ""
            out.append(
                f'{mark}<text x="{at}" y="{base + 18}" text-anchor="middle">'
                f"{_tick_label(tick)}</text>"
            )
    return out


def power_chart(uid: str, report: dict, points: list[Point]) -> tuple[str, dict | None]:
    """The stacked power-over-time SVG and the data the hover script reads."""
    series = power_series(report)
    steps = intervals(downsample(points, CHART_POINTS))
    if not steps or not series:
        return "", None
    t0, t1 = steps[0].start_s, steps[-1].end_s
    span = max(t1 - t0, 1e-9)
    per_step = [series_power(s.power_w, series) for s in steps]
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
    unit_s, unit = unit_for(span, DURATION_STEPS)
    peak = max(range(len(steps)), key=lambda k: sum(per_step[k]))
    total_j = sum(s.energy_j or 0.0 for s in series)
    desc = (
        f"Stacked area chart of power in watts over {format_duration(span)}, "
        f"{len(series)} series: "
        + ", ".join(s.label for s in series)
        + f". Highest total {format_power(sum(per_step[peak]))} at "
        f"{steps[peak].start_s / unit_s:.3g} {unit}; mean {format_power(total_j / span)}."
    )
    out = [
        _svg_open(
            "power-chart",
            uid,
            CHART_W,
            CHART_H,
            "Power over time, stacked by component",
            desc,
            f' data-hover="{uid}-data"',
        )
    ]
    out.append('<g class="grid">')
    for tick in y_ticks:
        out.append(
            f'<line x1="{MARGIN_L}" x2="{CHART_W - MARGIN_R}" y1="{y(tick)}" y2="{y(tick)}"/>'
        )
    out.append("</g>")
    out.append(_phase_bands(report, x, t0, t1, MARGIN_T, base))
    lower = [0.0] * len(steps)
    for j, s in enumerate(series):
        upper = [lower[k] + per_step[k][j] for k in range(len(steps))]
        d = _outline(xs, [y(v) for v in upper], [y(v) for v in lower])
        energy = format_energy(s.energy_j)
        out.append(
            f'<path class="series" data-series="{html_text(s.label)}" fill="{s.colour}" d="{d}">'
            f"<title>{html_text(s.label)}: {energy}</title></path>"
        )
        lower = upper
    out += _time_axes(base, y_ticks, y, x, t0, span, unit_s, tick_marks=True)
    out.append(
        f'<text class="label" x="{MARGIN_L + plot_w / 2:.0f}" y="{CHART_H - 6}" '
        f'text-anchor="middle">Time since start ({unit})</text>'
    )
    out.append(
        f'<text class="label" transform="translate(16 {MARGIN_T + plot_h / 2:.0f}) '
        f'rotate(-90)" text-anchor="middle">Power (W)</text></g>'
    )
    out.append(
        f'<line class="cursor" x1="0" x2="0" y1="{MARGIN_T}" y2="{base}" '
        f'visibility="hidden"/></svg>'
    )
    hover = {
        "x": [float(v) for v in xs],
        "t": [_sig3(s.start_s / unit_s) for s in steps] + [_sig3(t1 / unit_s)],
        "unit": unit,
        "names": [s.label for s in series],
        "p": [[_sig3(v) for v in p] for p in per_step],
    }
    return "".join(out), hover


def hbar_chart(
    uid: str,
    title: str,
    rows: list[tuple[str, list[tuple[float, str, str]]]],
    scale: tuple[float, str],
    axis_label: str,
    value_text: list[str],
) -> str:
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
        f"{label} {text}" for (label, _), text in zip(rows, value_text)
    )
    out = [_svg_open("bar-chart", uid, CHART_W, height, title, desc), '<g class="grid">']
    base = MARGIN_T + row_h * len(rows)
    for tick in ticks:
        px = f"{label_w + tick / x_top * plot_w:.1f}"
        out.append(f'<line x1="{px}" x2="{px}" y1="{MARGIN_T}" y2="{base}"/>')
    out.append("</g>")
    for r, ((label, segs), text) in enumerate(zip(rows, value_text)):
        y = MARGIN_T + r * row_h
        short = label if len(label) <= 32 else label[:31] + "\u2026"
        out.append(
            f'<text x="{label_w - 8}" y="{y + row_h / 2:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{html_text(short)}<title>{html_text(label)}</title></text>'
        )
        start = 0.0
        for value, colour, name in segs:
            if value <= 0:
                continue
            out.append(
                f'<rect class="bar" x="{x(start):.1f}" y="{y + 4}" '
                f'width="{max(x(start + value) - x(start), 0.5):.1f}" height="{row_h - 8}" '
                f'fill="{colour}"><title>{html_text(name)}</title></rect>'
            )
            start += value
        out.append(
            f'<text x="{x(start) + 6:.1f}" y="{y + row_h / 2:.1f}" '
            f'dominant-baseline="middle">{html_text(text)}</text>'
        )
    out.append(f'<g class="axis"><line x1="{label_w}" x2="{label_w}" y1="{MARGIN_T}" y2="{base}"/>')
    for tick in ticks:
        px = f"{label_w + tick / x_top * plot_w:.1f}"
        out.append(
            f'<text x="{px}" y="{base + 16}" text-anchor="middle">{_tick_label(tick)}</text>'
        )
    out.append(
        f'<text class="label" x="{label_w + plot_w / 2:.0f}" y="{height - 6}" '
        f'text-anchor="middle">{html_text(axis_label)} ({unit})</text></g></svg>'
    )
    return "".join(out)


def step_line_chart(
    uid: str,
    title: str,
    times_s: list[float],
    series: list[tuple[str, str, list[float | None]]],
    y_label: str,
    y_top: float | None = None,
) -> str:
    """Step lines over time, one per (label, colour, value per span); ``times_s`` holds the
    spans' edges (one more than the values). A None value leaves a gap. ``y_top``: a fixed
    top of the scale (100 for percentages), else the highest value's nice tick."""
    if len(times_s) < 2 or not series:
        return ""
    t0, t1 = times_s[0], times_s[-1]
    span = max(t1 - t0, 1e-9)
    known = [v for _, _, values in series for v in values if v is not None]
    y_ticks = nice_ticks(y_top if y_top is not None else max(known, default=0.0))
    top = y_ticks[-1] or 1.0
    height = 220
    plot_w, plot_h = CHART_W - MARGIN_L - MARGIN_R, height - MARGIN_T - MARGIN_B
    base = MARGIN_T + plot_h

    def x(t: float) -> str:
        return f"{MARGIN_L + (t - t0) / span * plot_w:.1f}"

    def y(v: float) -> str:
        return f"{base - min(v, top) / top * plot_h:.1f}"

    unit_s, unit = unit_for(span, DURATION_STEPS)
    desc = f"Step chart of {y_label} over {format_duration(span)}: " + "; ".join(
        f"{label} from {min((v for v in values if v is not None), default=0):.3g} to "
        f"{max((v for v in values if v is not None), default=0):.3g}"
        for label, _, values in series
    )
    out = [_svg_open("gauge-chart", uid, CHART_W, height, title, desc), '<g class="grid">']
    for tick in y_ticks:
        out.append(
            f'<line x1="{MARGIN_L}" x2="{CHART_W - MARGIN_R}" y1="{y(tick)}" y2="{y(tick)}"/>'
        )
    out.append("</g>")
    for label, colour, values in series:
        parts, last_y = [], None
        for k, v in enumerate(values):
            if v is None:
                last_y = None
                continue
            if last_y is None:
                parts.append(f"M{x(times_s[k])},{y(v)}")
            elif y(v) != last_y:
                parts.append(f"V{y(v)}")
            parts.append(f"H{x(times_s[k + 1])}")
            last_y = y(v)
        if parts:
            out.append(
                f'<path class="gauge" data-series="{html_text(label)}" fill="none" '
                f'stroke="{colour}" stroke-width="2" d="{"".join(parts)}">'
                f"<title>{html_text(label)}</title></path>"
            )
    out += _time_axes(base, y_ticks, y, x, t0, span, unit_s, tick_marks=False)
    out.append(
        f'<text class="label" x="{MARGIN_L + plot_w / 2:.0f}" y="{height - 6}" '
        f'text-anchor="middle">Time since start ({unit})</text>'
        f'<text class="label" transform="translate(16 {MARGIN_T + plot_h / 2:.0f}) '
        f'rotate(-90)" text-anchor="middle">{html_text(y_label)}</text></g></svg>'
    )
    return "".join(out)
