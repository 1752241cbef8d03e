"""``run --start-within``: waits for the greenest start, then runs; the report records the wait
and the expected and actual intensity; a signal during the wait means the command never starts."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from greenmeter.carbon.intensity_series import parse_timestamp

from conftest import MARKER_CHILD, assert_refused


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def intensity_file(tmp_path, green_in_s: float):
    """500 g/kWh now, 100 from ``green_in_s`` seconds ahead for an hour, then 400."""
    now = int(time.time())
    path = tmp_path / "forecast.csv"
    path.write_text(
        f"timestamp,gCO2e/kWh\n{iso(now - 60)},500\n{iso(now + green_in_s)},100\n"
        f"{iso(now + green_in_s + 3600)},400\n"
    )
    return path, now + green_in_s


def run_on_a_terminal(tmp_path, gm_env, *args) -> tuple[int, str]:
    """greenmeter run with stderr on a pseudo-terminal: (exit code, what the terminal showed)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenmeter", "run", *args],
        cwd=tmp_path, env=gm_env, stderr=slave, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.wait(timeout=60), seen.decode(errors="replace").replace("\x1b[2K", "")


def test_waits_for_the_green_step_with_a_countdown_then_runs_and_records_it(tmp_path, gm_env):
    # 10 s ahead: room for greenmeter's start-up on a loaded machine
    path, green_s = intensity_file(tmp_path, 10)
    code, shown = run_on_a_terminal(
        tmp_path, gm_env, "--region", "DE", "--intensity-file", str(path), "--start-within", "60s",
        "--expected-duration", "2s", "--json", "r.json", "--csv", "r.csv", "--", *MARKER_CHILD,
    )  # fmt: skip
    assert code == 0, shown
    assert (tmp_path / "child-ran").exists()
    assert "waiting until" in shown and "Ctrl-C: do not start" in shown
    assert "\rgreenmeter: starting in 0:00:0" in shown  # the countdown, one line rewritten
    report = json.loads((tmp_path / "r.json").read_text())
    start = report["scheduled_start"]
    assert parse_timestamp(start["planned_start"]) == green_s
    assert parse_timestamp(report["started_at"]) >= green_s
    assert start["waited_s"] > 0 and start["within_s"] == 60 and start["expected_duration_s"] == 2
    assert start["rests_on"] == "forecast from file:forecast.csv" and start["kind"] == "forecast"
    assert start["expected_intensity_g_per_kwh"] == 100 and start["expected_saving_pct"] > 50
    # the run's own intensity, from the same file over the hours it really ran
    assert start["actual_intensity_g_per_kwh"] == 100
    assert start["actual_source"] == "file:forecast.csv"


def test_with_the_profile_the_actual_intensity_is_not_guessed(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "--region", "ES", "--start-within", "1s", "--expected-duration", "1s",
        "--json", "r.json", "--csv", "r.csv", "--", "true",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    start = json.loads((tmp_path / "r.json").read_text())["scheduled_start"]
    assert "historic average for this month and hour" in start["rests_on"]
    assert start["expected_low_g_per_kwh"] <= start["expected_intensity_g_per_kwh"]
    assert start["actual_intensity_g_per_kwh"] is None and start["actual_source"] is None


def test_never_waits_unless_asked(greenmeter, tmp_path):
    proc = greenmeter("run", "--region", "DE", "--json", "r.json", "--csv", "r.csv", "--", "true")
    assert proc.returncode == 0
    assert json.loads((tmp_path / "r.json").read_text())["scheduled_start"] is None
    assert b"waiting" not in proc.stderr


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_wait_means_the_command_never_starts(tmp_path, gm_env, signo):
    path, _ = intensity_file(tmp_path, 300)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "greenmeter", "run", "--region", "DE", "--intensity-file", str(path),
            "--start-within", "10min", "--expected-duration", "1min", "--json", "r.json", "--csv", "r.csv",
            "--", *MARKER_CHILD,
        ],
        cwd=tmp_path, env=gm_env, stderr=subprocess.PIPE,
    )  # fmt: skip
    first = proc.stderr.readline().decode()  # said once the wait has begun
    assert "waiting until" in first
    time.sleep(0.2)  # into the sleep, past the handlers' installation
    proc.send_signal(signo)
    rest = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 128 + signo
    assert f"{signal.Signals(signo).name} during the wait for the greener start" in rest
    assert "the command was not started" in rest
    assert not (tmp_path / "child-ran").exists() and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--start-within", "8h"], "--start-within needs --region"),
        (["--region", "IT", "--start-within", "8h"], "no hourly history ships for zone ITA"),
        (["--region", "DE", "--start-within", "soon"], "not a number"),
    ],
)
def test_refused_before_launch(greenmeter, tmp_path, args, needle):
    proc = greenmeter("run", *args, "--json", "r.json", "--csv", "r.csv", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, needle)
