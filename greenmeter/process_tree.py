"""The wrapped command and every process it starts.

Hardware counters are device-wide, but the estimate path and the shared-GPU check need to
know which processes belong to the run. Children that have already exited still count:
their CPU time is folded into their parent's ``children_*`` times once reaped, and into
``os.wait4``'s rusage for the whole tree when the command ends.

The tree is walked down from the command through ``/proc/<pid>/task/<tid>/children``,
reading only the tree's own processes. psutil's ``children(recursive=True)`` reads the
``stat`` file of every process on the machine instead: on a node with a thousand
processes that alone cost several per cent of a core at the default interval. Kernels
without those files (built without CONFIG_PROC_CHILDREN) get psutil's walk.
"""

from __future__ import annotations

import os

import psutil

PROC = "/proc"


def _child_pids(pid: int) -> list[int] | None:
    """Direct children of ``pid`` (started by any of its threads); None if the kernel
    does not say (no ``children`` files); [] for a process that is gone."""
    try:
        tids = os.listdir(f"{PROC}/{pid}/task")
    except OSError:
        return []
    children: list[int] = []
    for tid in tids:
        try:
            with open(f"{PROC}/{pid}/task/{tid}/children", "rb") as f:
                children.extend(int(child) for child in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"{PROC}/{pid}/task/{tid}"):
                continue  # the thread just ended
            return None
        except OSError:
            continue
    return children


class ProcessTree:
    def __init__(self) -> None:
        self.root_pid: int | None = None
        self._root: psutil.Process | None = None
        self._final_cpu_s: float | None = None
        self._max_cpu_s = 0.0
        self._known: dict[int, psutil.Process] = {}
        """Process objects kept from walk to walk: creating one reads /proc again."""
        self._children_files = True

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
        """The command and its live descendants, parents before their children."""
        if self._root is None or self._final_cpu_s is not None:
            return []
        if self._children_files:
            pids = self._walk(self._root.pid)
            if pids is not None:
                return self._processes(pids)
            self._children_files = False
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return []

    def _walk(self, root_pid: int) -> list[int] | None:
        pids, i = [root_pid], 0
        while i < len(pids):
            children = _child_pids(pids[i])
            if children is None:
                return None
            pids.extend(children)
            i += 1
        return pids

    def _processes(self, pids: list[int]) -> list[psutil.Process]:
        # Process objects are kept for the pids still in the tree (creating one reads
        # /proc again), and only for those: the cache never outgrows the live tree.
        known, self._known = self._known, {}
        for pid in pids:
            proc = known.get(pid)
            if proc is None:
                try:
                    proc = psutil.Process(pid)
                except psutil.Error:  # ended since the walk
                    continue
            self._known[pid] = proc
        return list(self._known.values())

    def pids(self) -> set[int]:
        return {p.pid for p in self.processes()}

    def usage(self) -> tuple[float, int]:
        """(:meth:`cpu_seconds`, :meth:`rss_bytes`) from a single walk of the tree."""
        processes = self.processes()
        return self.cpu_seconds(processes), self.rss_bytes(processes)

    def cpu_seconds(self, processes: list[psutil.Process] | None = None) -> float:
        """CPU seconds (user + system) used by the tree so far, never decreasing.

        While running: the live processes' own times plus what they have reaped. A
        process that exited but is not yet reaped briefly drops out, hence the running
        maximum. After the end: the kernel's exact figure from ``wait4``."""
        if self._final_cpu_s is not None:
            return max(self._final_cpu_s, self._max_cpu_s)
        total = 0.0
        for proc in self.processes() if processes is None else processes:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        self._max_cpu_s = max(self._max_cpu_s, total)
        return self._max_cpu_s

    def rss_bytes(self, processes: list[psutil.Process] | None = None) -> int:
        """Resident memory of the live tree now (0 once it has ended)."""
        total = 0
        for proc in self.processes() if processes is None else processes:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total
