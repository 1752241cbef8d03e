"""Phases and units the measured command marks: the receiving side.

The command (``greenmeter.phase``, ``greenmeter.add_units``, ``greenmeter mark``, or
``printf`` from any language) writes lines to the FIFO named by ``$GREENMETER_CONTROL``
(protocol: docs/marks.md). A thread here reads them as they come and, for every batch it
reads, has the sampler read every sensor at once (:meth:`Sampler.read_now`): a phase's
energy comes from counter reads taken for its boundaries, never from polled power. A
boundary's time is the caller's own ``CLOCK_MONOTONIC`` stamp (system-wide, the clock of
``time.monotonic()``); the read comes a little later (tens of microseconds when the
machine is idle, milliseconds when it is loaded: ``max_lag_s``), and the counter at the
stamp is taken between that read and the one before it (``Boundary.at``), so a loaded
machine does not shift the energy out of the phase it belongs to.

Memory stays bounded whatever the number of marks: per phase name (at its place in the
nesting) a few sums, the union of its occurrences swept as they open and close (so
overlapping occurrences, e.g. four processes in ``decode`` at once, count the machine's
energy once), and at most ``MAX_KEPT_OCCURRENCES`` per-occurrence figures (a uniform
sample beyond) for the percentiles.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from greenmeter.marks import CONTROL_VAR, clean_name
from greenmeter.results import Occurrences, PhaseComponent, PhaseResult, Phases
from greenmeter.run.sampler import Boundary
from greenmeter.sensors.base import Component
from greenmeter.stats import percentile

MAX_KEPT_OCCURRENCES = 10_000
"""Per phase: occurrences whose energy and duration are kept for the percentiles."""
MAX_LISTED_OCCURRENCES = 200
"""Per phase: occurrences listed with their times in the report (bands on charts)."""
MAX_PHASE_PATHS = 1000
"""Distinct phases (name at its place in the nesting) tracked; marks for more are
ignored with a note: repeated work should repeat one name (``step``, not ``step-17``)."""
MAX_NOTED_PROBLEMS = 5
_READ_BYTES = 1 << 16

Reading = list[float | None]
"""Cumulative joules per component since the run's first read (the sampler's order)."""


def _minus(a: Reading, b: Reading) -> Reading:
    return [x - y if x is not None and y is not None else None for x, y in zip(a, b)]


def _plus(a: Reading, b: Reading) -> Reading:
    return [
        (x or 0.0) + (y or 0.0) if x is not None or y is not None else None for x, y in zip(a, b)
    ]


@dataclass
class _Open:
    path: str
    name: str
    start_s: float
    start_j: Reading
    top_level: bool


@dataclass
class _Sample:
    """Bounded uniform sample of per-occurrence figures (reservoir sampling)."""

    values: list[float] = field(default_factory=list)
    seen: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float, rng: random.Random) -> None:
        self.seen += 1
        self.total += value
        self.low, self.high = min(self.low, value), max(self.high, value)
        if len(self.values) < MAX_KEPT_OCCURRENCES:
            self.values.append(value)
        else:
            j = rng.randrange(self.seen)
            if j < MAX_KEPT_OCCURRENCES:
                self.values[j] = value

    def summary(self) -> Occurrences | None:
        if not self.seen:
            return None
        ordered = sorted(self.values)
        return Occurrences(
            count=self.seen,
            mean=self.total / self.seen,
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            min=self.low,
            max=self.high,
            sampled=len(ordered),
        )


@dataclass
class _PhaseStats:
    """Sums over the occurrences of one phase (its union is a :class:`_Union` beside it)."""

    path: str
    name: str
    parent: str | None
    count: int = 0
    first_start_s: float = math.inf
    last_end_s: float = -math.inf
    units: dict[str, float] = field(default_factory=dict)
    energy: _Sample = field(default_factory=_Sample)
    duration: _Sample = field(default_factory=_Sample)
    listed: list[tuple[float, float, float | None]] = field(default_factory=list)
    unclosed: int = 0


class _Union:
    """Time and energy during which at least one of a set of occurrences is open."""

    def __init__(self, width: int):
        self.open_now = 0
        self.start: tuple[float, Reading] | None = None
        self.energy_j: Reading = [None] * width
        self.duration_s = 0.0

    def opened(self, t_s: float, reading: Reading) -> None:
        self.open_now += 1
        if self.open_now == 1:
            self.start = (t_s, reading)

    def closed(self, t_s: float, reading: Reading) -> None:
        self.open_now -= 1
        if self.open_now == 0 and self.start is not None:
            start_s, start_j = self.start
            self.duration_s += max(0.0, t_s - start_s)
            self.energy_j = _plus(self.energy_j, _minus(reading, start_j))
            self.start = None


class PhaseRecorder:
    """Turns protocol lines, each batch with the sensors' reading taken for it, into
    phases. ``components``: the sampler's components, in its order."""

    def __init__(self, components: list[Component], counted: list[bool] | None = None):
        self.components = components
        self._counted = [c.counted for c in components] if counted is None else counted
        self._lock = threading.Lock()
        self._stacks: dict[str, list[_Open]] = {}
        self._stats: dict[str, _PhaseStats] = {}
        self._unions: dict[str, _Union] = {}
        self._top = _Union(len(components))
        self._rng = random.Random(0)
        self.lines = 0
        self.problems: list[str] = []
        self._problem_count = 0
        self.max_lag_s = 0.0
        self.run_units: dict[str, float] = {}
        self.origin_s = 0.0
        """The run's start on the monotonic clock (stamps are made relative to it); set
        when the sampler starts."""

    def feed(self, lines: list[str], boundary: Boundary) -> None:
        """Apply ``lines`` (in order) with the sensors' reads taken for them."""
        with self._lock:
            for line in lines:
                if line.strip():
                    self.lines += 1
                    problem = self._apply(line.split(), boundary)
                    if problem:
                        self._problem(f"{problem}: {line.strip()[:80]!r}")

    def _problem(self, text: str) -> None:
        self._problem_count += 1
        if self._problem_count <= MAX_NOTED_PROBLEMS:
            self.problems.append(text)

    def _apply(self, words: list[str], boundary: Boundary) -> str | None:
        op, args, options = words[0], [], {}
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if eq and key in ("t", "s"):
                options[key] = value
            else:
                args.append(word)
        read_s = t_s = boundary.read_s
        if "t" in options:
            try:
                stamped = float(options["t"]) - self.origin_s
            except ValueError:
                return "t= is not a number of seconds"
            # A stamp before the run (a clock from elsewhere) or after the read cannot be
            # the caller's CLOCK_MONOTONIC: the read's own time is used instead.
            if 0.0 <= stamped <= read_s:
                t_s = stamped
                self.max_lag_s = max(self.max_lag_s, read_s - stamped)
        reading = boundary.at(t_s)
        stream = options.get("s", "")
        if op == "begin" and len(args) == 1:
            return self._begin(clean_name(args[0]), stream, t_s, reading)
        if op == "end" and len(args) == 1:
            return self._end(clean_name(args[0]), stream, t_s, reading)
        if op == "units" and len(args) in (1, 2):
            try:
                count = float(args[0])
            except ValueError:
                count = math.nan
            if not 0 < count < math.inf:
                return "units needs a positive number"
            unit = clean_name(args[1]) if len(args) == 2 else "units"
            self.run_units[unit] = self.run_units.get(unit, 0.0) + count
            for opened in self._stacks.get(stream, []):
                units = self._stats[opened.path].units
                units[unit] = units.get(unit, 0.0) + count
            return None
        return "not understood (begin NAME | end NAME | units COUNT [UNIT])"

    def _begin(self, name: str, stream: str, t_s: float, reading: Reading) -> str | None:
        stack = self._stacks.setdefault(stream, [])
        parent = stack[-1].path if stack else None
        path = name if parent is None else f"{parent}/{name}"
        stats = self._stats.get(path)
        if stats is None:
            if len(self._stats) >= MAX_PHASE_PATHS:
                if not stack:
                    del self._stacks[stream]
                return f"more than {MAX_PHASE_PATHS} distinct phases; ignored"
            stats = self._stats[path] = _PhaseStats(path, name, parent)
            self._unions[path] = _Union(len(reading))
        stack.append(_Open(path, name, t_s, reading, parent is None))
        self._unions[path].opened(t_s, reading)
        if parent is None:
            self._top.opened(t_s, reading)
        stats.first_start_s = min(stats.first_start_s, t_s)
        return None

    def _end(self, name: str, stream: str, t_s: float, reading: Reading) -> str | None:
        stack = self._stacks.get(stream)
        where = None
        if stack and any(o.name == name for o in stack):
            where = stream
        else:  # a shell's begin and end may come from different processes (make, CI)
            candidates = [
                (o.start_s, s) for s, st in self._stacks.items() for o in st if o.name == name
            ]
            if candidates:
                where = max(candidates)[1]
        if where is None:
            return f"end of {name!r}, which is not open"
        stack = self._stacks[where]
        index = max(i for i, o in enumerate(stack) if o.name == name)
        while len(stack) > index:  # phases still open inside it end with it
            self._close(stack.pop(), t_s, reading, unclosed=False)
        if not stack:
            del self._stacks[where]
        return None

    def _close(self, opened: _Open, t_s: float, reading: Reading, unclosed: bool) -> None:
        stats = self._stats[opened.path]
        t_s = max(t_s, opened.start_s)
        energy = _minus(reading, opened.start_j)
        counted = [e for e, c in zip(energy, self._counted) if c and e is not None]
        total = math.fsum(counted) if counted else None
        stats.count += 1
        stats.unclosed += unclosed
        stats.last_end_s = max(stats.last_end_s, t_s)
        stats.duration.add(t_s - opened.start_s, self._rng)
        if total is not None:
            stats.energy.add(total, self._rng)
        if len(stats.listed) < MAX_LISTED_OCCURRENCES:
            stats.listed.append((opened.start_s, t_s, total))
        self._unions[opened.path].closed(t_s, reading)
        if opened.top_level:
            self._top.closed(t_s, reading)

    def finish(self, end_s: float, reading: Reading) -> None:
        """The run ended: phases still open end here (and are counted as unclosed)."""
        with self._lock:
            for stream in list(self._stacks):
                stack = self._stacks.pop(stream)
                while stack:
                    self._close(stack.pop(), end_s, reading, unclosed=True)

    def phases(
        self,
        run_components: list[PhaseComponent],
        duration_s: float,
        co2_g_per_j: float | None,
    ) -> Phases | None:
        """What was marked (occurrences closed so far); None if nothing was.
        ``run_components``: the run's own energy per component, for what is unmarked."""
        with self._lock:
            if not self.lines:
                return None
            results = []
            for stats in self._stats.values():
                if not stats.count:
                    continue
                union = self._unions[stats.path]
                components = [_part_of(run, e) for run, e in zip(run_components, union.energy_j)]
                counted = [e for c, e in zip(self.components, union.energy_j) if c.counted]
                present = [e for e in counted if e is not None]
                total = math.fsum(present) if present else None
                results.append(
                    PhaseResult(
                        path=stats.path,
                        name=stats.name,
                        parent=stats.parent,
                        count=stats.count,
                        start_s=stats.first_start_s,
                        end_s=stats.last_end_s,
                        duration_s=union.duration_s,
                        components=components,
                        co2_g=None if total is None or co2_g_per_j is None else total * co2_g_per_j,
                        units=dict(stats.units),
                        energy_per_occurrence_j=stats.energy.summary(),
                        duration_per_occurrence_s=stats.duration.summary(),
                        occurrences=list(stats.listed),
                        unclosed=stats.unclosed,
                    )
                )
            results.sort(key=lambda p: (p.start_s, p.path.count("/"), p.path))
            unmarked = [
                _part_of(c, None if c.energy_j is None else c.energy_j - (marked or 0.0))
                for c, marked in zip(run_components, self._top.energy_j)
            ]
            ignored = list(self.problems)
            if self._problem_count > MAX_NOTED_PROBLEMS:
                ignored.append(f"... {self._problem_count - MAX_NOTED_PROBLEMS} more")
            return Phases(
                phases=results,
                unmarked_duration_s=max(0.0, duration_s - self._top.duration_s),
                unmarked_components=unmarked,
                marks=self.lines,
                ignored=ignored,
                max_lag_s=self.max_lag_s,
            )

    def top_level_overlap(self) -> bool:
        """True when top-level phases of different names overlapped in time: their sum
        then exceeds the marked time (each is still right on its own)."""
        with self._lock:
            top = [s for s in self._stats.values() if s.parent is None and s.count]
            return sum(self._unions[s.path].duration_s for s in top) > self._top.duration_s + 1e-6

    @property
    def marked_units(self) -> dict[str, float]:
        """The command's ``add_units`` over the whole run, per unit name."""
        with self._lock:
            return dict(self.run_units)


