"""The Python API: ``greenmeter.Meter`` measuring a block of this process, and
``greenmeter.phase`` / ``add_units`` outside any run. RAPL is a fake powercap tree whose
package counter a separate process advances at a known power, on tmpfs (/dev/shm) where
it stays within ~2 ms of its clock (docs: /work/shared/notes/real-services.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import greenmeter

from powercap_tree import PowercapTree, single_socket, spawn_driver, stop_driver

PACKAGE_W = 30.0


@pytest.fixture(scope="module")
def rapl_at_known_power():
    """One package zone drawing ``PACKAGE_W``, for the whole module."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="gm-api-", dir=base) as directory:
        tree = PowercapTree(Path(directory))
        single_socket(tree)
        driver = spawn_driver(tree, {"intel-rapl:0": PACKAGE_W})
        try:
            yield tree
        finally:
            stop_driver(driver)


@pytest.fixture
def machine(rapl_at_known_power, monkeypatch):
    monkeypatch.setenv("GREENMETER_POWERCAP_ROOT", str(rapl_at_known_power.root))
    monkeypatch.delenv("GREENMETER_CONTROL", raising=False)


def cpu(result_or_phase) -> float:
    return result_or_phase.energy_j["cpu"]


def test_a_meter_measures_its_block_and_its_phases_with_the_run_pipeline(machine, tmp_path):
    meter = greenmeter.Meter(
        "cell", region="DE", json=tmp_path / "m.json", csv=tmp_path / "m.csv", gpus="none"
    )
    assert repr(meter) == "<greenmeter.Meter 'cell': not started>"
    with meter as m:
        assert m is meter and "running for" in repr(meter)
        with greenmeter.phase("load"):
            time.sleep(0.5)
        for _ in range(2):
            with greenmeter.phase("step"):
                time.sleep(0.3)
                greenmeter.add_units(64, "samples")
        # (the child's start-up settles first: it also slows the fake counters' driver)
        child = "import greenmeter, time\ntime.sleep(0.2)\nwith greenmeter.phase('child'): time.sleep(0.4)"
        subprocess.run(
            [sys.executable, "-c", child],
            check=True,
            env={**os.environ, "PYTHONPATH": str(Path(greenmeter.__file__).parent.parent)},
        )
    result = meter.result
    assert "GREENMETER_CONTROL" not in os.environ  # given back as it was
    assert cpu(result) == pytest.approx(PACKAGE_W * result.duration_s, rel=0.01)
    (package,) = [c for c in result.components if c.kind == "cpu"]
    assert package.method == "measured" and package.source == "rapl"
    phases = {p.path: p for p in result.phases.phases}
    assert set(phases) == {"load", "step", "child"}  # the child process marked too
    for p in phases.values():  # 2 %: the driver process itself lags ~1-3 ms when loaded
        assert cpu(p) == pytest.approx(PACKAGE_W * p.duration_s, rel=0.02), p.path
    assert phases["step"].count == 2 and phases["step"].units == {"samples": 128.0}
    assert result.units == 128 and result.unit_name == "samples"
    assert result.carbon.region == "DE" and result.carbon.co2_g > 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["schema_version"] == 2 and report["command"] == ["greenmeter.Meter", "cell"]
    assert [p["path"] for p in report["phases"]["list"]] == [p.path for p in result.phases.phases]
    assert (tmp_path / "m.csv").read_text().count("\n") == 2  # header and the row
    text = repr(meter)
    assert text.startswith("<greenmeter.Meter 'cell': ") and "cpu" in text and "measured" in text

    first = meter.result
    meter.start()  # and again: a new stretch, a new result
    time.sleep(0.2)
    second = meter.stop()
    assert second is meter.result and second.labels.run_id != first.labels.run_id
    assert cpu(second) == pytest.approx(PACKAGE_W * second.duration_s, rel=0.02)
    assert second.phases is None
    with pytest.raises(RuntimeError, match="not running"):
        meter.stop()


METER_ON_A_GPU = """
import json, sys, time, greenmeter
meter = greenmeter.Meter("script", gpus="all")
with meter:
    with greenmeter.phase("prefill"):
        time.sleep(0.4)
    with greenmeter.phase("decode"):
        for _ in range(4):
            with greenmeter.phase("token_batch"):
                time.sleep(0.1)
                greenmeter.add_units(256, "tokens")
r = meter.result
print(json.dumps({"run": [r.energy_j["gpu"], r.duration_s],
                  "phases": {p.path: [p.energy_j["gpu"], p.duration_s, p.units] for p in r.phases.phases}}))
"""


