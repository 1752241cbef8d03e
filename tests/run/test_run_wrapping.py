"""`greenmeter run` leaves the command alone: exit codes, stdio, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import read_report

PY = sys.executable


@pytest.mark.parametrize("code", [0, 7])
def test_exit_code_is_the_commands(greenmeter, tmp_path, code):
    proc = greenmeter("run", "-q", "--json", "r.json", "--", PY, "-c", f"raise SystemExit({code})")
    assert proc.returncode == code, proc.stderr
    assert read_report(tmp_path / "r.json")["exit_code"] == code


def test_death_by_signal_is_128_plus_n(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "-q",
        "--json",
        "r.json",
        "--",
        PY,
        "-c",
        "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
    )
    assert proc.returncode == 128 + signal.SIGTERM == 143
    assert read_report(tmp_path / "r.json")["exit_code"] == 143


def test_command_not_found_is_127(greenmeter, tmp_path):
    proc = greenmeter("run", "--", "no-such-command-xyz", "arg")
    assert proc.returncode == 127
    assert proc.stderr.decode().strip() == "greenmeter: no-such-command-xyz: command not found"


def test_not_executable_is_126(greenmeter, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    proc = greenmeter("run", "--", str(script))
    assert proc.returncode == 126
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.decode().count("\n") == 1


def test_stdout_is_byte_exact_and_stdin_passes_through(greenmeter, tmp_path):
    payload = os.urandom(5 * 1024 * 1024)  # every byte value, no newline discipline
    echo = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"
    proc = greenmeter("run", "-q", "--", PY, "-c", echo, input=payload)
    assert proc.returncode == 0
    assert proc.stdout == payload
    assert b"greenmeter" not in proc.stdout


def test_own_output_only_on_stderr(greenmeter):
    proc = greenmeter("run", "--", PY, "-c", "print('hello')")
    assert proc.stdout == b"hello\n"
    assert b"CO2e" in proc.stderr


def test_options_after_the_command_belong_to_it(greenmeter):
    proc = greenmeter("run", "-q", PY, "-c", "import sys; print(sys.argv[1:])", "--json", "x", "-q")
    assert proc.stdout == b"['--json', 'x', '-q']\n"


def test_sigterm_is_forwarded_and_report_written(greenmeter, tmp_path, gm_env):
    # The child traps SIGTERM, records it, and exits 3: greenmeter must pass it on once,
    # wait, write the report marked interrupted, and exit as the child did.
    child = (
        "import signal, sys, time\n"
        "def h(n, f):\n"
        "    open('got', 'a').write(str(n) + '\\n'); sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, h)\n"
        "open('ready', 'w').close()\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [PY, "-m", "greenmeter", "run", "-q", "--json", "r.json", "--", PY, "-c", child],
        cwd=tmp_path,
        env=gm_env,
        stderr=subprocess.PIPE,
    )
    _wait_for(tmp_path / "ready")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 3, proc.stderr.read()
    assert (tmp_path / "got").read_text() == f"{int(signal.SIGTERM)}\n"
    report = read_report(tmp_path / "r.json")
    assert report["interrupted"] is True and report["exit_code"] == 3


def test_sigint_from_kill_kills_an_untrapping_child(greenmeter, tmp_path, gm_env):
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "greenmeter",
            "run",
            "-q",
            "--json",
            "r.json",
            "--",
            PY,
            "-c",
            "open('ready','w').close(); import time; time.sleep(30)",
        ],
        cwd=tmp_path,
        env=gm_env,
        stderr=subprocess.PIPE,
    )
    _wait_for(tmp_path / "ready")
    proc.send_signal(signal.SIGINT)
    # An uncaught KeyboardInterrupt makes Python die of SIGINT itself: 128 + 2.
    assert proc.wait(timeout=30) == 130
    assert read_report(tmp_path / "r.json")["interrupted"] is True


def _wait_for(path, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
