"""greenmeter's figures beside CodeCarbon's (``run --cross-check codecarbon``), as rows of
text: the terminal summary and the HTML page show the same table."""

from __future__ import annotations

from greenmeter.quantities import format_energy, format_mass

CROSS_CHECK_HEADERS = ("", "greenmeter", "CodeCarbon", "difference")


def cross_check_title(check: dict) -> str:
    return (
        f"cross-check: CodeCarbon {check['version']} ({check['mode']}, "
        f"{check['country_iso_code']}, {check['duration_s']:.2f} s)"
    )


def cross_check_rows(check: dict) -> list[list[str]]:
    """One row per kind and CO2e: greenmeter, CodeCarbon, greenmeter minus CodeCarbon
    (and in % of CodeCarbon's). The report's ``cross_check.difference`` rows, with units."""
    rows = []
    for row in check["difference"]:
        if row["kind"] == "gpu" and row["greenmeter_j"] is None and not row["codecarbon_j"]:
            continue  # no GPU on either side
        if row["kind"] == "co2":
            label, fmt, unit = "CO2e", format_mass, "g"
        else:
            label, fmt, unit = (
                {"dram": "dram (CodeCarbon: ram)"}.get(row["kind"], row["kind"]),
                format_energy,
                "j",
            )
        diff = row[f"difference_{unit}"]
        pct = "" if row["difference_pct"] is None else f" ({row['difference_pct']:+.0f} %)"
        rows.append(
            [
                label,
                "-" if row[f"greenmeter_{unit}"] is None else fmt(row[f"greenmeter_{unit}"]),
                fmt(row[f"codecarbon_{unit}"]),
                "-" if diff is None else f"{'+' if diff >= 0 else '-'}{fmt(abs(diff))}{pct}",
            ]
        )
    return rows
