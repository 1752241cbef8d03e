"""greenmeter under abuse: kill -9, vanished or full output directories, odd children,
many concurrent runs. In every case the command's run, output and exit code come first."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_report

PY = sys.executable


def _wait_for(predicate, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie answers kill(0) too; it has ended for every purpose here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _partial_report(path: Path) -> dict | None:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if report["partial"] and report["duration_s"] > 0.5 else None


# --- kill -9 of greenmeter ------------------------------------------------------------


def test_kill_9_leaves_a_valid_partial_report_no_half_row_and_the_command_running(
    greenmeter, tmp_path, gm_env
):
    # An earlier run's row, to see that the CSV comes out of the crash exactly as it was.
    assert (
        greenmeter(
            "run", "-q", "--json", "first.json", "--csv", "runs.csv", "--", PY, "-c", "pass"
        ).returncode
        == 0
    )
    csv_before = (tmp_path / "runs.csv").read_bytes()
    child = (
        "import os, time\n"
        "open('child.pid', 'w').write(str(os.getpid()))\n"
        "while not os.path.exists('finish'):\n"
        "    time.sleep(0.02)\n"
        "open('finished', 'w').close()\n"
    )
    gm = subprocess.Popen(
        [
            PY,
            "-m",
            "greenmeter",
            "run",
            "-q",
            "--checkpoint-interval",
            "0.2",
            "--json",
            "r.json",
            "--csv",
            "runs.csv",
            "--",
            PY,
            "-c",
            child,
        ],
        cwd=tmp_path,
        env=gm_env,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _partial_report(tmp_path / "r.json") is not None, "a checkpoint")
        gm.send_signal(signal.SIGKILL)
        assert gm.wait(timeout=30) == -signal.SIGKILL
        child_pid = int((tmp_path / "child.pid").read_text())

        report = read_report(tmp_path / "r.json")
        assert report["partial"] is True and report["exit_code"] is None
        assert report["command"] == [PY, "-c", child]
        assert report["duration_s"] > 0.5
        assert report["energy_j"]["cpu"] >= 0 and report["energy_j"]["dram"] >= 0
        assert report["energy_j"]["total"] == pytest.approx(
            report["energy_j"]["cpu"] + report["energy_j"]["dram"]
        )
        assert (tmp_path / "runs.csv").read_bytes() == csv_before
        # The history reader takes the checkpoint as the partial run it is.
        listed = greenmeter("report", "r.json", "runs.csv", "--group-by", "run", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        runs = {row["run"]: row for row in json.loads(listed.stdout)}
        assert runs[report["run_id"]]["partial"] == 1 and len(runs) == 2
        assert runs[report["run_id"]]["energy_j_sum"] == pytest.approx(report["energy_j"]["total"])

        # Decided behaviour (docs/robustness.md): the command outlives its monitor.
        assert _alive(child_pid)
        (tmp_path / "finish").touch()
        _wait_for(lambda: (tmp_path / "finished").exists(), "the command's normal end")
    finally:
        (tmp_path / "finish").touch()
        if gm.poll() is None:
            gm.kill()


# --- output directory removed, disk full ----------------------------------------------

REMOVE_OUT = (
    "import shutil, sys, time\n"
    "shutil.rmtree('out')\n"
    "time.sleep(0.6)\n"  # a few checkpoints fail while the command still runs
    "sys.stdout.write('command output\\n')\n"
    "sys.exit(int(sys.argv[1]))\n"
)


@pytest.mark.parametrize("child_code, expected", [(0, 125), (3, 3)])
def test_output_directory_removed_mid_run(greenmeter, tmp_path, child_code, expected):
    (tmp_path / "out").mkdir()
    (tmp_path / "tmp").mkdir()
    proc = greenmeter(
        "run",
        "--checkpoint-interval",
        "0.1",
        "--interval",
        "0.05",
        "--json",
        "out/r.json",
        "--csv",
        "out/runs.csv",
        "--",
        PY,
        "-c",
        REMOVE_OUT,
        str(child_code),
        env={"TMPDIR": str(tmp_path / "tmp")},
    )
    err = proc.stderr.decode()
    assert proc.returncode == expected, err
    assert proc.stdout == b"command output\n"  # the command was not disturbed
    assert "Traceback" not in err
    assert err.count("checkpoint not written") == 1  # said once, not every 0.1 s
    assert err.count("timeline not written") == 0  # the report's failure says it all
    assert len(err.split("\n")) < 24  # the summary and a few one-time lines, no flood
    assert "report not written to out/r.json: No such file or directory" in err
    assert "CSV row not appended to out/runs.csv: No such file or directory" in err
    assert "CO2e" in err  # the summary is still printed
    saved = list((tmp_path / "tmp").glob("greenmeter-*.json"))
    assert len(saved) == 1 and f"saved to {saved[0]} instead" in err
    report = read_report(saved[0])
    assert report["exit_code"] == child_code and report["partial"] is False
    assert report["energy_j"]["cpu"] > 0


def _mount_tiny_tmpfs(where: Path) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def tiny_tmpfs(tmp_path):
    where = tmp_path / "tiny"
    if not _mount_tiny_tmpfs(where):
        pytest.skip(
            "cannot mount a tmpfs here (needs root); "
            "test_append_row_cuts_off_a_half_written_row covers ENOSPC in-process"
        )
    yield where
    subprocess.run(["umount", "-l", str(where)], check=True)


def test_disk_full_on_a_real_file_system(greenmeter, tmp_path, tiny_tmpfs):
    # A CSV whose last page has 200 bytes left, then a file taking every other page: the
    # row (~400 bytes) starts to fit, then ENOSPC. The JSON does not fit at all.
    page = os.sysconf("SC_PAGE_SIZE")
    runs = tiny_tmpfs / "runs.csv"
    runs.write_text("run_id\n" + "x" * (page - 200 - 7))
    filler = tiny_tmpfs / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * page)
        except OSError:
            pass
    csv_before = runs.read_bytes()
    (tmp_path / "tmp").mkdir()
    proc = greenmeter(
        "run",
        "--json",
        str(tiny_tmpfs / "r.json"),
        "--csv",
        str(runs),
        "--",
        PY,
        "-c",
        "print('fine')",
        env={"TMPDIR": str(tmp_path / "tmp")},
    )
    err = proc.stderr.decode()
    assert proc.returncode == 125, err
    assert proc.stdout == b"fine\n"
    assert "No space left on device" in err and "Traceback" not in err
    assert runs.read_bytes() == csv_before  # no half row
    assert not [p for p in tiny_tmpfs.iterdir() if p.name not in ("runs.csv", "filler")]
    assert len(list((tmp_path / "tmp").glob("greenmeter-*.json"))) == 1
    assert "CO2e" in err


def test_append_row_cuts_off_a_half_written_row(tmp_path, monkeypatch):
    """ENOSPC in-process (no mount needed): the kernel takes half the row, then the disk is full."""
    from greenmeter.reports import csv_row as report_csv

    path = tmp_path / "runs.csv"
    row = {name: "1" for name in report_csv.COLUMNS}
    report_csv.append_row(path, row)
    before = path.read_bytes()
    real_write = os.write
    calls = []

    def full_disk_write(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_csv.os, "write", full_disk_write)
    with pytest.raises(OSError, match="No space left"):
        report_csv.append_row(path, row)
    assert len(calls) == 2 and path.read_bytes() == before
    monkeypatch.undo()
    report_csv.append_row(path, row)  # and the file takes rows again afterwards
    assert len(list(csv.DictReader(path.open()))) == 2


# --- odd children --------------------------------------------------------------------


def _cpu(report: dict) -> dict:
    return next(c for c in report["components"] if c["kind"] == "cpu")


def _assert_sane(report: dict, max_cpu_s: float) -> None:
    cores = os.cpu_count() or 1
    cpu_s = _cpu(report)["details"]["cpu_s"]
    assert 0 <= cpu_s <= min(max_cpu_s, report["duration_s"] * cores + 0.05)
    for comp in report["components"]:
        assert comp["energy_j"] >= 0 and comp["samples"] >= 2
        assert comp["mean_power_w"] is None or comp["mean_power_w"] >= 0
    assert report["energy_j"]["total"] >= 0


def test_child_that_closes_stdout(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "--json",
        "r.json",
        "--",
        "sh",
        "-c",
        "echo before; exec >&- ; sleep 0.3; echo lost 2>/dev/null; exit 4",
    )
    assert proc.returncode == 4
    assert proc.stdout == b"before\n"
    assert "CO2e" in proc.stderr.decode()  # greenmeter's own stderr is untouched
    report = read_report(tmp_path / "r.json")
    assert report["exit_code"] == 4
    _assert_sane(report, max_cpu_s=1.0)


DAEMON = """\
import os, sys, time
if os.fork():
    sys.exit(0)                      # the command itself ends at once
