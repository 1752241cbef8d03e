"""CodeCarbon's emissions.csv read as history: 3.x, 2.x and 1.x headers beside greenmeter's
reports in one directory, in `report` and `compare`, with CodeCarbon's figures labelled as
CodeCarbon's and converted exactly (kWh -> J, kg -> g, CodeCarbon's PUE divided out)."""

from __future__ import annotations

import csv
import json
import shutil
import sys

import pytest
from test_compare_export import CODECARBON_3_3_2
from test_history import _report, load, make_row, write_csv

from conftest import read_report

# codecarbon/output_methods/emissions_data.py (output.py before 2.4), EmissionsData, in order.
CODECARBON_2_8_4 = [
    c
    for c in CODECARBON_3_3_2
    if c not in ("water_consumed", "wue") and not c.endswith(("_utilization_percent", "_used_gb"))
]
CODECARBON_2_3_4 = [c for c in CODECARBON_2_8_4 if c != "experiment_id"]
CODECARBON_1_2_0 = [
    "timestamp", "experiment_id", "project_name", "duration", "emissions", "energy_consumed",
    "country_name", "country_iso_code", "region", "on_cloud", "cloud_provider", "cloud_region",
]  # fmt: skip
MACHINE = "codecarbon 3.3.2 (tracking_mode=machine)"
PROCESS = "codecarbon 2.8.4 (tracking_mode=process)"
NOTE = "greenmeter: note: "


def cc_row(n: int, **values) -> dict:
    """A row as CodeCarbon 3.3.2 writes it: a run of 100 s in Germany, 0.00075 kWh in all."""
    row = {
        "timestamp": f"2026-03-0{n}T10:00:00",
        "project_name": "bert",
        "run_id": f"5f1c2a3e-0000-4000-8000-{n:012d}",
        "experiment_id": "5b0fa12a-3dd7-45bb-9766-cc326314d9f1",
        "duration": "100.0",
        "emissions": "0.0002",
        "emissions_rate": "2e-06",
        "cpu_power": "18.0",
        "gpu_power": "0.0",
        "ram_power": "10.0",
        "cpu_energy": "0.0005",
        "gpu_energy": "0.0",
        "ram_energy": "0.00025",
        "energy_consumed": "0.00075",
        "water_consumed": "0.0",
        "country_name": "Germany",
        "country_iso_code": "DEU",
        "os": "Linux-6.8.0-x86_64-with-glibc2.39",
        "python_version": "3.12.3",
        "codecarbon_version": "3.3.2",
        "cpu_count": "8",
        "cpu_model": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
        "gpu_count": "0",
        "ram_total_size": "15.5",
        "tracking_mode": "machine",
        "cpu_utilization_percent": "31.5",
        "on_cloud": "N",
        "pue": "1.0",
        "wue": "0.0",
    }
    row.update(values)
    return row


def write_emissions(path, rows, header=CODECARBON_3_3_2):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def mixed_history(tmp_path):
    """One directory as a team that switched has it: CodeCarbon files of two versions and
    greenmeter's reports and CSV history."""
    runs = tmp_path / "runs"
    write_emissions(runs / "emissions.csv", [cc_row(n) for n in (1, 2, 3)])
    write_emissions(
        runs / "old" / "emissions.csv",
        [
            cc_row(
                n,
                codecarbon_version="2.8.4",
                tracking_mode="process",
                energy_consumed="0.0002",
                cpu_energy="0.00015",
                ram_energy="0.00005",
                emissions="0.00008",
            )
            for n in (4, 5)
        ],
        CODECARBON_2_8_4,
    )
    for run_id, energy in (("G1", 500.0), ("G2", 700.0)):
        (runs / f"{run_id}.json").write_text(json.dumps(_report(run_id, False, energy)))
    write_csv(runs / "runs.csv", [make_row(0, run_id="G3", energy_total_j=600.0, co2_g=0.03)])
    return runs


