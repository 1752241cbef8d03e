"""``greenmeter report --rate``: stars by the AI Energy Score method over stored runs."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenmeter.history.rating import BANDS, stars

from synthetic_runs import machine, report

GPU = machine(gpus=1, packages=0)


def write(directory, n: int, task: str, model: str, j_per_unit: float, units: float = 10.0):
    data = report(
        GPU,
        [(0.0, [0.0]), (10.0, [j_per_unit * units])],
        run_id=f"2025010{n}T000000Z-0000000{n}",
        started_at=f"2025-01-0{n}T00:00:00.000Z",
        tags={"task": task, "model": model},
        units=units,
        unit_name="tokens",
        energy_j_per_unit=j_per_unit,
        timeline=None,
    )
    (directory / f"run{n}.json").write_text(json.dumps(data))


@pytest.fixture
def history(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for n, (task, model, j) in enumerate(
        [("chat", "m1", 1.0), ("chat", "m2", 3.0), ("chat", "m2", 3.0), ("chat", "m3", 5.0),
         ("summarise", "m1", 2.0)],
        start=1,
    ):  # fmt: skip
        write(runs, n, task, model, j)
    (tmp_path / "ref.csv").write_text(
        "name,J per unit,source,group\npublished-7b,2.0,AI Energy Score 2025,chat\n"
    )
    return runs


@given(
    st.lists(st.floats(0.001, 1e6, allow_nan=False), min_size=2, max_size=30),
)
def test_five_equal_bands_five_stars_for_the_lowest(values):
    low, high = min(values), max(values)
    rated = [stars(v, low, high) for v in values]
    for value, (n, band_low, band_high) in zip(values, rated):
        assert 1 <= n <= BANDS
        assert band_low <= value * (1 + 1e-9) and value <= band_high * (1 + 1e-9)
        if high > low:
            assert band_high - band_low == pytest.approx((high - low) / BANDS)
    assert stars(low, low, high)[0] == BANDS
    assert stars(high, low, high)[0] == (1 if high > low else BANDS)
    by_value = sorted(zip(values, (n for n, _, _ in rated)))
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(by_value))  # more J, fewer stars


def test_rating_within_each_task_with_a_reference(greenmeter, history, tmp_path):
    proc = greenmeter(
        "report", str(history), "--rate", "--group-by", "tag:model", "--by", "tag:task",
        "--reference", "ref.csv", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["label"] == "relative to the runs compared, on this hardware"
    rated = {(m["tag:task"], m["tag:model"]): m for m in out["members"]}
    # chat: 1 to 5 J/token in bands of 0.8 J; the reference (2 J) is in the second band.
    assert {k: m["stars"] for k, m in rated.items()} == {
        ("chat", "m1"): 5,
        ("chat", "published-7b"): 4,
        ("chat", "m2"): 3,
        ("chat", "m3"): 1,
        ("summarise", "m1"): 5,  # alone in its task: nothing to be worse than
    }
    assert rated[("chat", "m2")]["runs"] == 2
    assert rated[("chat", "m2")]["band_low_j_per_unit"] == pytest.approx(2.6)
    assert rated[("chat", "m2")]["band_high_j_per_unit"] == pytest.approx(3.4)
    assert rated[("chat", "published-7b")]["source"] == "AI Energy Score 2025"


def test_rating_in_markdown_table_and_html(greenmeter, history, tmp_path):
    md = greenmeter(
        "report", str(history), "--rate", "--group-by", "tag:model", "--format", "markdown"
    )
    assert md.returncode == 0, md.stderr
    text = md.stdout.decode()
    assert "relative to the runs compared, on this hardware" in text
    assert "| m1 | 2 | 1.5 J/token | \u2605\u2605\u2605\u2605\u2605 5/5 |" in text
    assert "\u2605\u2606\u2606\u2606\u2606 1/5" in text  # m3, 5 J/token
    table = greenmeter(
        "report", str(history), "--rate", "--group-by", "tag:model", "-o", "rating.txt",
        "--html", "rating.html",
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "\u2605\u2605\u2605\u2605\u2605 5/5" in (tmp_path / "rating.txt").read_text()
    page = (tmp_path / "rating.html").read_text()
    assert '<section id="rating"' in page and "on this hardware" in page


def test_bad_rating_options_are_one_line(greenmeter, history, tmp_path):
    (tmp_path / "bad.csv").write_text("name,J per unit,source\nx,lots,paper\n")
    proc = greenmeter("report", str(history), "--rate", "--reference", "bad.csv")
    assert proc.returncode == 125 and b"bad.csv:2: 'lots' is not a number" in proc.stderr
    assert proc.stderr.count(b"\n") == 1
    proc = greenmeter("report", str(history), "--by", "tag:task")
    assert proc.returncode == 125 and b"--by and --reference go with --rate" in proc.stderr
