"""Turns sensors' cumulative readings into energy per component over the run.

The figure for each component is its last read minus its first read, both taken on the
main thread at the command's exact start and end. The background thread in between only
keeps counters from wrapping unseen, feeds sensors that integrate power, and draws the
timeline: one point of cumulative joules per component every ``interval_s``, and beside
it the sensors' gauges (utilisation, memory, busy cores), running integrals too.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from greenmeter.results import ActivityChannel, Point
from greenmeter.sensors.base import Component, Sensor

MAX_TIMELINE_POINTS = 1000
"""The one bound on the timeline, in memory and in the report's timeline file: past
this, every other point is dropped and points are kept twice as far apart from then on,
so the timeline stays evenly spread over the whole run (a 24 h run keeps one point every
1.5-3 min, not its last minutes in detail) in 500 to 1,000 points, ~70 kB on disk with
four components. Points hold cumulative joules, so dropping points never loses energy;
the gauges beside them are running integrals for the same reason."""


@dataclass
class ComponentTrace:
    """What the sampler saw of one component."""

    component: Component
    first_j: float | None = None
    first_s: float | None = None
    """Monotonic time of the first good read."""
    last_j: float | None = None
    last_s: float | None = None
    reads: int = 0
    failed_reads: int = 0

    @property
    def energy_j(self) -> float | None:
        if self.first_j is None or self.last_j is None:
            return None
        return self.last_j - self.first_j

    @property
    def covered_s(self) -> float:
        if self.first_s is None or self.last_s is None:
            return 0.0
        return self.last_s - self.first_s

    def record(self, value_j: float | None, now_s: float) -> None:
        self.reads += 1
        if value_j is None:
            self.failed_reads += 1
            return
        if self.first_j is None:
            self.first_j, self.first_s = value_j, now_s
        self.last_j, self.last_s = value_j, now_s


@dataclass
class Measurement:
    """The sampler's result: per-component traces and the timeline."""

    duration_s: float
    """From the first exact read to the last (or to now, for a snapshot)."""
    traces: list[ComponentTrace]
    timeline: list[Point]
    sensor_errors: list[str] = field(default_factory=list)
    channels: list[ActivityChannel] = field(default_factory=list)
    """The sensors' gauges, their ``component`` an index into ``traces``."""
    activity: list[Point] = field(default_factory=list)
    """At the times of ``timeline``: the running integral of each of ``channels``."""


@dataclass(frozen=True)
class Boundary:
    """The reads of every component at ``read_s`` (seconds since the first read),
    cumulative joules since then, and each component's previous read."""

    read_s: float
    before: list[tuple[float | None, float | None]]
    """(seconds, cumulative joules) of each component's read before this one."""
    energy_j: list[float | None]

    def at(self, t_s: float) -> list[float | None]:
        """Each component's cumulative joules at ``t_s``, a moment between its previous
        read and this one (a mark's stamp: the caller's instant, a little before
        greenmeter got to read): along the line between the two counter reads, exact for
        a steady draw. Later than this read is this read; earlier than the previous read
        is that read."""
        out: list[float | None] = []
        for (before_s, before_j), now_j in zip(self.before, self.energy_j):
            if now_j is None or before_j is None or before_s is None or t_s >= self.read_s:
                out.append(now_j)
            elif t_s <= before_s:
                out.append(before_j)
            else:
                share = (t_s - before_s) / (self.read_s - before_s)
                out.append(before_j + (now_j - before_j) * share)
        return out


