"""What the HTML page says about a run besides its power, energy and carbon: its status
(a failed run never reads as a pass), tags, warnings, the work it did, its GPUs and the
CodeCarbon cross-check. Pure functions of a report dict; cells are escaped HTML."""

from __future__ import annotations

from greenmeter.quantities import format_energy, format_mass, format_power
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


def work_section(report: dict) -> str:
    """Units of work (``--units``), energy and CO2e per unit, and the rate."""
    units = report.get("units")
    if not units:
        return ""
    name = str(report.get("unit_name") or "units")
    one = singular(name)
    duration = report.get("duration_s")
    items = [
        ("Units of work", f"{units:g} {name}"),
        (f"Energy per {one}", format_energy(report.get("energy_j_per_unit"))),
        (f"CO\u2082e per {one}", format_mass(report.get("co2_g_per_unit"))),
    ]
    if duration:
        items.append(("Rate", f"{units / duration:.4g} {name} per second"))
    return (
        '<h3>Work done</h3><dl class="meta">'
        + "".join(f"<dt>{html_text(k)}</dt><dd>{html_text(v)}</dd>" for k, v in items)
        + "</dl>"
    )


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
