"""`greenmeter report`: loading CSV histories and JSON reports, de-duplication, malformed
input, selections, and sums and means per group, checked against figures computed here."""

from __future__ import annotations

import csv
import json
import math
import sys

import pandas as pd
import pytest

from greenmeter.history.aggregate import aggregate
from greenmeter.history.load import MAX_WARNINGS_PER_FILE, load_history
from greenmeter.history.select import Selection, key_series, parse_time_bound, select
from greenmeter.reports.csv_row import COLUMNS

from conftest import read_report

FOUNDATION_COLUMNS = COLUMNS[: COLUMNS.index("greenmeter_version") + 1]


def make_row(i: int, **overrides) -> dict:
    energy = 100.0 + i
    row = {c: "" for c in COLUMNS}
    row.update(
        {
            "run_id": f"20250101T0000{i % 60:02d}Z-{i:08x}",
            "started_at": f"2025-01-{1 + i % 28:02d}T12:00:00.000Z",
            "ended_at": f"2025-01-{1 + i % 28:02d}T12:00:10.000Z",
            "duration_s": 10.0 + i % 3,
            "command": json.dumps(["python", f"job{i % 2}.py"]),
            "exit_code": 0,
            "interrupted": False,
            "partial": False,
            "hostname": f"h{i % 2}",
            "energy_total_j": energy,
            "energy_cpu_j": energy * 0.8,
            "energy_dram_j": energy * 0.2,
            "cpu_method": "estimated",
            "dram_method": "estimated",
            "region": "DE",
            "zone_id": "DEU",
            "intensity_g_per_kwh": 360.0,
            "intensity_source": "ember",
            "intensity_year": 2024,
            "basis": "lifecycle",
            "pue": 1.0,
            "energy_kwh": energy / 3.6e6,
            "co2_g": energy / 3.6e6 * 360.0,
            "greenmeter_version": "0.1.0",
            "tags": json.dumps({"model": f"m{i % 3}"}),
            "git_branch": ["main", "dev"][i % 2],
        }
    )
    row.update(overrides)
    return row


def write_csv(path, rows, columns=COLUMNS):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def load(*paths, columns=None):
    warnings: list[str] = []
    frame = load_history(list(paths), warnings.append, columns)
    return frame, warnings


def test_sums_and_means_per_group(tmp_path):
    rows = [make_row(i, units=50 if i % 4 == 0 else "") for i in range(60)]
    frame, warnings = load(write_csv(tmp_path / "runs.csv", rows))
    assert warnings == [] and len(frame) == 60
    table = aggregate(frame, ["branch"]).set_index("branch")
    for branch, parity in (("main", 0), ("dev", 1)):
        mine = [r for i, r in enumerate(rows) if i % 2 == parity]
        energies = [r["energy_total_j"] for r in mine]
        got = table.loc[branch]
        assert got["runs"] == 30
        assert got["energy_j_sum"] == pytest.approx(sum(energies), rel=1e-12)
        assert got["energy_j_mean"] == pytest.approx(sum(energies) / 30, rel=1e-12)
        mean = sum(energies) / 30
        sd = math.sqrt(sum((e - mean) ** 2 for e in energies) / 29)
        assert got["energy_j_std"] == pytest.approx(sd, rel=1e-9)
        assert got["duration_s_sum"] == pytest.approx(sum(r["duration_s"] for r in mine))
        assert got["co2_g_sum"] == pytest.approx(sum(r["co2_g"] for r in mine), rel=1e-12)
        counted = [r for r in mine if r["units"]]
        if counted:
            per_unit = sum(r["energy_total_j"] for r in counted) / sum(r["units"] for r in counted)
            assert got["energy_j_per_unit"] == pytest.approx(per_unit, rel=1e-12)
        else:
            assert math.isnan(got["energy_j_per_unit"])
    # "dev" rows are odd-numbered, so none has i % 4 == 0: no units there.
    assert math.isnan(table.loc["dev", "units_sum"]) and table.loc["main", "units_sum"] == 15 * 50


def test_group_by_tag_command_and_day(tmp_path):
    rows = [make_row(i) for i in range(12)]
    frame, _ = load(write_csv(tmp_path / "runs.csv", rows))
    by_tag = aggregate(frame, ["tag:model"]).set_index("tag:model")
    assert by_tag["runs"].to_dict() == {"m0": 4, "m1": 4, "m2": 4}
    assert by_tag.loc["m1", "energy_j_sum"] == pytest.approx(sum(100.0 + i for i in (1, 4, 7, 10)))
    by_command = aggregate(frame, ["command"]).set_index("command")
    assert by_command["runs"].to_dict() == {"python job0.py": 6, "python job1.py": 6}
    by_day = aggregate(frame, ["day"])
    assert by_day["day"].tolist()[:2] == ["2025-01-01", "2025-01-02"]