def test_a_meter_on_a_gpu_gives_each_phase_within_one_percent(fake_lib, tmp_path):
    """The fake NVML's counter is computed from CLOCK_MONOTONIC when read: exact truth."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GREENMETER_", "FAKE_NVML_", "CUDA_"))
    }
    env.update(
        LD_LIBRARY_PATH=str(fake_lib),
        FAKE_NVML_GPUS="1",
        FAKE_NVML_GPU0_PROFILE="const:250",
        GREENMETER_POWERCAP_ROOT=str(tmp_path),
        PYTHONPATH=str(Path(greenmeter.__file__).parent.parent),
    )
    out = subprocess.run(
        [sys.executable, "-c", METER_ON_A_GPU], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    gpu_j, duration_s = figures["run"]
    assert gpu_j == pytest.approx(250 * duration_s, rel=0.01)
    phases = figures["phases"]
    assert list(phases) == ["prefill", "decode", "decode/token_batch"]
    for path, (energy_j, seconds, _) in phases.items():
        assert energy_j == pytest.approx(250 * seconds, rel=0.01), path
    assert phases["decode"][2] == {"tokens": 1024.0}


def test_a_meter_decorates_a_function_and_writes_nothing_unless_asked(
    machine, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    meter = greenmeter.Meter("f", gpus="none")

    @meter
    def work(x):
        time.sleep(0.2)
        return x * 2

    assert work(21) == 42
    assert cpu(meter.result) == pytest.approx(PACKAGE_W * meter.result.duration_s, rel=0.02)
    assert meter.result.carbon.region_fallback  # no region: the world average, and it says so
    assert any("no region" in w for w in meter.result.warnings)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_are_refused_at_once_naming_the_fix(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        greenmeter.Meter(json=tmp_path / "missing" / "m.json")
    with pytest.raises(ValueError, match="directory"):
        greenmeter.Meter(csv=tmp_path)
    with pytest.raises(ValueError, match="region"):
        greenmeter.Meter(region="Atlantis")


def test_marks_outside_any_run_do_nothing_and_never_raise(monkeypatch, tmp_path):
    monkeypatch.delenv("GREENMETER_CONTROL", raising=False)
    with greenmeter.phase("x") as p:
        assert repr(p) == "greenmeter.phase('x')"
    for count in (1, -1, float("nan"), "many", None, 10**400):
        greenmeter.add_units(count, object())
    greenmeter.phase(object())  # any name
    # A variable that names something else than greenmeter's FIFO is not written to.
    target = tmp_path / "not-a-fifo"
    target.write_text("keep")
    monkeypatch.setenv("GREENMETER_CONTROL", str(target))
    with greenmeter.phase("y"):
        greenmeter.add_units(3)
    assert target.read_text() == "keep"
    monkeypatch.setenv("GREENMETER_CONTROL", str(tmp_path / "gone"))
    with greenmeter.phase("z"):
        pass


def test_import_greenmeter_loads_nothing_heavy():
    code = (
        "import sys, greenmeter\n"
        "with greenmeter.phase('a'): greenmeter.add_units(1)\n"
        "heavy = {'click', 'pandas', 'numpy', 'rich', 'pynvml', 'psutil'} & set(sys.modules)\n"
        "own = sorted(m for m in sys.modules if m.startswith('greenmeter'))\n"
        "print(sorted(heavy), own)"
    )
    env = {k: v for k, v in os.environ.items() if k != "GREENMETER_CONTROL"}
    env["PYTHONPATH"] = str(Path(greenmeter.__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[] ['greenmeter', 'greenmeter.marks']"


NOTEBOOK = """
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = [
    "import greenmeter, time\\nm = greenmeter.Meter('cell', gpus='none')",
    "with m:\\n    with greenmeter.phase('fit'):\\n        time.sleep(0.2)",
    "m",
    "with m:\\n    raise ValueError('a failing cell')",
    "m.result.labels.run_id != first",
]
for i, cell in enumerate(cells):
    if i == 3:
        shell.user_ns["first"] = shell.user_ns["m"].result.labels.run_id
    out = shell.run_cell(cell, store_history=True)
    print(i, type(out.error_in_exec).__name__, repr(out.result))
print("control after:", __import__("os").environ.get("GREENMETER_CONTROL"))
"""


def test_a_meter_measures_notebook_cells(tmp_path):
    import importlib.util

    if importlib.util.find_spec("IPython") is None:
        pytest.skip("IPython is not installed (it is no dependency of greenmeter)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENMETER_")}
    env.update(
        GREENMETER_POWERCAP_ROOT=str(tmp_path),
        PYTHONPATH=str(Path(greenmeter.__file__).parent.parent),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    done = subprocess.run(
        [sys.executable, "-c", NOTEBOOK], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stdout.splitlines() if line.startswith("Out[")]
    assert len(shown) == 2 and shown[1] == "Out[5]: True"  # a new result for the failed cell
    assert shown[0].startswith("Out[3]: <greenmeter.Meter 'cell': ") and "1 phase>" in shown[0]
    lines = [line for line in done.stdout.splitlines() if line[:2] in ("1 ", "2 ", "3 ", "co")]
    assert lines[0] == "1 NoneType None"
    assert lines[1].startswith("2 NoneType <greenmeter.Meter 'cell': ")
    assert lines[2] == "3 ValueError None"  # the cell failed; the Meter stopped all the same
    assert lines[3] == "control after: None"
