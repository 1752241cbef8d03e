"""The timeline CSV: bounded size, energy kept, atomic, referenced from the report, checkpointed."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenmeter.reports.timeline import (
    TimelineUnreadable,
    column_names,
    downsample,
    from_csv,
    intervals,
    read_timeline,
    timeline_path,
    to_csv,
    write_timeline,
)
from greenmeter.run.sampler import MAX_TIMELINE_POINTS

from conftest import read_report
from synthetic_runs import DAY_S, Comp, machine, points, sampled

PY = sys.executable


def test_path_and_columns_name_every_component_uniquely(tmp_path):
    assert timeline_path(tmp_path / "run.json") == tmp_path / "run.timeline.csv"
    assert timeline_path(tmp_path / "report") == tmp_path / "report.timeline.csv"
    comps = [
        Comp("gpu", "A100", 0),
        Comp("gpu", "A100", 1),
        Comp("cpu", "process tree"),
        Comp("cpu", "process tree"),
    ]
    assert column_names(comps) == [
        "t_s",
        "gpu:A100#0_j",
        "gpu:A100#1_j",
        "cpu:process tree_j",
        "cpu:process tree~2_j",
    ]


def test_a_day_at_two_seconds_is_stored_in_bounded_size_with_its_energy(tmp_path):
    comps = machine(gpus=1, packages=1)
    day = points(comps, DAY_S, 2.0)  # 43,201 readings: far more than the sampler keeps
    ref = write_timeline(tmp_path / "day.json", comps, sampled(comps, day))
    assert ref["file"] == "day.timeline.csv" and ref["values"] == "cumulative_j"
    assert MAX_TIMELINE_POINTS // 2 <= ref["points"] <= MAX_TIMELINE_POINTS
    assert ref["columns"] == column_names(comps)
    path = tmp_path / ref["file"]
    assert path.stat().st_size < 100_000  # ~45 kB for four components
    columns, stored = read_timeline(path)
    assert columns == ref["columns"] and len(stored) == ref["points"]
    assert stored[0][0] == 0 and stored[-1][0] == pytest.approx(DAY_S)
    # Energy of the whole run and of every hour: within 0.5 % (in fact ~1e-9).
    for c in range(len(comps)):
        assert stored[-1][1][c] == pytest.approx(day[-1][1][c], rel=5e-3)
        assert stored[-1][1][c] == pytest.approx(day[-1][1][c], rel=1e-8)
    exact = {t: e for t, e in day}
    for t, energies in stored:  # every stored point is an exact original point
        assert energies == pytest.approx(exact[t], rel=1e-8)
    # Spread evenly: no stored interval is much longer than the mean one (plus a step).
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(stored)]
    assert max(gaps) <= 2 * DAY_S / len(gaps) + 2.0 + 1e-6
    # The mean power of each stored interval is the true mean over it.
    gpu_energy = sum(s.power_w[0] * (s.end_s - s.start_s) for s in intervals(stored))
    assert gpu_energy == pytest.approx(day[-1][1][0], rel=5e-3)


def test_short_timelines_are_stored_whole_and_none_stays_empty():
    pts = [(0.0, [0.0, None]), (0.5, [1.25, None]), (1.0, [2.5, 0.125])]
    assert downsample(pts, 10) == pts
    text = to_csv(pts, ["t_s", "cpu:x_j", "gpu:y_j"])
    assert text == "t_s,cpu:x_j,gpu:y_j\n0,0,\n0.5,1.25,\n1,2.5,0.125\n"
    assert from_csv(text) == (["t_s", "cpu:x_j", "gpu:y_j"], pts)
    steps = intervals(pts)
    assert steps[0].power_w == [2.5, None] and steps[1].power_w == [2.5, None]


@pytest.mark.parametrize("text", ["", "time,cpu_j\n0,0\n", "t_s,cpu_j\n0\n", "t_s,cpu_j\n0,abc\n"])
def test_malformed_timeline_files_are_refused(text):
    with pytest.raises(TimelineUnreadable):
        from_csv(text)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0.001, max_value=100.0), min_size=1, max_size=400),
    st.integers(min_value=2, max_value=50),
)
def test_downsample_is_bounded_keeps_ends_and_only_real_points(steps, max_points):
    t, e, pts = 0.0, 0.0, [(0.0, [0.0])]
    for dt in steps:
        t, e = t + dt, e + dt * 3.0
        pts.append((t, [e]))
    kept = downsample(pts, max_points)
    assert len(kept) <= max_points
    assert kept[0] == pts[0] and kept[-1] == pts[-1]
    assert all(p in pts for p in kept)
    assert [p[0] for p in kept] == sorted({p[0] for p in kept})


def test_run_stores_the_timeline_and_references_it(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "--region",
        "FR",
        "--interval",
        "0.1",
        "--json",
        "r.json",
        "--csv",
        "runs.csv",
        "--",
        PY,
        "-c",
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass",
    )
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    ref = report["timeline"]
    assert ref["file"] == "r.timeline.csv"
    columns, stored = read_timeline(tmp_path / ref["file"])
    assert ref["columns"] == ["t_s", "cpu:process tree_j", "dram:process tree_j"]
    # The process tree's gauges follow the energy: busy cores (integral: CPU seconds) and
    # resident memory (integral: MiB x s).
    assert ref["activity_columns"] == ["process tree:cpu_busy_cores_s", "process tree:rss_mib_s"]
    assert columns == ref["columns"] + ref["activity_columns"]
    assert report["activity_channels"] == [
        {"quantity": "cpu_busy_cores", "component": None},
        {"quantity": "rss_mib", "component": None},
    ]
    assert len(stored) == ref["points"] >= 5
    assert stored[-1][0] == pytest.approx(report["duration_s"], abs=1e-6)
    for comp, last in zip(report["components"], stored[-1][1]):
        assert last == pytest.approx(comp["energy_j"], rel=5e-3)
    cpu_s = report["components"][0]["details"]["cpu_s"]
    assert cpu_s >= 0.6
    assert stored[-1][1][2] == pytest.approx(cpu_s, rel=1e-3)  # the tree's exact CPU time
    # A Python interpreter is resident for the whole run: some MiB x s, under 1 GiB.
    assert 1 < stored[-1][1][3] / report["duration_s"] < 1024
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes left no temporary file


def test_checkpoints_write_the_timeline_too(tmp_path, gm_env):
    """The child copies the checkpoint files while it still runs."""
    child = (
        "import shutil, time\ntime.sleep(1.6)\n"
        "shutil.copy('r.json', 'cp.json'); shutil.copy('r.timeline.csv', 'cp.timeline.csv')"
    )
    proc = subprocess.run(
        [
            PY,
            "-m",
            "greenmeter",
            "run",
            "-q",
            "--interval",
            "0.1",
            "--checkpoint-interval",
            "0.5",
            "--json",
            "r.json",
            "--csv",
            "runs.csv",
            "--",
            PY,
            "-c",
            child,
        ],
        cwd=tmp_path,
        env=gm_env,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    checkpoint = read_report(tmp_path / "cp.json")
    assert checkpoint["partial"] is True and checkpoint["exit_code"] is None
    assert checkpoint["timeline"]["file"] == "r.timeline.csv"
    assert checkpoint["timeline"]["points"] >= 5
    # (A newer checkpoint may land between the two copies, so the counts may differ.)
    columns, stored = read_timeline(tmp_path / "cp.timeline.csv")
    ref = checkpoint["timeline"]
    assert columns == ref["columns"] + ref["activity_columns"] and len(stored) >= 5
    assert stored[-1][0] > 0.4
    assert read_report(tmp_path / "r.json")["partial"] is False
