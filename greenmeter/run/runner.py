"""Runs the wrapped command exactly as a shell would, and reports how it ended.

- argv is executed directly (``posix_spawnp``: no shell, PATH searched), with
  greenmeter's own stdin, stdout, stderr and environment, untouched.
- The command leads a process group of its own, and when greenmeter runs in the
  foreground of a terminal the command's group becomes the terminal's foreground group
  (as sudo and dumb-init do): the terminal's Ctrl-C, Ctrl-\\ and Ctrl-Z go to the command,
  once, straight from the kernel, and a command that calls ``setpgid(0, 0)`` changes
  nothing. When greenmeter ends the terminal is handed back.
- Every catchable signal a job manager or a terminal uses (``RELAYED_SIGNALS``) is
  blocked in every greenmeter thread and taken by one thread with ``sigwaitinfo``, which
  relays it to the command's group once: greenmeter never dies first from a signal it
  could pass on. Not relayed: a second copy of the same signal from the same sender
  within ``DUPLICATE_WINDOW_S`` (GNU timeout signals its child, then its whole group), and
  signals from managers that signal every process of the job themselves
  (``SIGNALS_EVERY_PROCESS``: slurmstepd; systemd with its default KillMode=control-group).
- Job control is mirrored: when the command stops (Ctrl-Z, SIGTSTP, SIGSTOP) greenmeter
  takes the terminal back and stops itself, so the shell gets its prompt; when greenmeter
  is continued (``fg``, ``bg``) it gives the terminal back if it is in the foreground and
  continues the command.
- ``os.wait4`` gives the exit status and the exact CPU time of the command and every
  descendant it waited for.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from greenmeter import exit_codes

JOB_CONTROL_SIGNALS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCONT)
INTERRUPTING_SIGNALS = (
    signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
    signal.SIGUSR2, signal.SIGALRM, signal.SIGXCPU, signal.SIGPWR,
)  # fmt: skip
"""Relayed, and the run is then reported ``interrupted`` (a preemption notice such as
SLURM's ``--signal=USR1@60`` included)."""
RELAYED_SIGNALS = (*INTERRUPTING_SIGNALS, signal.SIGWINCH, *JOB_CONTROL_SIGNALS)
DUPLICATE_WINDOW_S = 0.1
SIGNALS_EVERY_PROCESS = frozenset({"slurmstepd", "systemd"})
"""Senders (their command name) that deliver a signal to every process of the job or
unit themselves: the command already has its copy."""
_SI_KERNEL = 0x80
"""``si_code`` of a signal the kernel raised itself, e.g. the terminal's Ctrl-C."""


def _sender_name(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


class _Terminal:
    """The controlling terminal, if greenmeter has one (started in the background, it may
    be brought to the foreground later: ``fg``)."""

    def __init__(self) -> None:
        self.fd: int | None = None
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)  # not inherited (O_CLOEXEC)
        except OSError:
            return  # no controlling terminal: CI, cron, SLURM batch, a pipe
        try:
            os.tcgetpgrp(fd)
            self.fd = fd
        except OSError:
            os.close(fd)

    def foreground(self) -> int | None:
        try:
            return None if self.fd is None else os.tcgetpgrp(self.fd)
        except OSError:
            return None

    def give(self, pgid: int) -> None:
        """Make ``pgid`` the foreground group (SIGTTOU is blocked, so a background
        greenmeter may do this too)."""
        if self.fd is not None:
            try:
                os.tcsetpgrp(self.fd, pgid)
            except OSError:
                pass

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


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
    """An interrupting signal was relayed, or the command ended by one (the terminal's
    Ctrl-C reaches the command directly: its exit status 130 is how greenmeter knows)."""
    cpu_s: float
    """User + system CPU seconds of the command and the descendants it waited for."""


@dataclass
class SignalForwarder:
    """Owns ``RELAYED_SIGNALS`` for as long as greenmeter runs a command.

    Must be started before any other thread (the sampler's): threads inherit the blocked
    mask, and a blocked signal can then only be taken by this thread."""

    child_pgid: int | None = None
    """The command's process group (its pid) while it runs."""
    received: list[int] = field(default_factory=list)
    """Every interrupting signal greenmeter received, relayed or not."""
    relayed: list[int] = field(default_factory=list)
    original_mask: set[int] = field(default_factory=set)
    terminal: _Terminal | None = None
    _last: dict[tuple[int, int], float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SignalForwarder:
        self.original_mask = signal.pthread_sigmask(signal.SIG_BLOCK, RELAYED_SIGNALS)
        self.terminal = _Terminal()
        self._thread = threading.Thread(target=self._loop, name="greenmeter-signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        # Wake the thread now rather than waiting for a signal that may never come.
        if self._thread.is_alive():  # it ends only on this wake-up (or a bug's exception)
            signal.pthread_kill(self._thread.ident, signal.SIGHUP)
        self._thread.join()
        self.terminal.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, self.original_mask)

    def _loop(self) -> None:
        while True:  # until __exit__'s wake-up; no polling timeout, so no idle wake-ups
            info = signal.sigwaitinfo(RELAYED_SIGNALS)
            if self._stop.is_set() and info.si_pid == os.getpid():
                return  # __exit__'s wake-up (si_code cannot tell it: some kernels say SI_USER)
            try:
                self._take(info.si_signo, info.si_code, info.si_pid)
            except Exception:  # this thread must outlive any failure
                pass

    def _take(self, signo: int, code: int, sender: int) -> None:
        if signo in INTERRUPTING_SIGNALS:
            self.received.append(signo)
        pgid = self.child_pgid
        if pgid is None:
            return
        if signo == signal.SIGCONT and self.terminal.foreground() == os.getpgrp():
            self.terminal.give(pgid)  # fg: the command owns the terminal again
        now = time.monotonic()
        if code != _SI_KERNEL:
            previous = self._last.get((signo, sender))
            self._last[(signo, sender)] = now
            if previous is not None and now - previous < DUPLICATE_WINDOW_S:
                return  # the same sender's second copy (timeout: the child, then the group)
            if _sender_name(sender) in SIGNALS_EVERY_PROCESS:
                return  # the command got its own copy from the same sender
        if signo in INTERRUPTING_SIGNALS:
            self.relayed.append(signo)
        try:
            os.killpg(pgid, signo)
        except OSError:  # already gone
            pass

    def command_stopped(self, pgid: int, stop_signal: int) -> None:
        """The command stopped: take the terminal back and stop greenmeter too, so the
        shell gets its prompt (``fg`` continues greenmeter, which continues the command).
        A stop for reading the terminal before greenmeter handed it over is a race at
        start-up: hand it over and continue."""
        ours = os.getpgrp()
        if stop_signal in (signal.SIGTTIN, signal.SIGTTOU) and self.terminal.foreground() == ours:
            self.terminal.give(pgid)
            os.killpg(pgid, signal.SIGCONT)
            return
        if self.terminal.foreground() == pgid:
            self.terminal.give(ours)
        os.kill(os.getpid(), signal.SIGSTOP)


def _interrupted_by(status: int) -> bool:
    """The command died of, or reports as a shell would (128+N), an interrupting signal."""
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status) in INTERRUPTING_SIGNALS
    code = os.WEXITSTATUS(status) - exit_codes.SIGNAL_BASE
    return code in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _spawn(argv: list[str], forwarder: SignalForwarder, env: Mapping[str, str] | None) -> int:
    return os.posix_spawnp(
        argv[0],
        argv,
        os.environ if env is None else env,
        # The command gets the signal mask greenmeter was given, not the blocked set
        # above; and SIGPIPE/SIGXFSZ at default, undoing Python's start-up SIG_IGN
        # (as subprocess's restore_signals does).
        setsigmask=forwarder.original_mask,
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        setpgroup=0,  # the command leads its own process group
    )


def run_command(
    argv: list[str],
    forwarder: SignalForwarder,
    on_spawned: Callable[[int], None] = lambda pid: None,
    env: Mapping[str, str] | None = None,
) -> ChildOutcome:
    """Spawn ``argv`` (with ``env``, default greenmeter's own environment), wait for it,
    return how it ended.

    Raises :class:`CommandNotRunnable` if it cannot be started. A file without ``#!``
    that the kernel will not execute is run by ``/bin/sh``, as shells and execvp do."""
    if not argv[0]:  # an unset "$CMD": what a shell says
        raise CommandNotRunnable("'': command not found", exit_codes.NOT_FOUND)
    try:
        try:
            pid = _spawn(argv, forwarder, env)
        except OSError as exc:
            if exc.errno != errno.ENOEXEC:
                raise
            script = argv[0] if "/" in argv[0] else shutil.which(argv[0])
            pid = _spawn(["/bin/sh", script or argv[0], *argv[1:]], forwarder, env)
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
    terminal = forwarder.terminal
    if terminal is not None and terminal.foreground() == os.getpgrp():
        terminal.give(pid)
    forwarder.child_pgid = pid
    on_spawned(pid)
    while True:
        try:
            _, status, rusage = os.wait4(pid, os.WUNTRACED)
        except ChildProcessError:  # reaped elsewhere: nothing more can be known
            status, rusage = 0, None
            break
        except InterruptedError:
            continue
        if not os.WIFSTOPPED(status):
            break
        forwarder.command_stopped(pid, os.WSTOPSIG(status))
    forwarder.child_pgid = None
    if terminal is not None and terminal.foreground() == pid:
        terminal.give(os.getpgrp())
    received_while_running = bool(forwarder.relayed) or _interrupted_by(status)
    if os.WIFSIGNALED(status):
        code = exit_codes.SIGNAL_BASE + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
    cpu_s = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
    return ChildOutcome(code, received_while_running, cpu_s)
