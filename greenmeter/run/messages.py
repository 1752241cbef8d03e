"""greenmeter's own words on stderr, which may be closed or a pipe nobody reads any more:
neither may fail the run or change its exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greenmeter.results import RunResult


def stderr_usable() -> bool:
    # None when started with fd 2 closed: print(file=None) and rich would use stdout.
    return sys.stderr is not None and not sys.stderr.closed


def stderr_gone() -> None:
    """Nobody reads stderr any more (a closed pipe): point fd 2 at /dev/null, so neither
    later messages nor Python's flush at exit fail (which would change the exit code)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def say(message: str) -> None:
    """``greenmeter: message`` on stderr, if anyone can read it."""
    if not stderr_usable():
        return
    try:
        print(f"greenmeter: {message}", file=sys.stderr, flush=True)
    except OSError:
        stderr_gone()


def print_rich_safely(render: Callable[[], None], what: str) -> None:
    """Run ``render`` (which prints with rich on stderr) if anyone can read stderr; its
    failure is said, never raised: greenmeter's tables repeat the report."""
    if not stderr_usable():
        return
    try:
        render()
    except (OSError, SystemExit):  # rich turns a broken pipe into SystemExit(1)
        stderr_gone()
    except Exception as exc:
        say(f"{what} not printed: {type(exc).__name__}: {exc}")


def print_summary_safely(
    result: RunResult, already_said: Collection[str], advice: bool = True
) -> None:
    """The end-of-run summary (greenmeter/reports/summary.py) on stderr; ``advice``
    False (``--no-advice``): without the findings' lines."""
    from greenmeter.reports.summary import print_summary

    print_rich_safely(
        lambda: print_summary(result, already_said=already_said, advice=advice), "summary"
    )
