"""The HTML page's tables: every chart has one beside it, and some figures are only tables."""

from __future__ import annotations

from greenmeter.reports.html.charts import html_text


def html_table(
    caption: str,
    head: list[str],
    rows: list[list[str]],
    text_cols: tuple = (),
    row_classes: list[str] | None = None,
) -> str:
    """A table; cells are already-escaped HTML. The first column heads the rows; the others
    are figures, aligned right, except ``text_cols``. ``row_classes``: a class per row
    ("" for none), e.g. to mark a failed run."""

    def cls(i: int) -> str:
        return "" if i == 0 or i in text_cols else " class=num"

    out = [f"<table><caption>{html_text(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col"{cls(i)}>{html_text(h)}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for n, row in enumerate(rows):
        row_class = row_classes[n] if row_classes else ""
        cells = [f'<th scope="row">{row[0]}</th>']
        cells += [f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row[1:], start=1)]
        out.append(
            (f'<tr class="{row_class}">' if row_class else "<tr>") + "".join(cells) + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)
