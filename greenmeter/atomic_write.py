"""Files that are either whole or absent: a reader never sees half a report."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=1)
def _new_file_mode() -> int:
    """What ``open(path, "w")`` would give a new file: 0o666 less the umask. mkstemp
    makes 0o600 files, which other users of a shared reports directory could not read."""
    try:  # Linux >= 4.7 shows the umask; reading it changes nothing (threads are running)
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)  # can only be read by setting it
        os.umask(mask)
    return 0o666 & ~mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
