"""``run --start-within 8h``: choose the greenest start in the next 8 h and wait for it.

The plan is made before launch (``plan_run_start``, the same search as ``greenmeter when``),
from ``--intensity-file`` when it covers the window, else ``--carbon-provider``'s forecast when
one was asked for, else the shipped historic profile: without a provider no network is used.
The wait (``wait_for_start``) sleeps, so it costs nothing; a countdown goes to stderr when it is
a terminal. SIGINT, SIGTERM or SIGHUP during the wait: the command is never started and
greenmeter exits as a shell would for that signal (130 for Ctrl-C). A signal that was ignored
when greenmeter started (``nohup``, a background job's SIGINT) stays ignored.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone

from greenmeter import exit_codes
from greenmeter.carbon.footprint import CarbonOptions
from greenmeter.carbon.when.plan import Plan, StartRecord, plan_start
from greenmeter.carbon.when.window import JobShape
from greenmeter.run.messages import say, stderr_usable
from greenmeter.run.options import RunOptions
from greenmeter.sensors.machine import open_sensors
from greenmeter.sensors.process_tree import ProcessTree

WAIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
QUIET_STEP_S = 30.0
"""Without a countdown, the clock is looked at this often (a suspended laptop wakes late)."""


def plan_run_start(carbon: CarbonOptions, within_s: float, duration_s: float) -> Plan:
    """The plan for a run that may start up to ``within_s`` from now and lasts about
    ``duration_s``. Raises WindowError or NoHourlyHistory (one line each)."""
    source = carbon.provider or ("file" if carbon.series is not None else "profile")
    now_s = time.time()
    return plan_start(
        carbon.grid.zone_id,
        JobShape.flat(duration_s),
        now_s,
        now_s + within_s + duration_s,
        forecast=carbon.series,
        source=source,
        alternatives=0,
    )


def check_sensors(options: RunOptions) -> None:
    """Open and close the sensors the run will open, so that what is refused when they open
    (a ``--gpus`` selection the driver does not have) is refused before the wait."""
    found = open_sensors(ProcessTree(), settings=options.estimate, gpus=options.gpus)
    for sensor in found.sensors:
        sensor.close()


class _Interrupted(Exception):
    pass


def _clock_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def wait_for_start(
    plan: Plan,
    *,
    quiet: bool = False,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> StartRecord | int:
    """Wait until the plan's best start: its record, or the exit code when a signal came first."""
    began = clock()
    start_s = plan.best.start_s
    for warning in plan.warnings:
        say(f"warning: {warning}")
    at = datetime.fromtimestamp(start_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if start_s <= began:
        if not quiet:
            say(f"starting now: no greener start in the window ({plan.outlook.rests_on})")
        return StartRecord(plan, 0.0)
    say(
        f"waiting until {at} to start: {plan.best.intensity_g_per_kwh:.0f} gCO2e/kWh expected, "
        f"{plan.saving_pct:.1f} % below now ({plan.outlook.rests_on}); Ctrl-C: do not start"
    )
    countdown = not quiet and stderr_usable() and sys.stderr.isatty()
    received: list[int] = []
    waiting = [True]

    def handler(signo, frame):
        received.append(signo)
        if waiting[0]:
            raise _Interrupted

    previous = {}
    for signo in WAIT_SIGNALS:
        if signal.getsignal(signo) is not signal.SIG_IGN:
            previous[signo] = signal.signal(signo, handler)
    try:
        while (remaining := start_s - clock()) > 0:
            if countdown:
                _countdown(f"greenmeter: starting in {_clock_text(remaining)} (at {at})")
            sleep(min(remaining, 1.0 if countdown else QUIET_STEP_S))
    except _Interrupted:
        pass
    finally:
        waiting[0] = False
        for signo, old in previous.items():
            signal.signal(signo, old)
        if countdown:
            _countdown("")
    if received:
        name = signal.Signals(received[0]).name
        say(f"{name} during the wait for the greener start: the command was not started")
        return exit_codes.SIGNAL_BASE + received[0]
    return StartRecord(plan, clock() - began)


def _countdown(text: str) -> None:
    try:
        sys.stderr.write(f"\r\x1b[2K{text}")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
