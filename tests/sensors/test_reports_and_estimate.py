"""The report's fields and arithmetic, concurrent CSV appends, and the estimate path."""

from __future__ import annotations

import csv
import subprocess
import sys

from conftest import read_report

PY = sys.executable
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def test_json_report_fields_and_arithmetic(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "--region",
        "DE",
        "--pue",
        "1.2",
        "--json",
        "r.json",
        "--csv",
        "runs.csv",
        "--",
        PY,
        "-c",
        BURN.format(s=0.5),
    )
    assert proc.returncode == 0, proc.stderr
    r = read_report(tmp_path / "r.json")
    assert r["schema_version"] == 2
    assert r["command"][0] == PY and r["exit_code"] == 0 and r["interrupted"] is False
    assert r["partial"] is False
    assert r["started_at"].endswith("Z") and r["ended_at"].endswith("Z")
    assert 0.4 < r["duration_s"] < 30
    assert r["host"]["hostname"]
    # No GPU here: the gpu kind is null, not 0; cpu and dram are estimated.
    assert r["energy_j"]["gpu"] is None
    assert r["energy_j"]["cpu"] > 0 and r["energy_j"]["dram"] > 0
    assert abs(r["energy_j"]["total"] - r["energy_j"]["cpu"] - r["energy_j"]["dram"]) < 1e-9
    methods = {c["kind"]: (c["method"], c["source"]) for c in r["components"]}
    assert methods["cpu"] == ("estimated", "estimate-cpu-time")
    for comp in r["components"]:
        assert comp["samples"] >= 2
        assert set(comp) >= {
            "kind",
            "name",
            "index",
            "source",
            "method",
            "energy_j",
            "mean_power_w",
            "samples",
        }
    c = r["carbon"]
    assert c["region"] == "DE" and c["pue"] == 1.2
    assert c["intensity_source"] and c["intensity_year"] >= 2019 and c["basis"]
    expected = r["energy_j"]["total"] * 1.2 / 3.6e6 * c["intensity_g_per_kwh"]
    assert abs(c["co2_g"] - expected) <= 1e-9 * max(1.0, expected)
    assert abs(c["energy_kwh"] - r["energy_j"]["total"] / 3.6e6) < 1e-15
    # The CSV row says the same.
    rows = list(csv.DictReader((tmp_path / "runs.csv").open()))
    assert len(rows) == 1
    assert rows[0]["run_id"] == r["run_id"]
    assert float(rows[0]["energy_total_j"]) == round(r["energy_j"]["total"], 6)
    assert rows[0]["energy_gpu_j"] == ""
    assert rows[0]["cpu_method"] == "estimated"


def test_default_paths_and_world_average_is_said(greenmeter, tmp_path):
    proc = greenmeter("run", "--", PY, "-c", "pass")
    assert proc.returncode == 0
    reports = list((tmp_path / "greenmeter-runs").glob("*.json"))
    assert len(reports) == 1 and (tmp_path / "greenmeter-runs" / "runs.csv").exists()
    r = read_report(reports[0])
    assert r["carbon"]["region"] is None and r["carbon"]["region_fallback"] is True
    assert any("world average" in w for w in r["warnings"])
    assert "world average" in proc.stderr.decode()


def test_eight_concurrent_appenders_give_eight_intact_rows(tmp_path, gm_env):
    procs = [
        subprocess.Popen(
            [
                PY,
                "-m",
                "greenmeter",
                "run",
                "-q",
                "--region",
                "FR",
                "--json",
                f"r{i}.json",
                "--csv",
                "shared.csv",
                "--",
                PY,
                "-c",
                "pass",
            ],
            cwd=tmp_path,
            env=gm_env,
        )
        for i in range(8)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    lines = (tmp_path / "shared.csv").read_text().splitlines()
    assert lines[0].startswith("run_id,") and sum(ln.startswith("run_id,") for ln in lines) == 1
    rows = list(csv.DictReader((tmp_path / "shared.csv").open()))
    assert len(rows) == 8
    header_len = len(lines[0].split(","))
    assert all(len(row) == header_len and None not in row for row in rows)
    assert {row["run_id"] for row in rows} == {
        read_report(tmp_path / f"r{i}.json")["run_id"] for i in range(8)
    }


def _cpu(report: dict) -> dict:
    return next(c for c in report["components"] if c["kind"] == "cpu")


def test_estimate_counts_a_busy_child(greenmeter, tmp_path):
    proc = greenmeter("run", "-q", "--json", "r.json", "--", PY, "-c", BURN.format(s=1.0))
    assert proc.returncode == 0
    r = read_report(tmp_path / "r.json")
    cpu = _cpu(r)
    # 1 s of CPU by construction (+ interpreter start-up); energy = cpu_s x W per busy CPU.
    assert 1.0 <= cpu["details"]["cpu_s"] < 1.6
    watts = r["energy_j"]["cpu"] / cpu["details"]["cpu_s"]
    assert 1.0 <= watts <= 100.0


def test_estimate_counts_a_grandchild_that_exits_early(greenmeter, tmp_path):
    # The child starts a grandchild that burns 1 s of CPU and exits, then idles: the
    # grandchild's time must be in the figure although it was gone long before the end.
    script = tmp_path / "parent.py"
    script.write_text(
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {BURN.format(s=1.0)!r}])\n"
        "time.sleep(1.0)\n"
    )
    proc = greenmeter("run", "-q", "--json", "r.json", "--", PY, str(script))
    assert proc.returncode == 0
    r = read_report(tmp_path / "r.json")
    assert 1.0 <= _cpu(r)["details"]["cpu_s"] < 1.8
    assert r["energy_j"]["cpu"] > 0.9 * _cpu(r)["details"]["cpu_s"] * 1.0


def test_twenty_short_children_count_like_one_long_process(greenmeter, tmp_path):
    # CodeCarbon samples live processes and misses children that live shorter than its
    # interval; the tree's rusage does not.
    script = tmp_path / "many.py"
    script.write_text(
        "import subprocess, sys\n"
        "for _ in range(20):\n"
        f"    subprocess.run([sys.executable, '-c', {BURN.format(s=0.1)!r}])\n"
    )
    proc = greenmeter("run", "-q", "--interval", "1", "--json", "r.json", "--", PY, str(script))
    assert proc.returncode == 0
    assert 2.0 <= _cpu(read_report(tmp_path / "r.json"))["details"]["cpu_s"] < 4.0


def test_reports_get_the_umask_permissions_not_private(greenmeter, tmp_path):
    proc = greenmeter("run", "-q", "--json", "r.json", "--", PY, "-c", "pass")
    assert proc.returncode == 0
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~umask
