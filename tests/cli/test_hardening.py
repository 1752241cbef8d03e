"""Issue 12: outputs that could destroy data, input refused before launch in one line,
and answers that were wrong. Each test failed before its fix."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from conftest import MARKER_CHILD, assert_refused, read_report

PY = sys.executable


def one_line_error(proc) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 125, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- outputs that destroy data ---------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a device node")
def test_a_device_is_written_to_never_replaced(greenmeter, tmp_path):
    # A null device of the test's own (c 1 3): the bug this guards against replaced the
    # machine's /dev/null with a regular file, so the test never touches the real one.
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    proc = greenmeter("run", "-q", "--json", "null", "--csv", "null", "--", "true")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode)
    assert not list(tmp_path.glob("null*.csv"))  # no timeline beside a device


def test_a_symlinked_output_keeps_its_link(greenmeter, tmp_path):
    (tmp_path / "link.json").symlink_to("real.json")
    proc = greenmeter("run", "-q", "--json", "link.json", "--csv", "r.csv", "--", "true")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "link.json").is_symlink()
    assert read_report(tmp_path / "real.json")["exit_code"] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--json", "x.json", "--csv", "x.json"],
        ["--json", "a.json", "--html", "a.json"],
        ["--json", "h.json", "--csv", "h.timeline.csv"],
        ["--json", "r.json", "--summary-md", "./r.json"],
    ],
)
def test_two_outputs_in_one_file_are_refused(greenmeter, tmp_path, args):
    assert_refused(greenmeter("run", *args, "--", *MARKER_CHILD), tmp_path, "its own file")


def test_an_append_never_merges_with_a_torn_last_line(greenmeter, tmp_path):
    assert (
        greenmeter("run", "-q", "--json", "a.json", "--csv", "h.csv", "--", "true").returncode == 0
    )
    whole = (tmp_path / "h.csv").read_text()
    (tmp_path / "h.csv").write_text(whole + whole.splitlines()[1][:40])  # half a row, no newline
    assert (
        greenmeter("run", "-q", "--json", "b.json", "--csv", "h.csv", "--", "true").returncode == 0
    )
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[3].startswith(read_report(tmp_path / "b.json")["run_id"])
    proc = greenmeter("report", "h.csv", "--format", "json")
    assert json.loads(proc.stdout)[0]["runs"] == 2  # the torn row is skipped, ours is read
    assert b"h.csv:3: skipped" in proc.stderr


@pytest.mark.parametrize("option", ["--json", "--csv", "--html", "--summary-md"])
def test_a_path_ending_in_a_slash_or_a_dash_is_refused(greenmeter, tmp_path, option):
    assert_refused(greenmeter("run", option, "newdir/", "--", *MARKER_CHILD), tmp_path, "newdir/")
    assert not (tmp_path / "newdir").exists()
    assert_refused(greenmeter("run", option, "-", "--", *MARKER_CHILD), tmp_path, "'-'")


# --- refused before launch -------------------------------------------------------------


def test_an_uncreatable_default_directory_is_refused(greenmeter, tmp_path):
    proc = greenmeter("run", "--", *MARKER_CHILD, cwd="/proc")
    assert "greenmeter-runs" in one_line_error(proc)
    (tmp_path / "greenmeter-runs").write_text("not a directory")
    assert_refused(greenmeter("run", "--", *MARKER_CHILD), tmp_path, "not a directory")


@pytest.mark.parametrize("name", ["/proc/x.json", "a" * 245 + ".json", "b" * 300 + ".json"])
def test_a_report_that_could_not_be_written_is_refused(greenmeter, tmp_path, name):
    assert_refused(greenmeter("run", "--json", name, "--", *MARKER_CHILD), tmp_path, "--json")


def test_an_empty_command_name_is_not_found(greenmeter):
    proc = greenmeter("run", "-q", "--json", "r.json", "--csv", "r.csv", "--", "")
    assert proc.returncode == 127 and b"command not found" in proc.stderr


def test_text_that_is_not_utf8_is_carried_escaped(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "-q", "--units", "5", "--unit-name", "u\udcff", "--html", "p.html",
        "--json", "r.json", "--csv", "r.csv", "--", "printf", "%s", "\udcff",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"\xff"
    assert read_report(tmp_path / "r.json")["unit_name"] == "u\udcff"
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 2
    assert "u\\udcff" in (tmp_path / "r.csv").read_text()  # escaped, the row whole
    assert (tmp_path / "p.html").read_bytes().decode("utf-8")


def test_a_home_that_cannot_be_found_still_gives_a_cache(monkeypatch):
    import pwd

    from greenmeter.carbon.providers import cache_dir

    monkeypatch.delenv("HOME", raising=False)

    def no_entry(uid):
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert cache_dir({}).name == "greenmeter"


def test_a_huge_intensity_field_is_one_line(greenmeter, tmp_path):
    (tmp_path / "big.csv").write_text("timestamp,g\n2024-01-01T00:00Z," + "9" * 200_000 + "\n")
    proc = greenmeter("run", "--intensity-file", "big.csv", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "big.csv")


@pytest.mark.parametrize(
    "args",
    [
        ["report", "h.csv", "--since", "1000000d"],
        ["report", "h.csv", "-o", "/proc/x"],
        ["export", "h.csv", "--format", "codecarbon", "-o", "/proc/x"],
        ["html", "r.json", "-o", "/proc/x"],
    ],
)
def test_history_commands_refuse_in_one_line(greenmeter, args):
    assert (
        greenmeter("run", "-q", "--json", "r.json", "--csv", "h.csv", "--", "true").returncode == 0
    )
    one_line_error(greenmeter(*args))


def test_a_full_disk_under_a_history_output_is_one_line(greenmeter):
    assert (
        greenmeter("run", "-q", "--json", "r.json", "--csv", "h.csv", "--", "true").returncode == 0
    )
    assert "No space left" in one_line_error(greenmeter("report", "h.csv", "-o", "/dev/full"))


@pytest.mark.parametrize("setting", ["repeat = 2.9", "warmup = 0.5"])
def test_a_fraction_of_a_repetition_is_refused(greenmeter, tmp_path, setting):
    (tmp_path / "greenmeter.toml").write_text(setting + "\n")
    assert_refused(greenmeter("run", "--", *MARKER_CHILD), tmp_path, "whole number")


def test_a_settings_file_with_a_byte_order_mark_is_read(greenmeter, tmp_path):
    (tmp_path / "greenmeter.toml").write_bytes(b"\xef\xbb\xbfregion = 'FR'\n")
    proc = greenmeter("run", "-q", "--json", "r.json", "--csv", "r.csv", "--", "true")
    assert proc.returncode == 0, proc.stderr
    assert read_report(tmp_path / "r.json")["carbon"]["region"] == "FR"


# --- wrong answers ---------------------------------------------------------------------


def _history(tmp_path: Path, name: str, energies: list[float]) -> Path:
    from synthetic_runs import machine, points, report

    directory = tmp_path / name
    directory.mkdir()
    comps = machine(gpus=0, packages=1)
    for i, joules in enumerate(energies):
        data = report(comps, points(comps, 10, 5.0), run_id=f"{name}-{i}")
        data["energy_j"]["total"] = joules
        (directory / f"{i}.json").write_text(json.dumps(data))
    return directory


def test_zero_variance_is_a_certain_difference(greenmeter, tmp_path):
    base, cand = _history(tmp_path, "base", [0.0, 0.0]), _history(tmp_path, "cand", [5.0, 5.0])
    proc = greenmeter("compare", str(base), str(cand), "--max-increase", "5%")
    assert proc.returncode == 122, proc.stdout + proc.stderr
    assert b"significantly higher" in proc.stdout


def test_huge_energies_compare_without_a_traceback(greenmeter, tmp_path):
    base = _history(tmp_path, "base", [1e308, 0.9e308])
    cand = _history(tmp_path, "cand", [1e307, 2e307])
    proc = greenmeter("compare", str(base), str(cand), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metrics"][0]["significant"] is True


def test_reports_of_another_schema_are_skipped_and_named(greenmeter, tmp_path):
    runs = _history(tmp_path, "runs", [10.0, 20.0])
    other = json.loads((runs / "1.json").read_text()) | {"schema_version": 3, "run_id": "v3"}
    (runs / "2.json").write_text(json.dumps(other))
    proc = greenmeter("report", str(runs), "--format", "json")
    assert json.loads(proc.stdout)[0]["runs"] == 2
    assert b"2.json: report schema_version 3, this greenmeter reads 1 and 2" in proc.stderr


def test_the_command_gets_exactly_greenmeters_environment(tmp_path, gm_env):
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": gm_env["PYTHONPATH"],
           "GREENMETER_POWERCAP_ROOT": gm_env["GREENMETER_POWERCAP_ROOT"]}  # fmt: skip
    proc = subprocess.run(
        [PY, "-m", "greenmeter", "run", "-q", "--json", "r.json", "--csv", "r.csv", "--", "env"],
        cwd=tmp_path, env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    got = dict(line.split("=", 1) for line in proc.stdout.decode().splitlines())
    assert got.pop("GREENMETER_UNITS_FILE")
    assert got.pop("GREENMETER_CONTROL")  # the two documented additions
    assert got == env  # no LC_CTYPE=C.UTF-8 from Python's locale coercion


def test_a_script_without_a_shebang_runs_with_sh(greenmeter, tmp_path):
    script = tmp_path / "plain.sh"
    script.write_text("echo from-sh $1\n")
    script.chmod(0o755)
    proc = greenmeter("run", "-q", "--json", "r.json", "--csv", "r.csv", "--", "./plain.sh", "x")
    assert proc.returncode == 0 and proc.stdout == b"from-sh x\n", proc.stderr


def test_a_dash_is_stdout_for_html_and_refused_beside_a_report(greenmeter, tmp_path):
    assert (
        greenmeter("run", "-q", "--json", "r.json", "--csv", "h.csv", "--", "true").returncode == 0
    )
    proc = greenmeter("html", "r.json", "-o", "-")
    assert proc.returncode == 0 and proc.stdout.startswith(b"<!DOCTYPE html>")
    assert not (tmp_path / "-").exists()
    one_line_error(greenmeter("report", "r.json", "--html", "-"))


def test_bare_greenmeter_prints_its_help(greenmeter):
    proc = greenmeter()
    assert proc.returncode == 0
    assert b"Commands:" in proc.stdout and b"run" in proc.stdout


def test_gpus_that_select_nothing_are_said(greenmeter, tmp_path):
    from ctypes.util import find_library

    if find_library("nvidia-ml"):
        pytest.skip("this machine has an NVIDIA driver")
    proc = greenmeter(
        "run", "-q", "--gpus", "99", "--json", "r.json", "--csv", "r.csv", "--", "true"
    )
    assert proc.returncode == 0
    assert b"--gpus 99 selects nothing" in proc.stderr


def test_secrets_can_be_kept_out_of_the_record(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "-q", "--redact", r"tok_\w+", "--redact-value-of", "--password", "--html",
        "r.html", "--json", "r.json", "--csv", "r.csv", "--summary-md", "s.md", "--",
        PY, "-c", "import sys; print(sys.argv[1:])", "--password", "hunter2", "tok_abc",
        "--password=pw2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert b"hunter2" in proc.stdout  # the command itself got its argv unchanged
    for name in ("r.json", "r.csv", "r.html", "s.md"):
        text = (tmp_path / name).read_text()
        assert "hunter2" not in text and "tok_abc" not in text and "pw2" not in text, name
    assert read_report(tmp_path / "r.json")["command"][-4:] == [
        "--password",
        "***",
        "***",
        "--password=***",
    ]
