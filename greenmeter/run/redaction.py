"""What is recorded of the command: its argv, with secrets taken out (``--redact``,
``--redact-value-of``). The command itself always runs with its argv unchanged; only the
JSON report, the CSV row, the HTML page and the summaries get the redacted copy."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"


def redacted(
    argv: list[str], patterns: Iterable[re.Pattern[str]] = (), value_flags: Iterable[str] = ()
) -> list[str]:
    """``argv`` with every match of ``patterns`` in each argument replaced by ``***``,
    and the value of each flag in ``value_flags`` (``--password x`` and
    ``--password=x``) replaced whole."""
    flags = set(value_flags)
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if eq and name in flags:
            out.append(f"{name}={MASK}")
            continue
        hide_next = arg in flags
        for pattern in patterns:
            arg = pattern.sub(MASK, arg)
        out.append(arg)
    return out
