"""Commands told apart: what differs between the commands of several runs, as short labels.

``/srv/venv/bin/python train.py --batch-size 32`` and ``... --batch-size 256`` cut to a
width from the right both read as the interpreter's path. Here the argv words every
command shares at the start are elided instead ("… --batch-size 32", "… --batch-size 256"),
and, when a label is still too long, the words they share at the end. Pure functions of
argv lists: ``greenmeter report --group-by command`` and the HTML comparison use the same
labels.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class CommandLabels:
    labels: list[str]
    """One per command, in the order given, each on one line and at most ``limit`` long."""
    prefix: str
    """The words every command starts with, elided from the labels ("" when none were)."""
    suffix: str
    """The words every command ends with, elided because the labels were too long ("")."""


def one_line(text: str) -> str:
    """A command as one line: a multi-line ``python -c`` script reads as one line."""
    return " ".join(text.split())


def command_words(command: Sequence[str] | str | None) -> list[str]:
    """A report's ``command`` (an argv list) or a command as shell text, as argv words."""
    if command is None:
        return []
    if isinstance(command, str):
        try:
            return shlex.split(command)
        except ValueError:  # unbalanced quotes: not shell text, just words
            return command.split()
    return [str(word) for word in command]


def command_text(command: Sequence[str] | str | None) -> str:
    """The argv as a shell would take it (quoted where needed)."""
    return command if isinstance(command, str) else shlex.join(command_words(command))


def _shared_start(commands: list[list[str]]) -> int:
    n = 0
    while all(len(c) > n for c in commands) and len({c[n] for c in commands}) == 1:
        n += 1
    return n


def _fit(words: list[str], limit: int) -> str:
    """Words on one line in ``limit`` characters: a program named by a long path keeps its
    name only ("…/python"), then what does not fit is cut at the end."""
    text = one_line(shlex.join(words))
    if len(text) > limit and words and "/" in words[0].rstrip("/"):
        name = words[0].rstrip("/").rsplit("/", 1)[-1]
        text = one_line(shlex.join([name, *words[1:]]))
        text = f"{ELLIPSIS}/{text}"
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def label_commands(
    commands: Sequence[Sequence[str] | str | None], limit: int = 60
) -> CommandLabels:
    """Labels that show what differs between ``commands`` (argv lists or shell text).

    The shared leading words are elided, but never the option whose value differs
    (``--batch-size`` stays beside ``32``) nor every word of a command. When all the
    commands are the same there is nothing to elide: each label is the whole command."""
    words = [command_words(c) for c in commands]
    distinct = [list(w) for w in dict.fromkeys(tuple(w) for w in words)]
    if len(distinct) < 2:
        return CommandLabels([_fit(w, limit) for w in words], "", "")
    start = _shared_start(distinct)
    # Keep the option a differing value belongs to, and at least one word of each command.
    while start and (distinct[0][start - 1].startswith("-") or min(map(len, distinct)) <= start):
        start -= 1
    labels = _labels(words, start, 0, limit)
    end = 0
    if any(len(label) > limit for label in labels):
        ends = _shared_start([c[start:][::-1] for c in distinct])
        end = min(ends, min(len(c) - start for c in distinct) - 1)
        labels = _labels(words, start, end, limit)
    return CommandLabels(
        [label if len(label) <= limit else label[: limit - 1] + ELLIPSIS for label in labels],
        shlex.join(distinct[0][:start]),
        shlex.join(distinct[0][len(distinct[0]) - end :]) if end else "",
    )


def _labels(words: list[list[str]], start: int, end: int, limit: int) -> list[str]:
    out = []
    for w in words:
        middle = w[start : len(w) - end]
        if not start:
            text = _fit(middle, limit - (2 if end else 0))
        else:
            text = f"{ELLIPSIS} " + one_line(shlex.join(middle))
        out.append(text + (f" {ELLIPSIS}" if end else ""))
    return out