def _part_of(run: PhaseComponent, energy_j: float | None) -> PhaseComponent:
    """The run's component over part of the run: ``energy_j``, and an estimate's range
    scaled with it (the same model, so the same relative range)."""
    span = None
    if run.energy_range_j is not None and energy_j is not None and run.energy_j:
        low, high = run.energy_range_j
        span = (energy_j * low / run.energy_j, energy_j * high / run.energy_j)
    return replace(run, energy_j=energy_j, energy_range_j=span)


class ControlChannel:
    """The FIFO named in ``$GREENMETER_CONTROL`` and the thread that reads it.

    ``read_now()`` reads every sensor: :meth:`greenmeter.run.sampler.Sampler.read_now`."""

    def __init__(self, recorder: PhaseRecorder, read_now: Callable[[], Boundary]):
        self.recorder = recorder
        self._read_now = read_now
        self._dir: str | None = None
        self.path: str | None = None
        self._rfd = self._wfd = -1
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.error: str | None = None

    def open(self) -> str | None:
        """Make the FIFO (in a private directory) and start reading it; its path, or None
        when it cannot be made (the command then runs without the variable, and says
        nothing of phases: measuring never stops a run)."""
        try:
            self._dir = tempfile.mkdtemp(prefix="greenmeter-control-")
            path = os.path.join(self._dir, "control")
            os.mkfifo(path, 0o600)
            self._rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            # Held open by greenmeter itself: reads wait for writers instead of seeing EOF
            # between two of them, and a writer's open never finds the FIFO unread.
            self._wfd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.set_blocking(self._rfd, True)
        except OSError as exc:
            self.error = f"phases cannot be marked: control channel not made ({exc})"
            self._cleanup()
            return None
        self.path = path
        self._thread = threading.Thread(target=self._loop, name="greenmeter-marks", daemon=True)
        self._thread.start()
        return path

    def environment(self) -> dict[str, str]:
        return {CONTROL_VAR: self.path} if self.path else {}

    def _loop(self) -> None:
        try:  # no wake-up preemption of the marking program: it does not wait on us
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_BATCH, os.sched_param(0))
        except (AttributeError, OSError):
            pass
        pending = b""
        while True:
            try:
                data = os.read(self._rfd, _READ_BYTES)
            except BlockingIOError:  # drained after stop()
                break
            except OSError as exc:
                self.error = f"control channel read failed: {exc}"
                break
            if self._stopping.is_set():
                os.set_blocking(self._rfd, False)
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            if lines:
                boundary = self._read_now()
                self.recorder.feed([line.decode("utf-8", "replace") for line in lines], boundary)

    def close(self) -> None:
        """Read what the command wrote before it ended, then remove the FIFO. Call before
        the sampler's last read, so every mark has its read first."""
        if self._thread is not None:
            self._stopping.set()
            try:
                os.write(self._wfd, b"\n")  # wakes the reader; an empty line means nothing
            except OSError:
                pass
            self._thread.join()
            self._thread = None
        self._cleanup()

    def _cleanup(self) -> None:
        for fd in (self._rfd, self._wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._rfd = self._wfd = -1
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self.path = None
