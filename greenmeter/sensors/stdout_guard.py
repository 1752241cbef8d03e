"""Keep what a hardware library prints off greenmeter's stdout, which the command shares.

The AMD SMI bindings ``print`` when they cannot load their library, and C libraries may
write to file descriptor 1 when they load, start or stop: around such calls, Python's
``sys.stdout`` goes to a buffer and descriptor 1 to /dev/null.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator


@contextlib.contextmanager
def stdout_captured(sink: io.StringIO | None = None) -> Iterator[io.StringIO]:
    """While the block runs, ``print`` writes into ``sink`` (a new buffer if None, yielded)
    and file descriptor 1 points at /dev/null, so neither Python nor C code reaches the
    real stdout. Not for blocks during which greenmeter itself writes to stdout."""
    sink = io.StringIO() if sink is None else sink
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(sink))
        try:
            saved = os.dup(1)
        except OSError:
            saved = None  # no stdout at all: nothing to protect at the descriptor level
        if saved is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)

            def restore() -> None:
                os.dup2(saved, 1)
                os.close(saved)

            stack.callback(restore)
        yield sink
