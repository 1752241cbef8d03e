"""`greenmeter regions [QUERY]`: the zones and cloud regions --region accepts, with their figures.

The listing is the command's output, so it goes to stdout: a rich table on a terminal, plain
aligned text otherwise (for grep, sort and diffs).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type only: reports import nothing of carbon at run time
    from greenmeter.carbon.regions import GridIntensity

COLUMNS = ("region", "zone", "name", "gCO2e/kWh", "year", "basis", "source", "pue")
RIGHT_ALIGNED = {"gCO2e/kWh", "year", "pue"}


def _cells(g: GridIntensity) -> tuple[str, ...]:
    return (
        g.region or "",
        g.zone_id,
        g.name,
        f"{g.intensity_g_per_kwh:g}",
        str(g.year),
        g.basis,
        g.source,
        "" if g.pue is None else f"{g.pue:g}",
    )


def plain_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]

    def line(cells):
        out = [
            cell.rjust(w) if col in RIGHT_ALIGNED else cell.ljust(w)
            for cell, w, col in zip(cells, widths, COLUMNS)
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(COLUMNS), *(line(r) for r in rows)]) + "\n"


def print_regions(results: list[GridIntensity], file=None) -> None:
    file = file or sys.stdout
    rows = [_cells(g) for g in results]
    if not file.isatty():
        file.write(plain_table(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in RIGHT_ALIGNED else "left")
    for row in rows:
        table.add_row(*row)
    Console(file=file, highlight=False).print(table)
