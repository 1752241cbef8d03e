"""`greenmeter run` in CI: tags and CI context, units of work, budgets and their exit
codes, repeats with statistics, and the Markdown step summary."""

from __future__ import annotations

import csv
import json
import os
import re
import sys

import pytest

from greenmeter.quantities import ENERGY_STEPS, series_formatter
from greenmeter.stats import describe

from conftest import read_report

PY = sys.executable
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_REF_NAME": "42/merge",
    "GITHUB_HEAD_REF": "feature-x",
    "GITHUB_JOB": "tests",
    "GITHUB_RUN_ID": "987654",
    "GITHUB_RUN_ATTEMPT": "2",
    "RUNNER_NAME": "runner-7",
    "GITHUB_REPOSITORY": "acme/model",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_WORKFLOW": "ci",
}


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_tags_github_context_and_step_summary(greenmeter, tmp_path):
    summary = tmp_path / "step-summary.md"
    summary.write_text("# earlier step\n")
    proc = greenmeter(
        "run",
        "--region",
        "DE",
        "--tag",
        "model=resnet",
        "--tag",
        "suite=unit",
        "--json",
        "r.json",
        "--csv",
        "runs.csv",
        "--",
        PY,
        "-c",
        "pass",
        env={**GITHUB, "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    assert report["tags"] == {"model": "resnet", "suite": "unit"}
    ci = report["ci"]
    assert ci["provider"] == "github" and ci["git_commit"] == GITHUB["GITHUB_SHA"]
    assert ci["git_branch"] == "feature-x"  # the pull request's branch, not "42/merge"
    assert (ci["job"], ci["run_id"], ci["runner"]) == ("tests", "987654", "runner-7")
    assert ci["url"] == "https://github.com/acme/model/actions/runs/987654"
    (row,) = csv_rows(tmp_path / "runs.csv")
    assert json.loads(row["tags"]) == {"model": "resnet", "suite": "unit"}
    assert (row["git_commit"], row["git_branch"], row["ci_job"], row["ci_runner"]) == (
        GITHUB["GITHUB_SHA"],
        "feature-x",
        "tests",
        "runner-7",
    )
    # Appended after what earlier steps wrote; a Markdown table of this run.
    text = summary.read_text()
    assert text.startswith("# earlier step\n### greenmeter: `")
    lines = text.splitlines()
    assert "| exit code | 0 |" in lines
    energy = report["energy_j"]["total"]
    energy_line = next(line for line in lines if line.startswith("| energy |"))
    assert "cpu" in energy_line and "estimated" in energy_line
    assert any(line.startswith("| CO2e | **") and "(DE; " in line for line in lines)
    assert "| tags | model=resnet, suite=unit |" in lines
    assert f"| run | {report['run_id']} |" in lines
    assert energy > 0


def test_gitlab_context_and_summary_md(greenmeter, tmp_path):
    gitlab = {
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": "feedface" * 5,
        "CI_COMMIT_REF_NAME": "main",
        "CI_JOB_NAME": "unit-tests",
        "CI_JOB_ID": "555",
        "CI_RUNNER_DESCRIPTION": "shared-runner-3",
        "CI_PIPELINE_ID": "77",
    }
    proc = greenmeter(
        "run", "--json", "r.json", "--summary-md", "summary.md", "--", PY, "-c", "pass", env=gitlab
    )
    assert proc.returncode == 0, proc.stderr
    ci = read_report(tmp_path / "r.json")["ci"]
    assert ci == {
        "provider": "gitlab",
        "git_commit": "feedface" * 5,
        "git_branch": "main",
        "pipeline_id": "77",
        "job": "unit-tests",
        "run_id": "555",
        "runner": "shared-runner-3",
    }
    text = (tmp_path / "summary.md").read_text()
    assert "| exit code | 0 |" in text and "world average, no region set" in text


def test_no_ci_outside_ci(greenmeter, tmp_path):
    assert greenmeter("run", "--json", "r.json", "--", PY, "-c", "pass").returncode == 0
    report = read_report(tmp_path / "r.json")
    assert report["ci"] is None and report["tags"] == {} and report["budget"] is None


def test_over_budget_and_success_exits_121(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "--max-energy",
        "1mJ",
        "--max-co2",
        "1kg",
        "--json",
        "r.json",
        "--csv",
        "runs.csv",
        "--",
        PY,
        "-c",
        BURN.format(s=0.3),
    )
    assert proc.returncode == 121, proc.stderr
    budget = read_report(tmp_path / "r.json")["budget"]
    assert budget == {
        "max_energy_j": 0.001,
        "max_co2_g": 1000.0,
        "energy_exceeded": True,
        "co2_exceeded": False,
        "exceeded": True,
    }
    assert csv_rows(tmp_path / "runs.csv")[0]["budget_exceeded"] == "True"
    assert "budget EXCEEDED" in proc.stderr.decode()


def test_over_budget_but_command_failed_keeps_its_code(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "--max-energy",
        "1mJ",
        "--json",
        "r.json",
        "--quiet",
        "--",
        PY,
        "-c",
        BURN.format(s=0.3) + "raise SystemExit(3)",
    )
    assert proc.returncode == 3
    assert read_report(tmp_path / "r.json")["budget"]["exceeded"] is True
    assert "budget EXCEEDED" in proc.stderr.decode()  # said even with --quiet


def test_co2_budget_and_within_budget(greenmeter, tmp_path):
    over = greenmeter(
        "run", "--max-co2", "1e-9", "--json", "a.json", "--", PY, "-c", BURN.format(s=0.2)
    )
    assert over.returncode == 121
    assert read_report(tmp_path / "a.json")["budget"]["co2_exceeded"] is True
    within = greenmeter(
        "run",
        "--max-energy",
        "1kWh",
        "--max-co2",
        "10g",
        "--json",
        "b.json",
        "--",
        PY,
        "-c",
        "pass",
    )
    assert within.returncode == 0
    assert read_report(tmp_path / "b.json")["budget"]["exceeded"] is False


@pytest.mark.parametrize(
    "option, value",
    [
        ("--max-energy", "50kB"),
        ("--max-co2", "3lb"),
        ("--max-energy", "-5J"),
        ("--units", "0"),
        ("--tag", "novalue"),
        ("--repeat", "0"),
    ],
)
def test_bad_values_refused_before_launch(greenmeter, tmp_path, option, value):
    marker = tmp_path / "ran"
    proc = greenmeter("run", option, value, "--", PY, "-c", f"open({str(marker)!r}, 'w')")
    assert proc.returncode == 125
    assert not marker.exists()
    assert b"Traceback" not in proc.stderr and option.encode() in proc.stderr


def test_units_file_written_by_the_command(greenmeter, tmp_path):
    child = (
        "import os, json\n"
        "json.dump(dict(os.environ), open('child-env.json', 'w'))\n"
        "open(os.environ['GREENMETER_UNITS_FILE'], 'w').write('250 samples\\n')\n"
    )
    proc = greenmeter("run", "--json", "r.json", "--csv", "runs.csv", "--", PY, "-c", child)
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    assert report["units"] == 250 and report["unit_name"] == "samples"
    assert report["energy_j_per_unit"] == pytest.approx(report["energy_j"]["total"] / 250)
    assert report["co2_g_per_unit"] == pytest.approx(report["carbon"]["co2_g"] / 250)
    row = csv_rows(tmp_path / "runs.csv")[0]
    assert float(row["units"]) == 250 and row["unit_name"] == "samples"
    # The one variable greenmeter adds to the command's environment; the file is gone after.
    child_env = json.loads((tmp_path / "child-env.json").read_text())
    units_file = child_env.pop("GREENMETER_UNITS_FILE")
    assert not os.path.exists(units_file)
    assert re.search(r"per sample \(250 samples, [\d.]+ (k )?samples/s\): ≈", proc.stderr.decode())


def test_units_option_and_garbage_in_units_file(greenmeter, tmp_path):
    declared = greenmeter(
        "run",
        "--units",
        "1000",
        "--unit-name",
        "images",
        "--json",
        "a.json",
        "--",
        PY,
        "-c",
        "pass",
    )
    assert declared.returncode == 0
    report = read_report(tmp_path / "a.json")
    assert (report["units"], report["unit_name"]) == (1000, "images")
    garbage = greenmeter(
        "run",
        "--json",
        "b.json",
        "--",
        PY,
        "-c",
        "import os; open(os.environ['GREENMETER_UNITS_FILE'], 'w').write('lots')",
    )
    assert garbage.returncode == 0
    report = read_report(tmp_path / "b.json")
    assert report["units"] is None and report["energy_j_per_unit"] is None
    assert any("'lots' is not a positive number" in w for w in report["warnings"])
    assert "'lots' is not a positive number" in garbage.stderr.decode()


def test_repeat_with_warmup(greenmeter, tmp_path):
    child = BURN.format(s=0.15) + "open('executions', 'a').write('x\\n')\n"
    proc = greenmeter(
        "run",
        "--repeat",
        "3",
        "--warmup",
        "1",
        "--json",
        "r.json",
        "--csv",
        "runs.csv",
        "--summary-md",
        "summary.md",
        "--",
        PY,
        "-c",
        child,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "executions").read_text() == "x\n" * 4  # 1 warm-up + 3 measured
    assert not (tmp_path / "r.json").exists()
    reports = [read_report(tmp_path / f"r-{i}.json") for i in (1, 2, 3)]
    rows = csv_rows(tmp_path / "runs.csv")
    assert len(rows) == 3
    group = reports[0]["repeat_group"]
    assert group and all(r["repeat_group"] == group for r in reports)
    assert [r["repetition"] for r in reports] == [1, 2, 3]
    assert [r["repetitions"] for r in reports] == [3, 3, 3]
    assert [row["repetition"] for row in rows] == ["1", "2", "3"]
    assert {row["repeat_group"] for row in rows} == {group}
    assert [row["run_id"] for row in rows] == [r["run_id"] for r in reports]
    # The statistics said on stderr are those of the three reports' energies.
    stats = describe([r["energy_j"]["total"] for r in reports])
    fmt = series_formatter(ENERGY_STEPS, stats.mean)
    stderr = proc.stderr.decode()
    energy_line = next(line for line in stderr.splitlines() if line.startswith("energy "))
    for figure in (stats.mean, stats.median, stats.std, stats.ci_low, stats.ci_high):
        assert fmt(figure) in energy_line
    md = (tmp_path / "summary.md").read_text()
    assert "3 repetitions after 1 unmeasured warm-up(s)" in md
    assert md.count("\n| 1 | 0 |") == 1 and "\n| 3 | 0 |" in md
    assert f"| energy | {fmt(stats.mean)} | {fmt(stats.median)} |" in md


def test_repeat_exit_code_is_the_first_failure(greenmeter, tmp_path):
    # Repetition 1 succeeds, 2 exits 4, 3 exits 5: greenmeter exits 4, all three recorded.
    child = (
        "import os\n"
        "n = len(open('count').read()) if os.path.exists('count') else 0\n"
        "open('count', 'a').write('x')\n"
        "raise SystemExit([0, 4, 5][n])\n"
    )
    proc = greenmeter("run", "--repeat", "3", "--csv", "runs.csv", "--quiet", "--", PY, "-c", child)
    assert proc.returncode == 4
    assert [row["exit_code"] for row in csv_rows(tmp_path / "runs.csv")] == ["0", "4", "5"]


def test_failing_warmup_stops_before_measuring(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "--repeat",
        "2",
        "--warmup",
        "1",
        "--csv",
        "runs.csv",
        "--",
        PY,
        "-c",
        "raise SystemExit(9)",
    )
    assert proc.returncode == 9
    assert "warm-up 1/1 exited with 9" in proc.stderr.decode()
    assert not (tmp_path / "runs.csv").exists()
