"""The CI examples in configs/ci/ run as written: their greenmeter commands are accepted,
measure, gate, summarise and compare (the test suite they wrap replaced by a quick one)."""

from __future__ import annotations

import re
import shlex
import shutil
import sys

import pytest

from greenmeter.cli.main import cli

from conftest import REPO

EXAMPLES = REPO / "configs" / "ci"
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": "ab" * 20,
    "GITHUB_REF_NAME": "7/merge",
    "GITHUB_HEAD_REF": "feature",
    "GITHUB_JOB": "tests",
    "GITHUB_RUN_ID": "1",
    "RUNNER_NAME": "GitHub Actions 2",
}
GITLAB_ENV = {
    "GITLAB_CI": "true",
    "CI_COMMIT_SHA": "cd" * 20,
    "CI_COMMIT_REF_NAME": "feature",
    "CI_JOB_NAME": "energy-tests",
    "CI_JOB_ID": "9",
    "CI_RUNNER_DESCRIPTION": "r",
}


def commands(example: str) -> dict[str, list[str]]:
    text = (EXAMPLES / example).read_text()
    found = re.findall(r"(?m)^\s*(?:- )?greenmeter ((?:run|compare) .+)$", text)
    return {line.split()[0]: shlex.split(line) for line in found}


@pytest.mark.parametrize("example", ["github-actions.yml", "gitlab-ci.yml"])
def test_example_commands_parse(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in ("baseline/runs.csv", "baseline/energy/runs.csv", "energy/runs.csv"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    found = commands(example)
    assert set(found) == {"run", "compare"}
    for args in found.values():
        command = cli.get_command(None, args[0])
        # Options, units and the region are checked as greenmeter would before launch.
        command.make_context(args[0], list(args[1:]), resilient_parsing=False)


def _quick(run_args: list[str]) -> list[str]:
    """The example's run command with its test suite replaced by a quick command."""
    return [*run_args[: run_args.index("--") + 1], sys.executable, "-c", "pass"]


@pytest.mark.parametrize(
    "example, env", [("github-actions.yml", GITHUB_ENV), ("gitlab-ci.yml", GITLAB_ENV)]
)
def test_example_pipeline_end_to_end(greenmeter, tmp_path, example, env):
    found = commands(example)
    summary = tmp_path / "step-summary.md"
    env = {**env, "GITHUB_STEP_SUMMARY": str(summary)} if "GITHUB_ACTIONS" in env else env
    (tmp_path / "energy").mkdir()
    run = greenmeter(*_quick(found["run"]), env=env)
    assert run.returncode == 0, run.stderr
    rows = (tmp_path / "energy" / "runs.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header + --repeat 3
    assert all(",suite=unit" not in r for r in rows)  # tags are JSON: {"suite": "unit"}
    assert sum('""suite"": ""unit""' in r for r in rows) == 3
    assert sum(",feature," in r for r in rows) == 3  # the branch, captured from CI variables
    # The artifact of main's job, downloaded: here the same runs, so no regression.
    baseline = tmp_path / "baseline" / ("energy" if "GITLAB_CI" in env else "")
    shutil.copytree(tmp_path / "energy", baseline, dirs_exist_ok=True)
    compare = greenmeter(*found["compare"], env=env)
    assert compare.returncode == 0, compare.stderr
    assert b"no significant difference (p = 1" in compare.stdout
    if "GITHUB_ACTIONS" in env:
        text = summary.read_text()
        assert "3 repetitions" in text and "| metric | baseline mean ± sd |" in text
    else:
        assert "3 repetitions" in (tmp_path / "energy" / "summary.md").read_text()
        assert "Gate passed" in (tmp_path / "energy" / "compare.md").read_text()