def test_malformed_rows_skipped_with_file_and_line(tmp_path):
    path = write_csv(tmp_path / "runs.csv", [make_row(i) for i in range(4)])
    lines = path.read_text().splitlines()
    good = lines[1]
    lines[2] = lines[2] + ",extra,fields"  # line 3: too many fields
    lines[3] = lines[3].replace(",110.0,", ",lots,").replace(",102.0,", ",lots,")  # line 4
    lines += [
        "," + good.split(",", 1)[1],  # line 6: no run_id
        good.split(",")[0] + ",yesterday" + good[good.index(",", len(good.split(",")[0]) + 1) :],
        good[:60],  # line 8: cut short
        "",  # blank: not an error
    ]
    path.write_text("\n".join(lines) + "\n")
    frame, warnings = load(path)
    where = sorted(w.split(": skipped")[0] for w in warnings)
    assert where == [f"{path}:{n}" for n in (3, 4, 6, 7, 8)], warnings
    assert any("not a number" in w for w in warnings)
    assert any("not an ISO 8601 time" in w for w in warnings)
    assert len(frame) == 2  # lines 2 and 5
    assert frame["energy_total_j"].tolist() == [100.0, 103.0]


def test_malformed_rows_named_on_stderr_by_the_command(greenmeter, tmp_path):
    path = write_csv(tmp_path / "runs.csv", [make_row(i) for i in range(3)])
    path.write_text(path.read_text() + "not,a,greenmeter,row" + ",x" * 60 + "\n")
    proc = greenmeter("report", "runs.csv", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "runs.csv:5: skipped: " in proc.stderr.decode()
    assert json.loads(proc.stdout)[0]["runs"] == 3


def test_history_begun_by_an_older_version(tmp_path):
    # The header has only the first version's columns; newer rows carry more fields.
    path = tmp_path / "runs.csv"
    old = make_row(0, tags="")
    new = make_row(1, units=10, unit_name="samples")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(FOUNDATION_COLUMNS)
        writer.writerow([old[c] for c in FOUNDATION_COLUMNS])
        writer.writerow([new[c] for c in COLUMNS])
    frame, warnings = load(path)
    assert warnings == [] and len(frame) == 2
    assert frame["units"].tolist()[1] == 10 and math.isnan(frame["units"].tolist()[0])
    assert key_series(frame, "tag:model").tolist() == ["", "m1"]


def _report(run_id: str, partial: bool, energy: float) -> dict:
    return {
        "schema_version": 1,
        "run_id": run_id,
        "greenmeter_version": "0.1.0",
        "command": ["sleep", "1"],
        "exit_code": None if partial else 0,
        "interrupted": False,
        "partial": partial,
        "started_at": "2025-02-01T10:00:00.000Z",
        "ended_at": "2025-02-01T10:00:05.000Z",
        "duration_s": 5.0,
        "host": {
            "hostname": "h",
            "os": "Linux 6",
            "python": "3.11.7",
            "cpu_model": "X",
            "gpu_models": [],
        },
        "energy_j": {"total": energy, "cpu": energy, "gpu": None, "dram": None},
        "components": [{"kind": "cpu", "method": "estimated", "counted": True}],
        "carbon": {
            "region": "FR",
            "zone_id": "FRA",
            "intensity_g_per_kwh": 50.0,
            "pue": 1.0,
            "energy_kwh": energy / 3.6e6,
            "co2_g": energy / 3.6e6 * 50.0,
        },
        "warnings": [],
        "tags": {"model": "m9"},
    }


def test_checkpoints_are_partial_and_final_reports_win(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "a.json").write_text(json.dumps(_report("A", partial=True, energy=5.0)))
    (runs / "b.json").write_text(json.dumps(_report("B", partial=True, energy=7.0)))
    # The CSV row of A's finished run: A counts once, as finished, with its final energy.
    write_csv(runs / "runs.csv", [make_row(0, run_id="A", energy_total_j=50.0)])
    frame, warnings = load(runs)
    assert warnings == []
    table = aggregate(frame, ["run"]).set_index("run")
    assert table["runs"].to_dict() == {"A": 1, "B": 1}
    assert table["partial"].to_dict() == {"A": 0, "B": 1}
    assert table.loc["A", "energy_j_sum"] == 50.0 and table.loc["B", "energy_j_sum"] == 7.0


def test_directory_of_reports_and_csv_counts_each_run_once(greenmeter, tmp_path):
    for _ in range(2):
        assert (
            greenmeter("run", "--tag", "suite=unit", "--", sys.executable, "-c", "pass").returncode
            == 0
        )
    reports = sorted((tmp_path / "greenmeter-runs").glob("*.json"))
    assert len(reports) == 2
    proc = greenmeter("report", "--group-by", "tag:suite", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["tag:suite"] == "unit" and row["runs"] == 2 and row["partial"] == 0
    total = sum(read_report(p)["energy_j"]["total"] for p in reports)
    # A report read back is its CSV row: energy to the microjoule.
    assert row["energy_j_sum"] == pytest.approx(total, rel=1e-6, abs=2e-6)


def test_non_greenmeter_files(tmp_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    (folder / "run.timeline.csv").write_text("t_s,cpu_j\n0,0\n")  # not a history: silent
    (folder / "package.json").write_text('{"name": "x"}')  # not a report: silent
    (folder / "broken.json").write_text('{"schema_version": 1,\n "run_id": ')
    write_csv(folder / "runs.csv", [make_row(0)])
    frame, warnings = load(folder)
    assert len(frame) == 1
    assert warnings == [f"{folder / 'broken.json'}:2: not valid JSON (Expecting value); skipped"]
    _, warnings = load(folder / "run.timeline.csv")  # named explicitly: said
    assert warnings == [
        f"{folder / 'run.timeline.csv'}:1: not a greenmeter CSV history (no run_id column); skipped"
    ]


def test_selections_and_time_window(tmp_path):
    frame, _ = load(write_csv(tmp_path / "runs.csv", [make_row(i) for i in range(28)]))
    since = parse_time_bound("2025-01-10")
    until = parse_time_bound("2025-01-20T00:00Z")
    chosen = select(frame, [Selection.parse("branch=main")], since, until)
    days = sorted(int(s[8:10]) for s in chosen["started_at"])
    assert days == [11, 13, 15, 17, 19]
    tagged = select(frame, [Selection.parse("tag:model=m2")])
    assert len(tagged) == 9
    assert len(select(frame, [Selection.parse("exit_code=0")])) == 28
    now = pd.Timestamp("2025-03-01T00:00Z").to_pydatetime()
    assert parse_time_bound("7d", now) == pd.Timestamp("2025-02-22T00:00Z")
    with pytest.raises(ValueError):
        parse_time_bound("last tuesday")
    with pytest.raises(ValueError):
        Selection.parse("colour=blue")


def test_report_formats_and_output_file(greenmeter, tmp_path):
    write_csv(tmp_path / "runs.csv", [make_row(i) for i in range(6)])
    csv_out = greenmeter("report", "runs.csv", "--group-by", "host")
    assert csv_out.returncode == 0, csv_out.stderr
    rows = list(csv.DictReader(csv_out.stdout.decode().splitlines()))  # piped: CSV
    assert [r["host"] for r in rows] == ["h0", "h1"]
    assert float(rows[0]["energy_j_sum"]) == pytest.approx(100 + 102 + 104)
    assert rows[0]["first_started_at"] == "2025-01-01T12:00:00Z"
    md = greenmeter("report", "runs.csv", "--group-by", "branch", "-o", "out.md")
    assert md.returncode == 0 and md.stdout == b""
    text = (tmp_path / "out.md").read_text().splitlines()
    assert text[0].startswith("| branch | runs |") and text[1].startswith("| --- |")
    assert text[2].startswith("| dev | 3 |")
    table = greenmeter("report", "runs.csv", "--format", "table")
    assert "all runs" in table.stdout.decode() and "615.0 J" in table.stdout.decode()


def test_bad_report_options_exit_125(greenmeter, tmp_path):
    write_csv(tmp_path / "runs.csv", [make_row(0)])
    for args in (
        ["--group-by", "colour"],
        ["--since", "someday"],
        ["--filter", "nokey"],
        ["missing.csv"],
        ["--format", "xml"],
    ):
        proc = greenmeter("report", "runs.csv", *args)
        assert proc.returncode == 125, args
        assert b"Traceback" not in proc.stderr


def test_report_html_draws_the_json_reports(greenmeter, tmp_path):
    assert greenmeter("run", "--quiet", "--", sys.executable, "-c", "pass").returncode == 0
    proc = greenmeter("report", "--html", "runs.html", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["runs"] == 1
    page = (tmp_path / "runs.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    write_csv(tmp_path / "only.csv", [make_row(0)])
    refused = greenmeter("report", "only.csv", "--html", "x.html")
    assert refused.returncode == 125 and b"no JSON reports" in refused.stderr


def test_many_bad_rows_are_counted_not_listed(tmp_path):
    path = write_csv(tmp_path / "runs.csv", [make_row(i) for i in range(3)])
    path.write_text(path.read_text() + "".join(f"junk{i}\n" for i in range(50)))
    frame, warnings = load(path)
    assert len(frame) == 3
    assert len(warnings) == MAX_WARNINGS_PER_FILE + 1
    assert warnings[0] == f"{path}:5: skipped: row cut short (1 of {len(COLUMNS)} fields)"
    assert warnings[-1] == f"{path}: 30 more malformed rows skipped (50 in all)"
