"""``run --cross-check codecarbon``: CodeCarbon's offline tracker over the same run, for
real (skipped only where codecarbon cannot be imported: CI installs it with the test
extra), and the clear errors before launch when it cannot run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from greenmeter.carbon.regions import resolve_region
from greenmeter.run import crosscheck

from conftest import read_report

PY = sys.executable
BURN = (
    "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\nprint('out')"
)
HAVE_CODECARBON = importlib.util.find_spec("codecarbon") is not None


@pytest.mark.skipif(
    not HAVE_CODECARBON, reason="codecarbon not installed (pip install -e '.[test]')"
)
def test_codecarbon_beside_greenmeter_for_real(greenmeter, tmp_path):
    import codecarbon

    proc = greenmeter(
        "run",
        "--region",
        "DE",
        "--pue",
        "1.2",
        "--cross-check",
        "codecarbon",
        "--json",
        "r.json",
        "--",
        PY,
        "-c",
        BURN,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"out\n"  # CodeCarbon prints nothing into the command's output
    report = read_report(tmp_path / "r.json")
    check = report["cross_check"]
    assert check["tool"] == "codecarbon" and check["version"] == codecarbon.__version__
    assert check["country_iso_code"] == "DEU" and "error" not in check
    # The same window: CodeCarbon's encloses greenmeter's first and last reads.
    assert check["duration_s"] >= 0.9 * report["duration_s"]
    theirs = check["energy_j"]
    # CodeCarbon samples the live processes: a command gone before its last sample can
    # show 0 J of CPU (the short-lived process problem), so only signs are certain.
    assert theirs["cpu"] >= 0 and theirs["gpu"] >= 0 and theirs["dram"] > 0
    assert theirs["total"] == pytest.approx(
        theirs["cpu"] + theirs["gpu"] + theirs["dram"], rel=1e-6
    )
    # CO2e with the PUE on both sides, at CodeCarbon's own intensity for Germany.
    assert check["co2_g"] == pytest.approx(
        theirs["total"] * 1.2 / 3.6e6 * check["intensity_g_per_kwh"], rel=1e-6
    )
    rows = {row["kind"]: row for row in check["difference"]}
    assert list(rows) == ["cpu", "gpu", "dram", "total", "co2"]
    for kind in ("cpu", "dram", "total"):
        row = rows[kind]
        assert row["greenmeter_j"] == report["energy_j"][kind]
        assert row["codecarbon_j"] == theirs[kind]
        assert row["difference_j"] == pytest.approx(row["greenmeter_j"] - row["codecarbon_j"])
        if row["codecarbon_j"]:
            assert row["difference_pct"] == pytest.approx(
                100 * row["difference_j"] / row["codecarbon_j"]
            )
        else:
            assert row["difference_pct"] is None
    assert rows["gpu"]["greenmeter_j"] is None and rows["gpu"]["difference_j"] is None
    assert rows["co2"]["greenmeter_g"] == report["carbon"]["co2_g"]
    assert rows["co2"]["codecarbon_g"] == check["co2_g"]
    err = proc.stderr.decode()
    assert "cross-check: CodeCarbon" in err and "dram (CodeCarbon: ram)" in err
    assert "Traceback" not in err and "[codecarbon" not in err  # its log stays quiet


def test_without_the_extra_one_line_before_launch(tmp_path, gm_env):
    # codecarbon made unimportable in greenmeter's process, as if the extra were missing.
    driver = (
        "import sys\nsys.modules['codecarbon'] = None\n"
        "from greenmeter.cli.main import main\nmain(sys.argv[1:])"
    )
    proc = subprocess.run(
        [
            PY,
            "-c",
            driver,
            "run",
            "--region",
            "DE",
            "--cross-check",
            "codecarbon",
            "--",
            PY,
            "-c",
            "open('ran', 'w')",
        ],
        cwd=tmp_path,
        env=gm_env,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 125
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "pip install 'greenmeter[codecarbon]'" in err
    assert not (tmp_path / "ran").exists()


def test_needs_a_country(greenmeter, tmp_path):
    proc = greenmeter("run", "--cross-check", "codecarbon", "--", PY, "-c", "open('ran', 'w')")
    assert proc.returncode == 125
    assert proc.stderr.decode().count("\n") == 1
    assert (
        "needs --region" in proc.stderr.decode()
        or "pip install 'greenmeter[codecarbon]'" in proc.stderr.decode()
    )
    assert not (tmp_path / "ran").exists()


@pytest.mark.skipif(not HAVE_CODECARBON, reason="codecarbon not installed")
@pytest.mark.parametrize(
    ("region", "country"),
    [("DE", "DEU"), ("US-CA", "USA"), ("aws:eu-central-1", "DEU"), ("CA-QC", "CAN")],
)
def test_country_of_the_region(region, country):
    assert crosscheck.prepare("codecarbon", resolve_region(region), 1.0).country_iso3 == country


@pytest.mark.skipif(not HAVE_CODECARBON, reason="codecarbon not installed")
def test_a_failing_tracker_is_reported_not_raised(monkeypatch):
    import codecarbon

    def broken(**kwargs):
        raise RuntimeError("no hardware info")

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", broken)
    tracked = crosscheck.prepare("codecarbon", resolve_region("FR"), 1.0).start()
    tracked.stop()
    check = tracked.as_dict({"cpu": 1.0, "gpu": None, "dram": 0.1, "total": 1.1}, 0.01)
    assert check["error"] == "CodeCarbon failed at start: RuntimeError: no hardware info"
    assert "difference" not in check