os.setsid()
if os.fork():
    os._exit(0)
fd = os.open(os.devnull, os.O_RDWR)  # a proper daemon lets go of the terminal
for n in (0, 1, 2):
    os.dup2(fd, n)
open('daemon.pid', 'w').write(str(os.getpid()))
t = time.process_time()
while not os.path.exists('stop-daemon'):   # busy, so its CPU time would show if counted
    if time.process_time() - t > 60:
        break
"""


def test_daemonising_child_ends_the_run_and_is_not_counted(greenmeter, tmp_path):
    try:
        proc = greenmeter("run", "-q", "--json", "r.json", "--", PY, "-c", DAEMON)
        assert proc.returncode == 0, proc.stderr
        _wait_for(lambda: (tmp_path / "daemon.pid").exists(), "the daemon's pid file")
        daemon_pid = int((tmp_path / "daemon.pid").read_text())
        # The run ended with the direct child, while the detached daemon still runs.
        assert _alive(daemon_pid)
        report = read_report(tmp_path / "r.json")
        assert report["exit_code"] == 0
        # The command (one Python start-up) used well under a second of CPU; the busy
        # daemon, detached from the tree, is not in the figure.
        _assert_sane(report, max_cpu_s=1.0)
    finally:
        (tmp_path / "stop-daemon").touch()


def test_thousand_short_processes(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "-q",
        "--interval",
        "0.05",
        "--json",
        "r.json",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done",
    )
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    _assert_sane(report, max_cpu_s=60.0)
    # 1000 fork+exec cost real CPU, all of it in processes gone before the end: the
    # figure is the kernel's rusage of the reaped tree, not zero.
    assert _cpu(report)["details"]["cpu_s"] > 0.05


# --- greenmeter's own stderr gone ----------------------------------------------------


def test_closed_stderr_keeps_stdout_clean_and_exit_code(tmp_path, gm_env):
    # Python starts with sys.stderr = None when fd 2 is closed: print(file=None) would
    # write greenmeter's messages to the command's stdout.
    proc = subprocess.run(
        [
            PY,
            "-m",
            "greenmeter",
            "run",
            "--json",
            "r.json",
            "--",
            PY,
            "-c",
            "print('only me'); raise SystemExit(6)",
        ],
        cwd=tmp_path,
        env=gm_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=lambda: os.close(2),
    )
    assert proc.returncode == 6
    assert proc.stdout == b"only me\n"
    assert read_report(tmp_path / "r.json")["exit_code"] == 6


def test_stderr_to_a_closed_pipe(tmp_path, gm_env):
    r, w = os.pipe()
    os.close(r)  # nobody will ever read greenmeter's summary
    try:
        proc = subprocess.run(
            [PY, "-m", "greenmeter", "run", "--json", "r.json", "--", PY, "-c", "print('ok')"],
            cwd=tmp_path,
            env=gm_env,
            stdout=subprocess.PIPE,
            stderr=w,
            timeout=60,
        )
    finally:
        os.close(w)
    assert proc.returncode == 0 and proc.stdout == b"ok\n"
    assert read_report(tmp_path / "r.json")["exit_code"] == 0


# --- concurrency -------------------------------------------------------------------


def test_sixteen_concurrent_runs_append_sixteen_intact_rows(tmp_path, gm_env):
    procs = [
        subprocess.Popen(
            [
                PY,
                "-m",
                "greenmeter",
                "run",
                "-q",
                "--region",
                "DE",
                "--json",
                f"r{i}.json",
                "--csv",
                "shared.csv",
                "--",
                PY,
                "-c",
                f"print({i})",
            ],
            cwd=tmp_path,
            env=gm_env,
            stdout=subprocess.PIPE,
        )
        for i in range(16)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 16
    assert outs == [f"{i}\n".encode() for i in range(16)]
    text = (tmp_path / "shared.csv").read_text()
    assert text.endswith("\n") and text.count("\nrun_id,") == 0 and text.startswith("run_id,")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 16
    header = text.splitlines()[0].split(",")
    assert all(
        None not in row and None not in row.values() and len(row) == len(header) for row in rows
    )
    reports = [read_report(tmp_path / f"r{i}.json") for i in range(16)]
    by_id = {row["run_id"]: row for row in rows}
    assert set(by_id) == {r["run_id"] for r in reports}
    for r in reports:
        row = by_id[r["run_id"]]
        assert json.loads(row["command"]) == r["command"]
        assert float(row["energy_total_j"]) == round(r["energy_j"]["total"], 6)
        assert float(row["co2_g"]) == pytest.approx(r["carbon"]["co2_g"], rel=1e-6, abs=1e-9)
