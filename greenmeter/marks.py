"""Phases and units marked from inside a measured command: the sending side.

``greenmeter.phase("train")`` (a context manager and a decorator) and
``greenmeter.add_units(512, "tokens")`` write one line each to the control channel named
by ``$GREENMETER_CONTROL`` (a FIFO that ``greenmeter run`` or a ``greenmeter.Meter``
reads; the protocol is in docs/marks.md, so a shell script can mark with ``printf``).
Without the variable every call does nothing, and no call ever raises: marking must never
fail the program it measures.

Cheap on purpose: only ``os`` and ``time`` are imported (both already loaded by Python
itself), and a call is a few microseconds, one ``write`` of a short line
(benchmarks/marks_overhead.py). Each line carries the caller's ``CLOCK_MONOTONIC`` time,
which is system-wide, so greenmeter places the boundary where the caller was, not where
it read the line.
"""

from __future__ import annotations

import os
import stat
import time
from _thread import get_ident  # built in: the thread's id without importing threading

CONTROL_VAR = "GREENMETER_CONTROL"
"""The one variable a command needs to mark: the path of greenmeter's control FIFO."""
MAX_LINE_BYTES = 4096
"""PIPE_BUF: a write of at most this many bytes to a FIFO is never interleaved with
another writer's, so lines from many processes arrive whole."""
_MAX_NAME_CHARS = 200

_fd = -1
_fd_path: str | None = None
_refused: str | None = None
"""A path that turned out not to be a FIFO: never written to (it could be any file)."""


def clean_name(name: object) -> str:
    """A phase or unit name as one protocol word: whitespace becomes ``_``, ``/`` (which
    separates nested phases in reports) too; empty becomes ``unnamed``."""
    try:
        text = "_".join(str(name).replace("/", "_").split())[:_MAX_NAME_CHARS]
    except Exception:
        return "unnamed"
    return text or "unnamed"


def send(line: str, path: str | None = None) -> bool:
    """Write one protocol line (ending in a newline) to ``path`` (default: the control
    channel set in the environment); True when written. Blocks while the FIFO is full
    (greenmeter reads it continuously), so no mark is ever dropped; fails quietly when
    the channel is gone."""
    global _fd, _fd_path, _refused
    if path is None:
        path = os.environ.get(CONTROL_VAR)
    if not path or path == _refused:
        return False
    data = line.encode("utf-8", "replace")
    if len(data) > MAX_LINE_BYTES:
        return False
    try:
        if path != _fd_path:
            _close()
            # O_NONBLOCK: opening a FIFO nobody reads fails (ENXIO) instead of hanging.
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.close(fd)
                _refused = path
                return False
            os.set_blocking(fd, True)
            _fd, _fd_path = fd, path
        os.write(_fd, data)
        return True
    except OSError:  # greenmeter ended (EPIPE), the path is gone (ENOENT, ENXIO)
        _close()
        return False


def _close() -> None:
    global _fd, _fd_path
    if _fd >= 0:
        try:
            os.close(_fd)
        except OSError:
            pass
    _fd, _fd_path = -1, None


def mark(op: str, name: str) -> bool:
    """``begin NAME`` or ``end NAME``, stamped now, from this thread's stream (phases
    nest per thread of a process)."""
    return _mark(op, clean_name(name))


def _mark(op: str, word: str) -> bool:
    path = os.environ.get(CONTROL_VAR)
    if not path:  # the cheap path outside a measured run
        return False
    return send(f"{op} {word} t={time.monotonic():.9f} s={os.getpid()}.{get_ident()}\n", path)


class phase:
    """``with greenmeter.phase("train"):`` or ``@greenmeter.phase("eval")``: the energy of
    what runs inside, from exact sensor reads at both ends. Phases nest (a phase begun
    inside another is its child). Outside ``greenmeter run`` or a ``Meter``: nothing."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = clean_name(name)

    def __enter__(self) -> phase:
        _mark("begin", self.name)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _mark("end", self.name)

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def measured(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return measured

    def __repr__(self) -> str:
        return f"greenmeter.phase({self.name!r})"


def add_units(count: float, unit: str = "units") -> None:
    """Count ``count`` units of useful work (tokens, samples, queries) for the phases open
    in this thread and for the run: reports give joules per unit. A count that is not a
    positive finite number is ignored (never raised)."""
    path = os.environ.get(CONTROL_VAR)
    if not path:
        return
    try:
        value = float(count)
    except (TypeError, ValueError, OverflowError):
        return
    if not 0 < value < float("inf"):
        return
    line = f"units {value!r} {clean_name(unit)} t={time.monotonic():.9f} s={os.getpid()}.{get_ident()}\n"
    send(line, path)