def test_report_shows_codecarbon_and_greenmeter_runs_side_by_side(greenmeter, tmp_path):
    runs = mixed_history(tmp_path)
    proc = greenmeter("report", str(runs), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "warning" not in err and "Traceback" not in err
    (note,) = err.splitlines()  # the difference in method, said once
    assert note.startswith(NOTE + "5 run(s) are CodeCarbon's own figures") and "RAM" in note
    groups = {g["source"]: g for g in json.loads(proc.stdout)}
    assert set(groups) == {MACHINE, PROCESS, "greenmeter"}
    machine, process, ours = groups[MACHINE], groups[PROCESS], groups["greenmeter"]
    assert machine["runs"] == 3 and process["runs"] == 2 and ours["runs"] == 3
    assert machine["energy_j_sum"] == pytest.approx(3 * 0.00075 * 3.6e6, rel=1e-12)  # 8100 J
    assert machine["energy_j_mean"] == pytest.approx(2700.0, rel=1e-12)
    assert machine["co2_g_sum"] == pytest.approx(3 * 0.2, rel=1e-12)  # 0.0002 kg each
    assert machine["duration_s_sum"] == 300.0
    assert process["energy_j_sum"] == pytest.approx(2 * 720.0, rel=1e-12)  # 0.0002 kWh
    assert process["co2_g_sum"] == pytest.approx(0.16, rel=1e-12)
    assert ours["energy_j_sum"] == pytest.approx(1800.0)
    # CodeCarbon's timestamp is the end: the run began `duration` before it
    assert machine["first_started_at"] == "2026-03-01T09:58:20Z"
    assert machine["last_started_at"] == "2026-03-03T09:58:20Z"

    table = greenmeter("report", str(runs), "--format", "markdown")
    text = table.stdout.decode()
    line = next(row for row in text.splitlines() if MACHINE in row)
    assert "| 3 |" in line and "8100.0 J" in line and "2700 J ± 0 J" in line and "600.00 mg" in line
    assert "| greenmeter | 3 |" in text
    assert "Note: 5 run(s) are CodeCarbon's own figures" in text  # on the CI page too


def test_codecarbon_columns_as_greenmeter_history(tmp_path):
    path = write_emissions(
        tmp_path / "emissions.csv",
        [
            cc_row(1, timestamp="2026-03-01T10:00:00", duration="10.0", emissions="0.5"),
            # flush() in append mode writes a run's totals so far; its last row counts
            cc_row(3, run_id="r-cloud", duration="1800.0", energy_consumed="0.1"),
            cc_row(
                2,
                run_id="r-cloud",
                timestamp="2026-03-02T12:00:00+02:00",  # an offset, where a writer gave one
                duration="3600.0",
                pue="1.5",
                energy_consumed="0.3",
                cpu_energy="0.09",
                gpu_energy="0.15",
                ram_energy="0.06",
                emissions="0.009",
                gpu_count="1",
                gpu_model="1 x NVIDIA A10G",
                on_cloud="Y",
                cloud_provider="aws",
                cloud_region="us-east-1",
                country_iso_code="USA",
                region="virginia",
                experiment_id="",
                tracking_mode="process",
            ),
        ],
    )
    frame, warnings = load(path)
    assert warnings == []
    rows = frame.set_index("run_id")
    assert list(rows.index) == [cc_row(1)["run_id"], "r-cloud"]
    first, cloud = rows.iloc[0], rows.loc["r-cloud"]
    assert first["energy_total_j"] == pytest.approx(2700.0, rel=1e-12)
    assert first["energy_cpu_j"] == pytest.approx(1800.0, rel=1e-12)
    assert first["energy_dram_j"] == pytest.approx(900.0, rel=1e-12)
    assert first["energy_gpu_j"] == 0.0 and first["gpu_method"] != "measured"
    assert first["co2_g"] == pytest.approx(500.0, rel=1e-12)  # 0.5 kg
    assert first["intensity_g_per_kwh"] == pytest.approx(500.0 / 0.00075, rel=1e-12)
    assert (first["started_at"], first["ended_at"]) == (
        "2026-03-01T09:59:50.000Z",
        "2026-03-01T10:00:00.000Z",
    )
    assert (first["region"], first["zone_id"]) == ("DEU", "DEU")
    assert json.loads(first["tags"]) == {
        "project_name": "bert",
        "experiment_id": "5b0fa12a-3dd7-45bb-9766-cc326314d9f1",
    }
    assert (first["tool"], first["source"]) == ("codecarbon", MACHINE)
    assert (first["cpu_method"], first["dram_method"]) == ("unrecorded", "estimated")
    assert pd_isna(first["greenmeter_version"]) and pd_isna(first["exit_code"])
    assert first["python"] == "3.12.3" and first["cpu_model"].startswith("Intel(R) Xeon(R)")

    # PUE 1.5 divided back out: greenmeter's energies are the IT equipment's
    assert cloud["energy_total_j"] == pytest.approx(0.3 / 1.5 * 3.6e6, rel=1e-12)  # 720 kJ
    assert cloud["energy_gpu_j"] == pytest.approx(0.15 / 1.5 * 3.6e6, rel=1e-12)
    assert cloud["energy_kwh"] == pytest.approx(0.2, rel=1e-12) and cloud["pue"] == 1.5
    assert cloud["co2_g"] == pytest.approx(9.0, rel=1e-12)
    assert cloud["intensity_g_per_kwh"] == pytest.approx(30.0, rel=1e-12)  # 9 g / 0.3 kWh
    assert cloud["gpu_method"] == "measured" and cloud["gpu_models"] == "1 x NVIDIA A10G"
    assert (cloud["region"], cloud["zone_id"]) == ("aws:us-east-1", "USA")
    assert cloud["started_at"] == "2026-03-02T09:00:00.000Z"  # 12:00+02:00 less an hour
    assert json.loads(cloud["tags"]) == {"project_name": "bert"}
    assert cloud["source"] == "codecarbon 3.3.2 (tracking_mode=process)"


def pd_isna(value) -> bool:
    return value != value or value is None


def test_older_headers_2_3_and_1_2(tmp_path):
    write_emissions(
        tmp_path / "a" / "emissions.csv",
        [cc_row(1, codecarbon_version="2.3.4", energy_consumed="0.001")],
        CODECARBON_2_3_4,
    )
    v12_row = cc_row(2, energy_consumed="0.002", emissions="0.001")
    v12 = write_emissions(tmp_path / "b" / "emissions.csv", [v12_row], CODECARBON_1_2_0)
    # the same 1.x file copied elsewhere: its run still counts once
    shutil.copy(v12, tmp_path / "b" / "copy.csv")
    frame, warnings = load(tmp_path)
    assert warnings == []
    rows = frame.set_index("source")
    assert len(frame) == 2
    assert rows.loc["codecarbon 2.3.4 (tracking_mode=machine)", "energy_total_j"] == 3600.0
    assert json.loads(rows.loc["codecarbon 2.3.4 (tracking_mode=machine)", "tags"]) == {
        "project_name": "bert"
    }
    old = rows.loc["codecarbon"]  # 1.x wrote neither version nor tracking mode
    assert old["energy_total_j"] == pytest.approx(7200.0, rel=1e-12)
    assert old["co2_g"] == pytest.approx(1.0, rel=1e-12)
    assert old["run_id"].startswith("codecarbon-") and pd_isna(old["energy_cpu_j"])
    assert load(v12)[0]["run_id"].tolist() == [old["run_id"]]  # stable wherever it lies


def test_compare_a_codecarbon_group_with_a_greenmeter_group(greenmeter, tmp_path):
    runs = mixed_history(tmp_path)
    proc = greenmeter(
        "compare",
        str(runs),
        str(runs),
        "--baseline-filter",
        f"source={MACHINE}",
        "--candidate-filter",
        "tool=greenmeter",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    (note,) = proc.stderr.decode().splitlines()
    assert note.startswith(NOTE + "3 run(s) are CodeCarbon's own figures")
    energy = next(m for m in json.loads(proc.stdout)["metrics"] if m["metric"] == "energy")
    assert energy["baseline"]["n"] == 3 and energy["candidate"]["n"] == 3
    assert energy["baseline"]["mean"] == pytest.approx(2700.0, rel=1e-12)
    assert energy["baseline"]["std"] == 0.0
    assert energy["candidate"]["mean"] == pytest.approx(600.0)
    assert energy["change"] == pytest.approx(600.0 / 2700.0 - 1)
    assert energy["significant"] is True  # CodeCarbon's 3 identical runs, greenmeter's 3 apart

    md = greenmeter(
        "compare", str(runs), str(runs), "--baseline-filter", "tool=codecarbon",
        "--candidate-filter", "tool=greenmeter", "--format", "markdown",
    )  # fmt: skip
    assert md.returncode == 0, md.stderr
    assert "(n=5)" in md.stdout.decode() and "CodeCarbon's own figures" in md.stdout.decode()


def test_a_real_greenmeter_run_beside_codecarbon(greenmeter, tmp_path):
    write_emissions(tmp_path / "runs" / "emissions.csv", [cc_row(1)])
    proc = greenmeter(
        "run", "--region", "DE", "--json", "runs/r.json", "--", sys.executable, "-c", "pass"
    )
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "runs" / "r.json")
    out = greenmeter("report", "runs", "--group-by", "tool", "--format", "json")
    assert out.returncode == 0, out.stderr
    groups = {g["tool"]: g for g in json.loads(out.stdout)}
    # (a report's row keeps energies to the microjoule)
    assert groups["greenmeter"]["energy_j_sum"] == pytest.approx(
        report["energy_j"]["total"], abs=1e-6
    )
    assert groups["codecarbon"]["energy_j_sum"] == pytest.approx(2700.0, rel=1e-12)


def test_malformed_rows_and_files_warn_once_each(greenmeter, tmp_path):
    runs = tmp_path / "runs"
    bad_rows = write_emissions(
        runs / "a" / "emissions.csv",
        [
            cc_row(1),
            cc_row(2, timestamp="yesterday"),
            cc_row(3, energy_consumed="lots"),
            cc_row(4, run_id=""),
            cc_row(5),
        ],
    )
    with open(bad_rows, "a") as f:
        f.write("2026-03-06T10:00:00,bert,cut-short,5b0f\n")
    cut = write_emissions(runs / "b" / "emissions.csv", [cc_row(6)])
    cut.write_bytes(cut.read_bytes() + b"2026-03-07T10:00:00,bert,\x00,x\n")
    proc = greenmeter("report", str(runs), "--group-by", "run", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 2, err  # one per file
    (a,) = (w for w in warnings if str(bad_rows) in w)
    assert "4 malformed CodeCarbon row(s) skipped" in a
    assert "line 3: timestamp 'yesterday' is not an ISO 8601 time" in a
    assert "line 4: energy_consumed 'lots' is not a number" in a
    assert "line 5: no run_id" in a and "line 7: 4 fields, expected 38" in a
    (b,) = (w for w in warnings if str(cut) in w)
    assert "1 malformed CodeCarbon row(s) skipped (line 3: " in b
    kept = {g["run"] for g in json.loads(proc.stdout)}
    assert kept == {cc_row(n)["run_id"] for n in (1, 5, 6)}


def test_fourteen_codecarbon_files_give_no_warnings(greenmeter, tmp_path):
    for n in range(14):
        write_emissions(
            tmp_path / "runs" / f"exp{n:02d}" / "emissions.csv",
            [cc_row(1, run_id=f"run-{n}-{k}", energy_consumed=f"{(n + 1) / 1000}") for k in (1, 2)],
        )
    # a per-task file beside them is a breakdown of a run, not a run: left out quietly
    header = ["task_name", *CODECARBON_3_3_2[:-1]]
    write_emissions(tmp_path / "runs" / "exp00" / "emissions_e_run-0-1.csv", [cc_row(1)], header)
    proc = greenmeter("report", "runs", "--group-by", "tag:project_name", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (note,) = proc.stderr.decode().splitlines()
    assert note.startswith(NOTE + "28 run(s)")
    (group,) = json.loads(proc.stdout)
    assert (group["source"], group["tag:project_name"], group["runs"]) == (MACHINE, "bert", 28)
    kwh = sum(2 * (n + 1) / 1000 for n in range(14))  # 0.21 kWh
    assert group["energy_j_sum"] == pytest.approx(kwh * 3.6e6, rel=1e-12)  # 756 kJ
    named = greenmeter("report", "runs/exp00/emissions_e_run-0-1.csv")
    assert "a CodeCarbon task file" in named.stderr.decode()


def test_greenmeter_runs_win_over_their_own_codecarbon_export(greenmeter, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for run_id, energy in (("G1", 500.0), ("G2", 700.0)):
        (runs / f"{run_id}.json").write_text(json.dumps(_report(run_id, False, energy)))
    export = greenmeter("export", "--format", "codecarbon", "runs", "-o", "runs/emissions.csv")
    assert export.returncode == 0, export.stderr
    proc = greenmeter("report", "runs", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (group,) = json.loads(proc.stdout)
    assert group["runs"] == 2 and group["energy_j_sum"] == 1200.0
    assert "source" not in group and proc.stderr.decode() == ""  # greenmeter's own rows only


def test_export_leaves_codecarbon_rows_out(greenmeter, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "G1.json").write_text(json.dumps(_report("G1", False, 500.0)))
    write_emissions(runs / "emissions.csv", [cc_row(1), cc_row(2)])
    proc = greenmeter("export", "--format", "codecarbon", "runs", "-o", "out.csv")
    assert proc.returncode == 0, proc.stderr
    assert "2 CodeCarbon run(s) in the history left out" in proc.stderr.decode()
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["run_id"] for r in rows] == ["G1"]
