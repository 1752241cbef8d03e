"""`greenmeter compare` (Welch's t-test, the --max-increase gate and its exit code) and
`greenmeter export --format codecarbon`."""

from __future__ import annotations

import csv
import json
import sys

import pytest
from test_history import _report, make_row, write_csv

from conftest import read_report

PY = sys.executable
# CodeCarbon 3.3.2, codecarbon/output_methods/emissions_data.py, EmissionsData, in order.
CODECARBON_3_3_2 = [
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
]


def history_with(tmp_path, name: str, branch_energies: dict[str, list[float]]):
    rows, i = [], 0
    for branch, energies in branch_energies.items():
        for energy in energies:
            rows.append(
                make_row(
                    i,
                    git_branch=branch,
                    energy_total_j=energy,
                    co2_g=energy / 3.6e6 * 360,
                    duration_s=10.0,
                )
            )
            i += 1
    return write_csv(tmp_path / name, rows)


def test_significant_regression_fails_the_gate(greenmeter, tmp_path):
    history_with(tmp_path, "main.csv", {"main": [100, 101, 99, 100.5, 99.5]})
    history_with(tmp_path, "pr.csv", {"feature": [110, 111, 109, 110.5, 109.5]})
    proc = greenmeter("compare", "main.csv", "pr.csv", "--max-increase", "5%", "--format", "json")
    assert proc.returncode == 122, proc.stderr
    result = json.loads(proc.stdout)
    energy = next(m for m in result["metrics"] if m["metric"] == "energy")
    assert energy["change"] == pytest.approx(0.10)
    assert energy["p_value"] == pytest.approx(4.073918328674922e-08, rel=1e-6)
    assert energy["welch_t"] == pytest.approx(20.0) and energy["welch_df"] == pytest.approx(8.0)
    assert energy["significant"] is True and result["gate"]["regressed"] is True
    assert "regression" in proc.stderr.decode()
    # 10 % more but the gate allows 15 %: passes.
    assert greenmeter("compare", "main.csv", "pr.csv", "--max-increase", "15%").returncode == 0


