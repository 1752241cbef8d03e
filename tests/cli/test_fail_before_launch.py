"""Bad input is refused with one clear line, exit 125, and the command never runs."""

from __future__ import annotations

import sys

import pytest

from conftest import MARKER_CHILD, assert_refused


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1000"])
def test_bad_interval(greenmeter, tmp_path, value):
    proc = greenmeter("run", "--interval", value, "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "--interval")


def test_unknown_region_with_suggestion(greenmeter, tmp_path):
    proc = greenmeter("run", "--region", "DEX", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "DEX")


def test_bad_region_from_environment(greenmeter, tmp_path):
    proc = greenmeter("run", "--", *MARKER_CHILD, env={"GREENMETER_REGION": "Atlantis"})
    assert_refused(proc, tmp_path, "Atlantis")


@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_output_in_missing_directory(greenmeter, tmp_path, option):
    proc = greenmeter("run", option, "no/such/dir/out", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, option, "does not exist")


def test_output_is_a_directory(greenmeter, tmp_path):
    (tmp_path / "d").mkdir()
    proc = greenmeter("run", "--json", "d", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "is a directory")


def test_malformed_config_names_file_and_line(greenmeter, tmp_path):
    (tmp_path / "greenmeter.toml").write_text('region = "DE"\ninterval = \n')
    proc = greenmeter("run", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "greenmeter.toml", "line 2")


def test_config_unknown_key_names_line(greenmeter, tmp_path):
    (tmp_path / "gm.toml").write_text('region = "DE"\n\nintervall = 0.5\n')
    proc = greenmeter("run", "--config", "gm.toml", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "gm.toml, line 3", "intervall")


def test_config_bad_value_names_line(greenmeter, tmp_path):
    (tmp_path / "greenmeter.toml").write_text("interval = -2\n")
    proc = greenmeter("run", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "greenmeter.toml, line 1", "interval")


def test_missing_config_file(greenmeter, tmp_path):
    proc = greenmeter("run", "--config", "nope.toml", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "nope.toml")


def test_unknown_option(greenmeter, tmp_path):
    proc = greenmeter("run", "--regoin", "DE", "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, "--regoin")


def test_precedence_cli_over_env_over_config(greenmeter, tmp_path):
    import json

    (tmp_path / "greenmeter.toml").write_text('region = "FR"\n')
    child = [sys.executable, "-c", "pass"]

    def region_used(*args, env=None):
        proc = greenmeter("run", "-q", "--json", "r.json", *args, "--", *child, env=env)
        assert proc.returncode == 0, proc.stderr
        return json.loads((tmp_path / "r.json").read_text())["carbon"]["region"]

    assert region_used() == "FR"
    assert region_used(env={"GREENMETER_REGION": "PL"}) == "PL"
    assert region_used("--region", "DE", env={"GREENMETER_REGION": "PL"}) == "DE"
