"""``greenmeter.Meter``: measure a block of Python (a script's part, a notebook cell, a
function) with the very pipeline of ``greenmeter run``: the same sensors, sampler,
control channel for phases, carbon figures and report writers (``run.measure.Window``,
``run.measure.finish_run``). Only the command differs: here it is this process and its
children, from ``start()`` to ``stop()``.

Inside ``greenmeter run`` (or inside another Meter) the devices are already measured: a
Meter then measures nothing itself and becomes a phase of the enclosing run, so nothing
is counted twice; its figures are in that run's report.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from greenmeter import exit_codes, marks
from greenmeter.results import RunResult


def _output_path(value: str | os.PathLike | None, what: str) -> Path | None:
    """Checked now, as ``greenmeter run`` checks before launch: a fix-naming ValueError."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise ValueError(f"{what}={str(value)!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise ValueError(f"{what}={str(value)!r}: directory {path.parent} does not exist")
    return path


class Meter:
    """Measure energy and CO2e of what runs between :meth:`start` and :meth:`stop`: as
    ``with greenmeter.Meter(region="DE") as m:``, as ``@greenmeter.Meter(...)`` on a
    function, or by hand. Start again after a stop to measure another stretch; each stop
    gives a new :attr:`result`.

    ``json`` / ``csv`` / ``html``: files written at each stop, as ``greenmeter run
    --json/--csv/--html`` writes them (none given: nothing is written). ``quiet``: no
    summary on stderr (the default; ``repr(meter)`` shows the figures). Other arguments
    are those of ``greenmeter run``: ``region``, ``pue``, ``interval_s``, ``gpus``,
    ``cpu_tdp_w``, ``tags``, ``units`` and ``unit_name``.
    """

    def __init__(
        self,
        name: str = "meter",
        *,
        region: str | None = None,
        json: str | os.PathLike | None = None,
        csv: str | os.PathLike | None = None,
        html: str | os.PathLike | None = None,
        pue: float | None = None,
        interval_s: float = 0.5,
        gpus: str | None = None,
        cpu_tdp_w: float | None = None,
        tags: dict[str, str] | None = None,
        units: float | None = None,
        unit_name: str | None = None,
        quiet: bool = True,
    ):
        from greenmeter.carbon.footprint import CarbonOptions
        from greenmeter.carbon.regions import resolve_region

        self.name = marks.clean_name(name)
        if not 0.01 <= interval_s <= 60:
            raise ValueError(f"interval_s={interval_s!r}: give 0.01 to 60 seconds")
        if pue is not None and not 1.0 <= pue <= 5.0:
            raise ValueError(f"pue={pue!r}: give 1.0 to 5.0")
        self._carbon = CarbonOptions.for_grid(resolve_region(region), pue)  # UnknownRegion
        self._json = _output_path(json, "json")
        self._csv = _output_path(csv, "csv")
        self._html = _output_path(html, "html")
        from greenmeter.results import UnitCount
        from greenmeter.sensors.estimate import EstimateSettings

        if units is not None and not 0 < units < float("inf"):
            raise ValueError(f"units={units!r}: give a positive number")
        self._settings = dict(
            interval_s=interval_s,
            gpus=gpus,
            estimate=EstimateSettings(tdp_w=cpu_tdp_w),
            units=() if units is None else (UnitCount(units, unit_name or "units"),),
            unit_name=unit_name,
            quiet=quiet,
        )
        self._tags = dict(tags or {})
        self.result: RunResult | None = None
        """The last stretch's result (None before the first stop, and inside a run)."""
        self.inside_run = False
        """True while this Meter is a phase of an enclosing run (or Meter)."""
        self._running = None
        self._started_s: float | None = None
        self._was_phase = False

    # -- the stretch ---------------------------------------------------------------

    def start(self) -> Meter:
        if self._running is not None or self.inside_run:
            raise RuntimeError(f"Meter {self.name!r} is already running; stop() it first")
        self._started_s = time.monotonic()
        if marks.mark("begin", self.name):
            self.inside_run = self._was_phase = True
            return self
        self._was_phase = False
        self._running = _Stretch(self)
        return self

    def stop(self) -> RunResult | None:
        """End the stretch; its result (None when this Meter was a phase of a run)."""
        if self.inside_run:
            marks.mark("end", self.name)
            self.inside_run = False
            return None
        if self._running is None:
            raise RuntimeError(f"Meter {self.name!r} is not running; start() it first")
        running, self._running = self._running, None
        self.result = running.finish()
        return self.result

    def __enter__(self) -> Meter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __call__(self, func):
        @functools.wraps(func)
        def measured(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return measured

    # -- what a notebook shows -----------------------------------------------------

    def __repr__(self) -> str:
        head = f"<greenmeter.Meter {self.name!r}"
        if self.inside_run:
            return f"{head}: a phase of the enclosing greenmeter run (its report has the figures)>"
        if self._running is not None:
            return f"{head}: running for {time.monotonic() - self._started_s:.1f} s>"
        if self._was_phase:
            return (
                f"{head}: was a phase of the enclosing greenmeter run (its report has the figures)>"
            )
        if self.result is None:
            return f"{head}: not started>"
        return f"{head}: {describe(self.result)}>"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython
        printer.text(repr(self))


def describe(result: RunResult) -> str:
    """One line: duration, energy per kind with how it was known, CO2e, phases."""
    from greenmeter.quantities import format_duration, format_energy, format_mass

    energy = result.energy_j
    kinds = []
    for kind in ("cpu", "gpu", "dram"):
        if energy[kind] is None:
            continue
        how = sorted({c.method for c in result.components if c.kind == kind and c.counted})
        kinds.append(f"{kind} {format_energy(energy[kind])} {'/'.join(how)}")
    text = (
        f"{format_duration(result.duration_s)}, {format_energy(energy['total'])}"
        f" ({', '.join(kinds)}), {format_mass(result.carbon.co2_g)} CO2e"
    )
    if result.phases is not None and result.phases.phases:
        count = len(result.phases.phases)
        text += f", {count} phase{'s' if count != 1 else ''}"
    return text


class _Stretch:
    """One start..stop of a Meter measuring on its own: ``run.measure.Window`` around
    this process."""

    def __init__(self, meter: Meter):
        from datetime import datetime, timezone

        from greenmeter.results import RunLabels, new_run_id
        from greenmeter.run.ci_context import ci_context
        from greenmeter.run.measure import Window
        from greenmeter.run.options import Outputs, RunOptions
        from greenmeter.run.sampler import Sampler
        from greenmeter.sensors.process_tree import ProcessTree

        self.writes = any(p is not None for p in (meter._json, meter._csv, meter._html))
        run_id = new_run_id(datetime.now(timezone.utc))
        devnull = Path(os.devnull)  # an output not asked for, beside one that is
        self.options = RunOptions(
            labels=RunLabels(
                run_id=run_id,
                command=["greenmeter.Meter", meter.name],
                tags=meter._tags,
                ci=ci_context(os.environ),
            ),
            argv=[],
            carbon=meter._carbon,
            outputs=Outputs(
                json_path=meter._json or devnull,
                csv_path=meter._csv or devnull,
                html_path=meter._html,
            ),
            **meter._settings,
        )
        tree = ProcessTree()
        tree.attach(os.getpid())  # this process and its children, as a command's tree
        self.window = Window(self.options, tree)
        self._cpu0 = _cpu_s()
        self._saved_control = os.environ.get(marks.CONTROL_VAR)
        try:
            env = self.window.start(Sampler(self.window.found.sensors, self.options.interval_s))
        except BaseException:
            self.window.close()
            raise
        os.environ.update(env)  # marks from this process and its children reach it

    def finish(self) -> RunResult:
        from greenmeter.run.measure import finish_run
        from greenmeter.run.messages import print_summary_safely
        from greenmeter.run.runner import ChildOutcome

        try:
            if self._saved_control is None:
                os.environ.pop(marks.CONTROL_VAR, None)
            else:
                os.environ[marks.CONTROL_VAR] = self._saved_control
            measurement = self.window.stop()
            outcome = ChildOutcome(0, False, _cpu_s() - self._cpu0)
            result = self.window.result(measurement, outcome=outcome)
            if self.writes:
                finish_run(result, self.options, self.window.notes, exit_codes.GREENMETER_ERROR)
            elif not self.options.quiet:
                print_summary_safely(result, already_said=self.window.notes)
            return result
        finally:
            self.window.close()


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
