"""Every signal reaches the command exactly once, however it is sent: to greenmeter's pid,
to its process group, by timeout(1), by a manager that signals every process itself, or
by the terminal (Ctrl-C, Ctrl-Z and fg, in a real terminal under tmux)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PY = sys.executable

# Counts every signal it gets, one line each in ``got``; says it is ready in ``ready``;
# ends on SIGTERM (exit 0) or after 20 s.
COUNTER = """
import os, signal, sys, time
names = sys.argv[1].split(",")
def note(signo, frame):
    with open("got", "a") as f:
        f.write(signal.Signals(signo).name + "\\n")
    if signo == signal.SIGTERM:
        sys.exit(0)
for name in names:
    signal.signal(getattr(signal, name), note)
open("ready", "w").close()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(3)
"""
HANDLED = "SIGINT,SIGTERM,SIGHUP,SIGQUIT,SIGUSR1,SIGUSR2,SIGCONT"


def wait_for(path: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)


def got(tmp_path: Path) -> list[str]:
    path = tmp_path / "got"
    return path.read_text().split() if path.exists() else []


def start(tmp_path: Path, gm_env: dict, *prefix: str) -> subprocess.Popen:
    """greenmeter as a shell job: the leader of a process group of its own."""
    (tmp_path / "counter.py").write_text(COUNTER)
    argv = [*prefix, PY, "-m", "greenmeter", "run", "-q", "--json", "r.json", "--csv", "r.csv"]
    return subprocess.Popen(
        [*argv, "--", PY, "counter.py", HANDLED],
        cwd=tmp_path,
        env=gm_env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "r.json").read_text())


def test_a_signal_to_greenmeters_group_reaches_the_command_once(tmp_path, gm_env):
    proc = start(tmp_path, gm_env)
    wait_for(tmp_path / "ready")
    os.killpg(proc.pid, signal.SIGINT)  # kill -INT -PGID: what tmux and supervisors do
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    assert got(tmp_path) == ["SIGINT", "SIGTERM"]
    assert report(tmp_path)["interrupted"] is True


def test_timeout_signals_the_command_once(tmp_path, gm_env):
    proc = start(tmp_path, gm_env, "timeout", "-s", "TERM", "2")
    assert proc.wait(timeout=30) == 124  # timeout's own code when it had to signal
    # timeout signals greenmeter, then its whole group, then sends SIGCONT to both.
    assert got(tmp_path).count("SIGTERM") == 1, got(tmp_path)
    assert report(tmp_path)["interrupted"] is True


@pytest.mark.parametrize("signo", [signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT, signal.SIGHUP])
def test_other_signals_are_relayed_and_greenmeter_outlives_them(tmp_path, gm_env, signo):
    proc = start(tmp_path, gm_env)
    wait_for(tmp_path / "ready")
    os.kill(proc.pid, signo)  # SLURM's preemption notice is --signal=USR1@60
    time.sleep(0.5)
    assert proc.poll() is None, "greenmeter died of the signal"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert got(tmp_path) == [signo.name, "SIGTERM"]
    assert report(tmp_path)["interrupted"] is True


def test_a_manager_that_signals_every_process_is_not_doubled(tmp_path, gm_env):
    """slurmstepd (scancel) and systemd (KillMode=control-group) signal the command
    themselves: greenmeter, signalled by the same sender, must not add a second copy."""
    kill = shutil.which("kill", path="/bin:/usr/bin")
    if kill is None:
        pytest.skip("no kill(1) binary (procps) to play slurmstepd")
    slurmstepd = tmp_path / "slurmstepd"  # its command name is what greenmeter reads
    shutil.copy(kill, slurmstepd)
    proc = start(tmp_path, gm_env)
    wait_for(tmp_path / "ready")
    command_pid = int(
        subprocess.run(
            ["pgrep", "-f", "counter.py", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()[0]
    )
    subprocess.run([str(slurmstepd), "-s", "TERM", str(proc.pid), str(command_pid)], check=True)
    assert proc.wait(timeout=30) == 0
    time.sleep(0.2)
    assert got(tmp_path) == ["SIGTERM"]


# --- in a real terminal --------------------------------------------------------------

TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


class Terminal:
    """A bash with job control in a tmux pane of a private tmux server."""

    def __init__(self, tmp_path: Path, env: dict):
        self.socket = str(tmp_path / "tmux.sock")
        self.tmp_path = tmp_path
        self._tmux(
            "new-session", "-d", "-x", "200", "-y", "50", "-s", "t",
            f"cd {tmp_path} && exec env -i PATH={env['PATH']} HOME={tmp_path} "
            f"PYTHONPATH={env['PYTHONPATH']} "
            f"GREENMETER_POWERCAP_ROOT={env['GREENMETER_POWERCAP_ROOT']} "
            "PS1='$ ' bash --norc --noprofile -i",
        )  # fmt: skip

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            [TMUX, "-S", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def type(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for_text(self, text: str, timeout_s: float = 20.0) -> str:
        deadline = time.monotonic() + timeout_s
        while text not in (screen := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never shown:\n{screen}")
            time.sleep(0.05)
        return screen

    def close(self) -> None:
        subprocess.run([TMUX, "-S", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(tmp_path, gm_env):
    (tmp_path / "counter.py").write_text(COUNTER)
    term = Terminal(tmp_path, gm_env)
    yield term
    term.close()


GM = f"{PY} -m greenmeter run -q --json r.json --csv r.csv --"


@needs_tmux
def test_ctrl_c_reaches_the_command_once(terminal, tmp_path):
    terminal.type(f"{GM} {PY} counter.py {HANDLED}; echo EXIT=$?", "Enter")
    wait_for(tmp_path / "ready")
    terminal.type("C-c")
    time.sleep(0.5)
    terminal.type("C-\\")  # SIGQUIT, handled too
    time.sleep(0.5)
    assert got(tmp_path) == ["SIGINT", "SIGQUIT"]
    (tmp_path / "ready").unlink()
    # The command ignores both (it counts them), so end it the usual way.
    os.kill(int(subprocess.check_output(["pgrep", "-f", "counter.py"]).split()[0]), signal.SIGTERM)
    terminal.wait_for_text("EXIT=0")


@needs_tmux
def test_ctrl_c_reaches_a_command_that_made_its_own_group(terminal, tmp_path):
    script = "import os, time; os.setpgid(0, 0); open('ready', 'w').close(); time.sleep(20)"
    terminal.type(f'{GM} {PY} -c "{script}"; echo EXIT=$?', "Enter")
    wait_for(tmp_path / "ready")
    terminal.type("C-c")
    terminal.wait_for_text("EXIT=130", timeout_s=10)
    assert report(tmp_path)["interrupted"] is True


@needs_tmux
def test_ctrl_z_stops_both_and_fg_continues_both(terminal, tmp_path):
    # Counts SIGCONT only: SIGTSTP keeps its default action (stop).
    terminal.type(f"{GM} {PY} counter.py SIGCONT,SIGTERM", "Enter")
    wait_for(tmp_path / "ready")
    terminal.type("C-z")
    terminal.wait_for_text("Stopped")  # the shell has its prompt back
    command = int(subprocess.check_output(["pgrep", "-f", "counter.py"]).split()[0])
    state = Path(f"/proc/{command}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state == "T"  # the command is stopped too
    terminal.type("fg", "Enter")
    deadline = time.monotonic() + 10
    while "SIGCONT" not in got(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got(tmp_path) == ["SIGCONT"]  # continued once
    os.kill(command, signal.SIGTERM)
    # (bash ran the rest of the line when the job stopped: no EXIT= after fg.)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (tmp_path / "r.csv").exists():  # the row comes after the final report
            break
        time.sleep(0.05)
    final = report(tmp_path)
    assert final["partial"] is False and final["exit_code"] == 0
    assert got(tmp_path) == ["SIGCONT", "SIGTERM"]


@needs_tmux
def test_a_background_run_that_reads_the_terminal_gets_it_after_fg(terminal, tmp_path):
    script = "import sys; open('ready', 'w').close(); sys.exit(0 if input() == 'hello' else 1)"
    terminal.type(f'{GM} {PY} -c "{script}" &', "Enter")
    wait_for(tmp_path / "ready")
    terminal.type("Enter")  # the shell reports the stopped job at its next prompt
    terminal.wait_for_text("Stopped")
    terminal.type("fg", "Enter")
    time.sleep(0.5)
    terminal.type("hello", "Enter")
    deadline = time.monotonic() + 20
    while not (tmp_path / "r.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert report(tmp_path)["exit_code"] == 0
