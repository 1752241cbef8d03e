"""What the HTML page says about a run besides its power, energy and carbon: its status
(a failed run never reads as a pass), tags, warnings, the work it did, its GPUs and the
CodeCarbon cross-check. Pure functions of a report dict; cells are escaped HTML."""

from __future__ import annotations

from greenmeter.quantities import (
    ENERGY_STEPS,
    MASS_STEPS,
    format_count,
    format_energy,
    format_figure,
    format_power,
    format_rate,
)
from greenmeter.reports.cross_check import (
    CROSS_CHECK_HEADERS,
    cross_check_rows,
    cross_check_title,
)
from greenmeter.reports.html.charts import component_label, html_text
from greenmeter.reports.html.tables import html_table
from greenmeter.results import singular


def failed(report: dict) -> bool:
    """The command failed, was interrupted, or greenmeter wrote a checkpoint (no exit yet)."""
    return report.get("exit_code") != 0 or bool(report.get("interrupted"))


def status_text(report: dict) -> str:
    """``0``, ``1 (failed)``, ``130 (interrupted)``, ``running (checkpoint)``."""
    code = report.get("exit_code")
    if code is None:
        return "running (checkpoint)"
    if report.get("interrupted"):
        return f"{code} (interrupted)"
    return "0" if code == 0 else f"{code} (failed)"


def status_cell(report: dict) -> str:
    text = html_text(status_text(report))
    return f'<span class="fail">\u2717 {text}</span>' if failed(report) else text


def tags_text(tags: dict | None) -> str:
    """``model=resnet, bs=32`` ("" for none)."""
    if not isinstance(tags, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in (tags or {}).items())


def tags_cell(tags: dict | None) -> str:
    """Each tag as a chip, ``-`` for none."""
    if not tags or not isinstance(tags, dict):
        return "-"
    return " ".join(
        f'<span class="tag">{html_text(k)}={html_text(v)}</span>' for k, v in tags.items()
    )


def warnings_section(report: dict) -> str:
    warnings = report.get("warnings") or []
    if not warnings:
        return ""
    items = "".join(f"<li>{html_text(w)}</li>" for w in warnings)
    return f'<div class="warn"><strong>Warnings</strong><ul>{items}</ul></div>'


def _units(report: dict) -> list[dict]:
    """The report's kinds of units (``units_of_work``), or the one of an older report."""
    units = report.get("units_of_work")
    if isinstance(units, list):
        return [u for u in units if isinstance(u, dict) and u.get("count")]
    if not report.get("units"):
        return []
    duration = report.get("duration_s")
    return [
        {
            "name": report.get("unit_name") or "units",
            "count": report["units"],
            "energy_j_per_unit": report.get("energy_j_per_unit"),
            "co2_g_per_unit": report.get("co2_g_per_unit"),
            "per_s": report["units"] / duration if duration else None,
        }
    ]


def work_section(report: dict) -> str:
    """Per kind of unit of work: the count, energy and CO2e per unit (an estimate rounded
    as its range allows), and the throughput."""
    units = _units(report)
    if not units:
        return ""
    spans = (
        span_of((report.get("energy_range_j") or {}).get("total")),
        span_of(report.get("co2_range_g")),
    )
    rows = []
    for unit in units:
        count = unit["count"]
        energy, co2 = (
            format_figure(
                unit.get(key),
                None if span is None else (span[0] / count, span[1] / count),
                steps,
                with_range=False,
            )
            for key, span, steps in zip(
                ("energy_j_per_unit", "co2_g_per_unit"), spans, (ENERGY_STEPS, MASS_STEPS)
            )
        )
        name = str(unit.get("name") or "units")
        rows.append(
            [
                html_text(f"per {singular(name)}"),
                html_text(f"{format_count(count)} {name}"),
                html_text(energy),
                html_text(co2),
                html_text(format_rate(unit.get("per_s"), name)),
            ]
        )
    return "<h3>Work done</h3>" + html_table(
        "Per kind of unit of work: how many, energy and CO\u2082e per unit, and throughput",
        ["unit", "count", "energy", "CO\u2082e", "throughput"],
        rows,
    )


def span_of(value) -> tuple[float, float] | None:
    """A report's ``[low, high]`` as a span; None for anything else (an older report)."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
    ):
        return float(value[0]), float(value[1])
    return None


def _figure(details: dict, key: str, unit: str) -> str:
    value = details.get(key)
    return "-" if value is None else f"{value:g} {unit}"


def gpu_section(report: dict) -> str:
    """One row per GPU: what NVML said about its use during the run."""
    gpus = [c for c in report.get("components") or [] if c.get("kind") == "gpu"]
    if not gpus:
        return ""
    rows = []
    for comp in gpus:
        details = comp.get("details") if isinstance(comp.get("details"), dict) else {}
        shared = details.get("shared_gpu")
        rows.append(
            [
                html_text(component_label(comp)),
                html_text(_figure(details, "mean_utilization_pct", "%")),
                html_text(_figure(details, "peak_memory_used_mib", "MiB")),
                html_text(
                    "-" if comp.get("mean_power_w") is None else format_power(comp["mean_power_w"])
                ),
                html_text(_figure(details, "max_power_w", "W")),
                html_text(format_energy(comp.get("energy_j"))),
                html_text(
                    {True: "yes (figures are the whole device's)", False: "no"}.get(
                        shared, "not known"
                    )
                ),
            ]
        )
    return "<h3>GPUs</h3>" + html_table(
        "Per GPU: mean utilisation over the run, peak memory used, mean power, the highest power polled, energy",
        [
            "GPU",
            "mean utilisation",
            "peak memory",
            "mean power",
            "peak power (polled)",
            "energy",
            "shared",
        ],
        rows,
        text_cols=(6,),
    )


def cross_check_section(report: dict) -> str:
    """greenmeter's figures beside CodeCarbon's, or why CodeCarbon gave none."""
    check = report.get("cross_check")
    if not isinstance(check, dict):
        return ""
    if "difference" not in check:
        reason = check.get("error") or "no figures"
        return (
            "<h3>Cross-check</h3>"
            f'<p class="warn">CodeCarbon gave no figures: {html_text(reason)}</p>'
        )
    return "<h3>Cross-check</h3>" + html_table(
        cross_check_title(check) + "; difference = greenmeter \u2212 CodeCarbon",
        list(CROSS_CHECK_HEADERS),
        [[html_text(cell) for cell in row] for row in cross_check_rows(check)],
    )