def test_insignificant_difference_passes_the_gate(greenmeter, tmp_path):
    history_with(
        tmp_path, "runs.csv", {"main": [100, 110, 90, 105, 95], "feature": [106, 116, 96, 111, 101]}
    )
    proc = greenmeter(
        "compare",
        "runs.csv",
        "runs.csv",
        "--baseline-filter",
        "branch=main",
        "--candidate-filter",
        "branch=feature",
        "--max-increase",
        "5%",
        "--format",
        "markdown",
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    energy_line = next(line for line in text.splitlines() if line.startswith("| energy |"))
    # 6 % more on average, but p = 0.26 (t = 1.2, df = 8): noise at this spread.
    assert "+6.0 %" in energy_line and "no significant difference (p = 0.26" in energy_line
    assert "Gate passed" in text


def test_single_runs_compare_point_values(greenmeter, tmp_path):
    (tmp_path / "base.json").write_text(json.dumps(_report("A", partial=False, energy=100.0)))
    (tmp_path / "cand.json").write_text(json.dumps(_report("B", partial=False, energy=150.0)))
    proc = greenmeter(
        "compare", "base.json", "cand.json", "--max-increase", "5%", "--format", "json"
    )
    assert proc.returncode == 0  # no test possible: no gate failure on one run
    energy = json.loads(proc.stdout)["metrics"][0]
    assert energy["change"] == pytest.approx(0.5) and energy["p_value"] is None
    assert "no significance test possible" in energy["verdict"]


def test_compare_summary_and_errors(greenmeter, tmp_path):
    history_with(tmp_path, "runs.csv", {"main": [100, 101], "dev": [100, 102]})
    summary = tmp_path / "summary.md"
    proc = greenmeter(
        "compare",
        "runs.csv",
        "runs.csv",
        "--baseline-filter",
        "branch=main",
        "--candidate-filter",
        "branch=dev",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "| metric | baseline mean ± sd |" in summary.read_text()
    empty = greenmeter("compare", "runs.csv", "runs.csv", "--candidate-filter", "branch=nope")
    assert empty.returncode == 125 and b"no finished runs match the filter" in empty.stderr
    bad = greenmeter("compare", "runs.csv", "runs.csv", "--max-increase", "5 apples")
    assert bad.returncode == 125 and b"Traceback" not in bad.stderr


def test_export_codecarbon_columns_and_values(greenmeter, tmp_path):
    (tmp_path / "reports").mkdir()
    report = _report("R1", partial=False, energy=7200.0)
    report["energy_j"].update(cpu=5400.0, dram=1800.0)
    report["carbon"].update(pue=1.5, co2_g=7200.0 * 1.5 / 3.6e6 * 50.0)
    (tmp_path / "reports" / "r1.json").write_text(json.dumps(report))
    write_csv(
        tmp_path / "reports" / "runs.csv",
        [make_row(0, run_id="R0", region="aws:eu-west-3", zone_id="FRA", pue=1.0)],
    )
    proc = greenmeter("export", "--format", "codecarbon", "reports", "-o", "emissions.csv")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "emissions.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CODECARBON_3_3_2
        rows = {r["run_id"]: r for r in reader}
    r1 = rows["R1"]
    assert float(r1["energy_consumed"]) == pytest.approx(7200 * 1.5 / 3.6e6)  # kWh, PUE applied
    assert float(r1["cpu_energy"]) == pytest.approx(5400 * 1.5 / 3.6e6)
    assert float(r1["ram_energy"]) == pytest.approx(1800 * 1.5 / 3.6e6)
    assert r1["gpu_energy"] == ""
    assert float(r1["cpu_power"]) == pytest.approx(5400 * 1.5 / 5.0)  # W over 5 s
    assert float(r1["emissions"]) == pytest.approx(report["carbon"]["co2_g"] / 1000)  # kg
    assert float(r1["emissions_rate"]) == pytest.approx(report["carbon"]["co2_g"] / 1000 / 5)
    assert r1["duration"] == "5.0" and r1["timestamp"] == "2025-02-01T10:00:05"
    assert (r1["country_iso_code"], r1["country_name"], r1["on_cloud"]) == ("FRA", "France", "N")
    assert (r1["os"], r1["python_version"], r1["cpu_model"]) == ("Linux 6", "3.11.7", "X")
    assert r1["tracking_mode"] == "process" and r1["project_name"] == "greenmeter"
    assert r1["water_consumed"] == "" and r1["latitude"] == ""
    r0 = rows["R0"]
    assert (r0["cloud_provider"], r0["cloud_region"], r0["on_cloud"]) == ("aws", "eu-west-3", "Y")
    assert r0["cpu_model"] == ""  # CSV rows carry no host details


def test_export_of_a_real_run(greenmeter, tmp_path):
    assert (
        greenmeter(
            "run", "--region", "DE", "--json", "r.json", "--csv", "runs.csv", "--", PY, "-c", "pass"
        ).returncode
        == 0
    )
    proc = greenmeter("export", "--format", "codecarbon", "r.json")
    assert proc.returncode == 0, proc.stderr
    (row,) = csv.DictReader(proc.stdout.decode().splitlines())
    report = read_report(tmp_path / "r.json")
    assert row["run_id"] == report["run_id"]
    assert float(row["energy_consumed"]) == pytest.approx(report["carbon"]["energy_kwh"], rel=1e-6)
    assert row["country_iso_code"] == "DEU"


def test_compare_table_names_both_sides_literally(greenmeter, tmp_path):
    history_with(tmp_path, "runs.csv", {"main": [100, 101], "dev": [100, 102]})
    proc = greenmeter(
        "compare",
        "runs.csv",
        "runs.csv",
        "--baseline-filter",
        "branch=main",
        "--candidate-filter",
        "branch=dev",
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.decode().splitlines()[0]
    assert "runs.csv [branch=main] -> runs.csv [branch=dev]" in first  # not eaten as markup


def test_compare_names_the_unit_and_tells_close_figures_apart(greenmeter, tmp_path):
    rows = []
    for i, (branch, per_sample_j) in enumerate(
        [("a", 0.000419), ("a", 0.000421), ("a", 0.000418), ("b", 0.000197), ("b", 0.000199)]
    ):
        rows.append(
            make_row(
                i,
                git_branch=branch,
                units=1000,
                unit_name="samples",
                energy_total_j=per_sample_j * 1000,
                energy_j_per_unit=per_sample_j,
                co2_g=0.001,
                co2_g_per_unit=0.000001,
            )
        )
    write_csv(tmp_path / "runs.csv", rows)
    proc = greenmeter(
        "compare", "runs.csv", "runs.csv", "--baseline-filter", "branch=a",
        "--candidate-filter", "branch=b", env={"COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode() + proc.stderr.decode()
    (line,) = [ln for ln in out.splitlines() if ln.startswith("energy per sample")]
    assert "419 µJ ± 1.53 µJ (n=3)" in line and "198 µJ ± 1.41 µJ (n=2)" in line
    report = greenmeter("report", "runs.csv", "--group-by", "branch", "--format", "table",
                        env={"COLUMNS": "200"})  # fmt: skip
    text = report.stdout.decode() + report.stderr.decode()
    assert "per sample" in text and "419 µJ" in text and "198 µJ" in text