class Sampler:
    """Reads ``sensors`` at :meth:`begin` and :meth:`end` exactly, and in between every
    ``interval_s`` from a thread (:meth:`start` / :meth:`stop`), or whenever its owner
    calls :meth:`sample` (tests on a fake ``clock``, the idle baseline).

    ``on_tick(sampler)`` is called from the thread every ``tick_every_s`` (checkpoints),
    ``on_point(sampler)`` after each timeline point it reads (live exporters: they see
    the sampler's own reads, never reading a sensor themselves)."""

    def __init__(
        self,
        sensors: list[Sensor],
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_tick: Callable[[Sampler], None] | None = None,
        tick_every_s: float = math.inf,
        on_point: Callable[[Sampler], None] | None = None,
    ):
        self.sensors = sensors
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._traces = [[ComponentTrace(c) for c in s.components] for s in sensors]
        self._channels = _channels(sensors)
        self._timeline: list[Point] = []
        """Each point's values: cumulative joules per component, then the gauges' integrals."""
        self._point_spacing_s = 0.0
        """Minimum time between kept points; doubles each time the timeline is thinned."""
        self._errors: dict[str, str] = {}
        self._started: float | None = None
        self._on_tick = on_tick
        self._tick_every_s = tick_every_s
        self._on_point = on_point

    def begin(self) -> None:
        """The exact first read of every sensor: time 0 of the timeline."""
        with self._lock:
            self._started = self._clock()
            self._read_all(self._started)

    def sample(self) -> None:
        """Read every sensor now and add a timeline point (what the thread does each
        ``interval_s``)."""
        with self._lock:
            self._read_all(self._clock())

    def read_now(self) -> Boundary:
        """Read every sensor now, an exact boundary (a phase's start or end), keeping
        each component's read before this one: :class:`Boundary`. The read is also a
        timeline point."""
        with self._lock:
            assert self._started is not None
            started = self._started
            before = [
                (None if t.last_s is None else t.last_s - started, t.energy_j)
                for traces in self._traces
                for t in traces
            ]
            now = self._clock()
            self._read_all(now)
            return Boundary(now - started, before, self._cumulative())

    @property
    def started_s(self) -> float | None:
        """The clock's time at :meth:`begin`."""
        return self._started

    def end(self) -> Measurement:
        """The exact last read of every sensor, and what was measured."""
        with self._lock:
            ended = self._clock()
            self._read_all(ended)
            return self._measurement(ended)

    def start(self) -> None:
        """:meth:`begin`, then the background thread."""
        self.begin()
        self._thread = threading.Thread(target=self._loop, name="greenmeter-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Measurement:
        """Stop the thread, then :meth:`end`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.end()

    def snapshot(self) -> Measurement:
        """The measurement so far, for checkpoints of a run still going."""
        with self._lock:
            return self._measurement(self._clock())

    def _measurement(self, now: float) -> Measurement:
        assert self._started is not None
        traces = [t for traces in self._traces for t in traces]
        n = len(traces)
        return Measurement(
            duration_s=now - self._started,
            traces=traces,
            timeline=[(t, values[:n]) for t, values in self._timeline],
            sensor_errors=[f"{name}: {err}" for name, err in self._errors.items()],
            channels=list(self._channels),
            activity=[(t, values[n:]) for t, values in self._timeline] if self._channels else [],
        )

    def _sensor_interval_s(self, sensor: Sensor) -> float:
        try:
            limit = sensor.max_interval_s()
        except Exception:  # a sensor's bug must not stop the sampling of the others
            limit = None
        return self.interval_s if limit is None else max(0.001, min(self.interval_s, limit))

    def _read(self, i: int, now: float) -> None:
        sensor = self.sensors[i]
        try:
            values = list(sensor.read_energy_j())
            if len(values) != len(sensor.components):
                raise ValueError(
                    f"returned {len(values)} values for {len(sensor.components)} components"
                )
        except Exception as exc:  # measurement never fails the run; the trace shows the gap
            self._errors[type(sensor).__name__] = f"{type(exc).__name__}: {exc}"
            values = [None] * len(sensor.components)
        for trace, value in zip(self._traces[i], values):
            trace.record(value, now)

    def _read_all(self, now: float) -> None:
        for i in range(len(self.sensors)):
            self._read(i, now)
        self._add_point(now)

    def _add_point(self, now: float) -> None:
        assert self._started is not None
        cumulative = self._cumulative()
        for sensor in self.sensors:
            if sensor.gauges:
                cumulative.extend(self._activity(sensor))
        timeline = self._timeline
        # The newest point always ends the timeline (checkpoints and the final read show
        # it); it stays for good only once it is far enough from the one before.
        if len(timeline) >= 2 and timeline[-1][0] - timeline[-2][0] < self._point_spacing_s:
            timeline[-1] = (now - self._started, cumulative)
        else:
            timeline.append((now - self._started, cumulative))
        if len(timeline) > MAX_TIMELINE_POINTS:
            # Keep the first and the newest point; drop every other one in between.
            self._timeline = timeline[:-1:2] + timeline[-1:]
            span_s = self._timeline[-1][0] - self._timeline[0][0]
            self._point_spacing_s = span_s / (len(self._timeline) - 1)

    def _cumulative(self) -> list[float | None]:
        return [trace.energy_j for traces in self._traces for trace in traces]

    def _activity(self, sensor: Sensor) -> list[float | None]:
        try:
            values = list(sensor.read_activity())
            if len(values) == len(sensor.gauges):
                return values
        except Exception:  # a gauge's bug costs its timeline, never the energy
            pass
        return [None] * len(sensor.gauges)

    def _loop(self) -> None:
        assert self._started is not None
        next_point = self._started + self.interval_s
        next_read = [self._started + self._sensor_interval_s(s) for s in self.sensors]
        next_tick = self._started + self._tick_every_s
        while True:
            wake = min([next_point, *next_read])
            if self._stop.wait(max(0.0, wake - self._clock())):
                return
            with self._lock:
                now = self._clock()
                point = now >= next_point
                if point:
                    self._read_all(now)
                    next_point = now + self.interval_s
                    next_read = [now + self._sensor_interval_s(s) for s in self.sensors]
                else:
                    for i, sensor in enumerate(self.sensors):
                        if now >= next_read[i]:
                            self._read(i, now)
                            next_read[i] = now + self._sensor_interval_s(sensor)
            if point and self._on_point is not None:
                self._on_point(self)
            if self._on_tick is not None and now >= next_tick:
                next_tick = now + self._tick_every_s
                self._on_tick(self)


def _channels(sensors: list[Sensor]) -> list[ActivityChannel]:
    """Every sensor's gauges, their component numbered across all sensors (the traces' order)."""
    channels, offset = [], 0
    for sensor in sensors:
        for gauge in sensor.gauges:
            index = None if gauge.component is None else offset + gauge.component
            channels.append(ActivityChannel(gauge.quantity, index))
        offset += len(sensor.components)
    return channels
