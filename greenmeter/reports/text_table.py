"""Tables of results for a terminal or a text file (rich, imported only here): names fold,
figures are never cut, and a table wider than the terminal is printed at its own width
(the terminal wraps the lines) rather than cropped."""

from __future__ import annotations


def print_table(
    headers: list[str],
    rows: list[list[str]],
    title: str,
    file,
    colour: bool,
    name_columns: int = 1,
    left: tuple[str, ...] = (),
    footer: str | None = None,
) -> None:
    """``name_columns``: how many leading columns hold names (they fold to fit); the rest
    are figures, right-aligned unless their header is in ``left``."""
    from rich.console import Console
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    # Names are data ("python -c 'x[1]'", "[branch=main]"), never rich markup.
    headers = [escape(h) for h in headers]
    rows = [[escape(cell) for cell in row] for row in rows]
    table = Table(title=escape(title), title_justify="left", show_edge=False, pad_edge=False)
    for i, header in enumerate(headers):
        if i < name_columns:
            table.add_column(header, overflow="fold", min_width=min(12, len(header) + 4))
        else:
            widest = max([len(row[i]) for row in rows] + [max(map(len, header.split()))])
            table.add_column(
                header,
                min_width=widest,
                overflow="fold",
                justify="left" if header in left else "right",
            )
    for row in rows:
        table.add_row(*row)

    def console(width: int | None):
        return Console(
            file=file,
            highlight=False,
            no_color=not colour,
            force_terminal=colour or None,
            width=width,
        )

    out = console(None if colour else 200)
    needed = Measurement.get(out, out.options.update_width(10_000), table).minimum
    if needed > out.width:
        out = console(needed)
    out.print(table)
    if footer:
        out.print(escape(footer))
