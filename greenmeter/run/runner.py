"""Runs the wrapped command exactly as a shell would, and reports how it ended.

- argv is executed directly (``posix_spawnp``: no shell, PATH searched), with
  greenmeter's own stdin, stdout, stderr and environment, untouched.
- SIGINT, SIGTERM and SIGHUP are blocked in every greenmeter thread and taken by one
  thread with ``sigtimedwait``, which knows who sent each one: a signal sent with
  ``kill`` is forwarded to the command; one the terminal sent (Ctrl-C, hang-up) already
  reached the command, which shares greenmeter's process group, so forwarding it would
  deliver it twice (and break a training script's graceful Ctrl-C handling).
- ``os.wait4`` gives the exit status and the exact CPU time of the command and every
  descendant it waited for.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from greenmeter import exit_codes

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_SI_KERNEL = 0x80
"""``si_code`` of a signal the kernel raised itself, e.g. the terminal's Ctrl-C."""


class CommandNotRunnable(Exception):
    """The command could not be started; ``exit_code`` is 127 (not found) or 126."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class ChildOutcome:
    exit_code: int
    """As a shell reports it: the command's code, or 128+N if signal N killed it."""
    interrupted: bool
    """A forwarded or terminal signal arrived while the command ran."""
    cpu_s: float
    """User + system CPU seconds of the command and the descendants it waited for."""


class SignalForwarder:
    """Owns SIGINT/SIGTERM/SIGHUP for as long as greenmeter runs a command.

    Must be started before any other thread (the sampler's): threads inherit the blocked
    mask, and a blocked signal can then only be taken by this thread."""

    def __init__(self) -> None:
        self.child_pid: int | None = None
        self.received: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="greenmeter-signals", daemon=True)
        self.original_mask: set[int] = set()

    def __enter__(self) -> SignalForwarder:
        self.original_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        # Wake the thread now rather than at its next sigtimedwait timeout: waiting out
        # the timeout was most of the start-up cost of a short command.
        if self._thread.is_alive():  # it ends only on this wake-up (or a bug's exception)
            signal.pthread_kill(self._thread.ident, signal.SIGHUP)
        self._thread.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, self.original_mask)

    def _loop(self) -> None:
        while True:  # until __exit__'s wake-up; no polling timeout, so no idle wake-ups
            info = signal.sigwaitinfo(FORWARDED_SIGNALS)
            if self._stop.is_set() and info.si_pid == os.getpid():
                return  # __exit__'s wake-up (si_code cannot tell it: some kernels say SI_USER)
            self.received.append(info.si_signo)
            pid = self.child_pid
            if pid is not None and info.si_code != _SI_KERNEL:
                try:
                    os.kill(pid, info.si_signo)
                except OSError:  # already gone; this thread must outlive any failure
                    pass


def run_command(
    argv: list[str],
    forwarder: SignalForwarder,
    on_spawned: Callable[[int], None] = lambda pid: None,
    env: Mapping[str, str] | None = None,
) -> ChildOutcome:
    """Spawn ``argv`` (with ``env``, default greenmeter's own environment), wait for it,
    return how it ended.

    Raises :class:`CommandNotRunnable` if it cannot be started."""
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            os.environ if env is None else env,
            # The command gets the signal mask greenmeter was given, not the blocked set
            # above; and SIGPIPE/SIGXFSZ at default, undoing Python's start-up SIG_IGN
            # (as subprocess's restore_signals does).
            setsigmask=forwarder.original_mask,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except FileNotFoundError:
        raise CommandNotRunnable(f"{argv[0]}: command not found", exit_codes.NOT_FOUND) from None
    except (PermissionError, IsADirectoryError):
        raise CommandNotRunnable(
            f"{argv[0]}: permission denied (not executable)", exit_codes.NOT_EXECUTABLE
        ) from None
    except OSError as exc:
        raise CommandNotRunnable(
            f"{argv[0]}: cannot execute: {exc.strerror}", exit_codes.NOT_EXECUTABLE
        ) from None
    forwarder.child_pid = pid
    on_spawned(pid)
    while True:
        try:
            _, status, rusage = os.wait4(pid, 0)
            break
        except ChildProcessError:  # reaped elsewhere: nothing more can be known
            status, rusage = 0, None
            break
        except InterruptedError:
            continue
    forwarder.child_pid = None
    received_while_running = bool(forwarder.received)
    if os.WIFSIGNALED(status):
        code = exit_codes.SIGNAL_BASE + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
    cpu_s = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
    return ChildOutcome(code, received_while_running, cpu_s)
