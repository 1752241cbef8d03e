"""Files that are either whole or absent: a reader never sees half a report."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _umask() -> int:
    # os.umask() can only be read by setting it, which races with other threads creating
    # files (the sampler's checkpoints); the kernel shows it in /proc since Linux 4.7.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def is_special(path: Path) -> bool:
    """``path`` exists and is not a regular file (a device, FIFO or socket, through any
    symlinks): written to, never replaced (``--json /dev/null`` as root must leave
    /dev/null a device)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it; a symlink's
    target is replaced, never the link; a special file is written to in place.

    Text that cannot be UTF-8 (a command's non-UTF-8 argv, carried by Python as
    surrogates) is written escaped (``\\xff``), never refused. The file gets the
    permissions a plain ``open(path, "w")`` would give (0666 less the umask), not
    mkstemp's private 0600: reports are meant to be shared."""
    data = text.encode("utf-8", "backslashreplace")
    if is_special(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    path = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
