"""The wrapped command and every process it starts.

Hardware counters are device-wide, but the estimate path and the shared-GPU check need to
know which processes belong to the run. Children that have already exited still count:
their CPU time is folded into their parent's ``children_*`` times once reaped, and into
``os.wait4``'s rusage for the whole tree when the command ends.

Read straight from /proc (the run path is Linux-only anyway): one ``stat`` file per
process gives its CPU times, its reaped children's CPU times and its resident size. The
tree is walked down from the command through ``/proc/<pid>/task/<tid>/children``, so
only the tree's own processes are read. (psutil's ``children(recursive=True)`` reads the
``stat`` file of every process on the machine: on a node with a thousand processes that
alone cost several per cent of a core at the default interval; importing psutil also
cost ~10 ms of every run's start-up.) Kernels without the ``children`` files (built
without CONFIG_PROC_CHILDREN) get psutil's walk instead.
"""

from __future__ import annotations

import os
import time

from greenmeter.sensors.base import Gauge, Sensor

PROC = "/proc"
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
REUSE_S = 0.01
"""A walk this recent stands for now: the estimate and the gauges read the tree at the
same moment of each sample, and one walk serves both."""
_PAGE_B = os.sysconf("SC_PAGE_SIZE")


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


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None
    for a process that is gone. The name is skipped by its last ')': it may hold spaces."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()


# Indexes into _stat_fields (proc(5) numbers fields from 1, with state as field 3).
_UTIME, _STIME, _CUTIME, _CSTIME, _RSS = 11, 12, 13, 14, 21


def _all_children(root_pid: int) -> list[int]:
    """The tree under ``root_pid`` the portable way: psutil maps every process to its
    parent. Only for kernels without the ``children`` files."""
    import psutil

    try:
        return [root_pid, *(p.pid for p in psutil.Process(root_pid).children(recursive=True))]
    except psutil.Error:
        return []


class ProcessTree:
    def __init__(self) -> None:
        self.root_pid: int | None = None
        self._final_cpu_s: float | None = None
        self._max_cpu_s = 0.0
        self._children_files = True
        self._last_usage: tuple[float, tuple[float, int]] | None = None
        """(monotonic time, usage) of the last walk."""

    def attach(self, pid: int) -> None:
        """Called right after the command is spawned."""
        self.root_pid = pid

    def finish(self, rusage_cpu_s: float) -> None:
        """Called with ``ru_utime + ru_stime`` from ``os.wait4``: the exact CPU time of the
        command and every descendant it waited for."""
        self._final_cpu_s = rusage_cpu_s

    def pids(self) -> set[int]:
        """The command and its live descendants."""
        return set(self._walk())

    def _walk(self) -> list[int]:
        """The command and its live descendants, parents before their children."""
        if self.root_pid is None or self._final_cpu_s is not None:
            return []
        if self._children_files:
            pids, i = [self.root_pid], 0
            while i < len(pids):
                children = _child_pids(pids[i])
                if children is None:
                    self._children_files = False
                    break
                pids.extend(children)
                i += 1
            else:
                return pids
        return _all_children(self.root_pid)

    def usage(self) -> tuple[float, int]:
        """(:meth:`cpu_seconds`, :meth:`rss_bytes`) from a single walk of the tree."""
        if self._final_cpu_s is not None:
            return self.cpu_seconds(), 0
        now = time.monotonic()
        if self._last_usage is not None and now - self._last_usage[0] < REUSE_S:
            return self._last_usage[1]
        ticks = pages = 0
        for pid in self._walk():
            fields = _stat_fields(pid)
            if fields is None:
                continue  # ended since the walk; its parent's children times will have it
            ticks += sum(int(fields[i]) for i in (_UTIME, _STIME, _CUTIME, _CSTIME))
            pages += int(fields[_RSS])
        self._max_cpu_s = max(self._max_cpu_s, ticks / _TICKS_PER_S)
        self._last_usage = (now, (self._max_cpu_s, pages * _PAGE_B))
        return self._last_usage[1]

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used by the tree so far, never decreasing.

        While running: the live processes' own times plus what they have reaped. A
        process that exited but is not yet reaped briefly drops out, hence the running
        maximum. After the end: the kernel's exact figure from ``wait4``."""
        if self._final_cpu_s is not None:
            return max(self._final_cpu_s, self._max_cpu_s)
        return self.usage()[0]

    def rss_bytes(self) -> int:
        """Resident memory of the live tree now (0 once it has ended)."""
        return self.usage()[1]


class ProcessTreeActivity(Sensor):
    """No energy of its own: the tree's busy CPU cores and resident memory over time, as
    gauges for the timeline (its CPU seconds are the integral of its busy cores)."""

    gauges = (Gauge("cpu_busy_cores", None), Gauge("rss_mib", None))

    def __init__(self, tree: ProcessTree, clock=time.monotonic):
        self._tree = tree
        self._clock = clock
        self._cpu_s = 0.0
        self._rss_mib_s = 0.0
        self._last_s: float | None = None

    def read_energy_j(self) -> list[float | None]:
        now = self._clock()
        self._cpu_s, rss_b = self._tree.usage()
        if self._last_s is not None:  # this reading stands for the span since the last one
            self._rss_mib_s += rss_b / (1024 * 1024) * (now - self._last_s)
        self._last_s = now
        return []

    def read_activity(self) -> list[float | None]:
        return [self._cpu_s, self._rss_mib_s]
