"""Markdown tables for CI pages and ``--format markdown``: one builder, one escaping rule."""

from __future__ import annotations

from collections.abc import Sequence


def cell(text: str) -> str:
    """A table cell cannot hold a raw '|' or a line break (and '\\' escapes the next '|')."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The table's lines, each ending in a newline."""
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join(" --- " for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
