"""The wrapped command and every process it starts.

Hardware counters are device-wide, but the estimate path and the shared-GPU check need to
know which processes belong to the run. Children that have already exited still count:
their CPU time is folded into their parent's ``children_*`` times once reaped, and into
``os.wait4``'s rusage for the whole tree when the command ends.
"""

from __future__ import annotations

import psutil


class ProcessTree:
    def __init__(self) -> None:
        self.root_pid: int | None = None
        self._root: psutil.Process | None = None
        self._final_cpu_s: float | None = None
        self._max_cpu_s = 0.0

    def attach(self, pid: int) -> None:
        """Called right after the command is spawned."""
        self.root_pid = pid
        try:
            self._root = psutil.Process(pid)
        except psutil.Error:
            self._root = None

    def finish(self, rusage_cpu_s: float) -> None:
        """Called with ``ru_utime + ru_stime`` from ``os.wait4``: the exact CPU time of the
        command and every descendant it waited for."""
        self._final_cpu_s = rusage_cpu_s

    def processes(self) -> list[psutil.Process]:
        if self._root is None or self._final_cpu_s is not None:
            return []
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return []

    def pids(self) -> set[int]:
        return {p.pid for p in self.processes()}

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used by the tree so far, never decreasing.

        While running: the live processes' own times plus what they have reaped. A
        process that exited but is not yet reaped briefly drops out, hence the running
        maximum. After the end: the kernel's exact figure from ``wait4``."""
        if self._final_cpu_s is not None:
            return max(self._final_cpu_s, self._max_cpu_s)
        total = 0.0
        for proc in self.processes():
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        self._max_cpu_s = max(self._max_cpu_s, total)
        return self._max_cpu_s

    def rss_bytes(self) -> int:
        """Resident memory of the live tree now (0 once it has ended)."""
        total = 0
        for proc in self.processes():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total
