"""The HTML report's content: series, labels, accessibility, no network, size, comparison; the CLI."""

from __future__ import annotations

import io
import json
import re
import sys
from datetime import datetime, timezone

import pytest

from greenmeter.history.html_pages import load_run, write_html_report
from greenmeter.reports.html.charts import (
    CHART_POINTS,
    CHART_W,
    MARGIN_L,
    MARGIN_R,
    nice_ticks,
    power_chart,
)
from greenmeter.reports.html.page import TABLE_ROWS, RunView, render_html
from greenmeter.reports.summary import BLOCKS, power_profile_w, print_summary, sparkline
from greenmeter.results import Carbon, ComponentResult, RunLabels, RunResult

from synthetic_runs import DAY_S, machine, points, report, write_run

PY = sys.executable
EXTERNAL = re.compile(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I)


@pytest.fixture(scope="module")
def day_run(tmp_path_factory):
    """A 24 h run of one GPU, one CPU package and its DRAM (plus a detail 'core')."""
    directory = tmp_path_factory.mktemp("day")
    comps = machine(gpus=1, packages=1)
    return write_run(directory, "day", comps, points(comps, DAY_S, 2.0))


def _series(html: str) -> list[str]:
    return re.findall(r'<path class="series" data-series="([^"]*)"', html)


def test_a_24_hour_run_is_one_small_self_contained_accessible_page(day_run, tmp_path):
    out = tmp_path / "day.html"
    assert write_html_report([day_run], out) == []
    html = out.read_text()
    size = out.stat().st_size
    assert size < 1_000_000, size  # measured: ~68 kB
    assert re.search(
        r"<title>greenmeter: python3 train.py --epochs 3 \u2014 10\.\d+ kWh, 4\.\d+ kg "
        r"CO\u2082e</title>",
        html,
    )
    assert '<html lang="en">' in html
    # Counted components stacked; the detail 'core' is not (it is inside its package).
    assert _series(html) == ["gpu NVIDIA H100 80GB HBM3 #0", "cpu package-0", "dram package-0"]
    assert 'fill="#E69F00"' in html and 'fill="#0072B2"' in html and 'fill="#009E73"' in html
    # Every SVG names itself; axes say their units.
    svgs = html.count("<svg ")
    assert svgs == 2
    assert (
        len(re.findall(r'<svg [^>]*role="img" aria-labelledby="([\w-]+)-title \1-desc"', html))
        == svgs
    )
    assert html.count("<desc id=") == svgs
    for label in ("Power (W)", "Time since start (h)", "Energy (kWh)"):
        assert f">{label}</text>" in html
    # The table fallback: TABLE_ROWS spans of 30 min and the components' own table.
    table = html[html.index("<details>") : html.index("</details>")]
    assert table.count("<tr>") == TABLE_ROWS + 1
    assert "core package-0 (detail, not added)" in html
    assert "measured, nvml-energy; mean utilisation 87.5 %, peak memory 40960 MiB" in html
    # Carbon with its source, and the metadata.
    assert "Germany (DE), source ember 2024, lifecycle basis" in html
    assert "20250101T000000Z-00000001" in html and "node1" in html
    # Nothing is fetched: no URL at all, no external src/href.
    assert not EXTERNAL.search(html)
    assert "http://" not in html and "https://" not in html


def test_the_chart_draws_the_energy(day_run):
    """The stacked steps' area, read back from the hover data, is the run's energy."""
    run = load_run(day_run)
    svg, hover = power_chart("c", run.report, run.points)
    steps = len(hover["p"])
    assert steps == CHART_POINTS - 1
    plot_w = CHART_W - MARGIN_L - MARGIN_R
    px_to_s = DAY_S / plot_w
    drawn_j = sum(
        sum(p) * (hover["x"][k + 1] - hover["x"][k]) * px_to_s for k, p in enumerate(hover["p"])
    )
    assert drawn_j == pytest.approx(run.report["energy_j"]["total"], rel=5e-3)
    assert hover["names"] == _series(svg)
    assert hover["unit"] == "h" and hover["t"][0] == 0 and hover["t"][-1] == 24


def test_eight_gpus_are_stacked_per_kind_and_the_page_stays_small(tmp_path):
    comps = machine(gpus=8, packages=2)
    path = write_run(tmp_path, "big", comps, points(comps, DAY_S, 10.0))
    html = render_html([load_run(path)])
    assert _series(html) == ["gpu (8 devices)", "cpu (2 devices)", "dram (2 devices)"]
    assert len(html.encode()) < 1_000_000
    # Energy bars per component keep their kind's colour.
    assert html.count('class="bar"') == len(comps)
    assert html.count('fill="#E69F00"><title>gpu NVIDIA') == 8


def test_several_runs_are_compared(tmp_path):
    comps = machine(gpus=1, packages=1)
    paths = [
        write_run(
            tmp_path,
            "a",
            comps,
            points(comps, 3600, 10.0),
            run_id="A",
            started_at="2025-01-01T00:00:00.000Z",
        ),
        write_run(
            tmp_path,
            "b",
            comps,
            points(comps, 1800, 10.0, seed=3),
            run_id="B",
            started_at="2025-01-02T00:00:00.000Z",
            energy_j_per_unit=12.5,
            unit_name="samples",
            intensity=100.0,
        ),
    ]
    (tmp_path / "notes.json").write_text('{"not": "a report"}')
    out = tmp_path / "cmp.html"
    skipped = write_html_report([tmp_path], out)
    assert skipped == [
        f"skipped {tmp_path / 'notes.json'}: not a greenmeter report (no run_id/components)"
    ]
    html = out.read_text()
    a, b = (json.loads(p.read_text()) for p in paths)
    assert "<title>greenmeter: 2 runs compared</title>" in html
    comparison = html[html.index('id="comparison"') : html.index('class="run"')]
    change = (b["energy_j"]["total"] - a["energy_j"]["total"]) / a["energy_j"]["total"] * 100
    assert f"{change:+.1f} %" in comparison
    assert "12.5 J/samples" in comparison
    assert f"{b['carbon']['co2_g']:.2f} g" in comparison
    assert "60.0 min" in comparison and "30.0 min" in comparison
    for axis in ("Energy (kJ)", "CO\u2082e (g)", "Duration (min)", "Energy per unit (J)"):
        assert f">{axis}</text>" in comparison, axis
    assert html.count('<section class="run"') == 2
    assert len(_series(html)) == 6


def test_reports_without_a_timeline_still_render(tmp_path):
    comps = machine(gpus=0, packages=1)
    data = report(comps, points(comps, 60, 1.0))
    data["timeline"] = None
    (tmp_path / "old.json").write_text(json.dumps(data))
    data["timeline"] = {"file": "gone.timeline.csv", "points": 3, "columns": []}
    (tmp_path / "gone.json").write_text(json.dumps(data))
    html = render_html([load_run(tmp_path / "old.json"), load_run(tmp_path / "gone.json")])
    assert "This report has no timeline." in html
    assert "The timeline gone.timeline.csv could not be read" in html
    assert _series(html) == []


def test_text_from_the_report_is_escaped(tmp_path):
    comps = machine(gpus=0, packages=1)
    data = report(comps, points(comps, 10, 1.0), command=["sh", "-c", "echo '<script>x</script>'"])
    html = render_html([RunView(report=data)])
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_nice_ticks():
    assert nice_ticks(484.4) == [0, 100, 200, 300, 400, 500]
    assert nice_ticks(3.6) == [0, 1, 2, 3, 4]
    assert nice_ticks(24, 8) == [0, 5, 10, 15, 20, 25]
    assert nice_ticks(0) == [0, 1]


def test_html_command(greenmeter, tmp_path):
    comps = machine(gpus=1, packages=1)
    write_run(tmp_path, "one", comps, points(comps, 600, 1.0))
    (tmp_path / "notes.json").write_text("[]")
    proc = greenmeter("html", ".", "-o", "page.html")
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stderr.decode() and "notes.json" in proc.stderr.decode()
    assert len(_series((tmp_path / "page.html").read_text())) == 3
    proc = greenmeter("html", "notes.json", "-o", "x.html")
    assert proc.returncode == 125
    assert (
        proc.stderr.decode().count("\n") == 1 and "not a greenmeter report" in proc.stderr.decode()
    )
    proc = greenmeter("html", ".", "-o", "missing/x.html")
    assert proc.returncode == 125 and "does not exist" in proc.stderr.decode()
    assert not (tmp_path / "x.html").exists()


def test_run_html_writes_the_page_and_a_bad_path_stops_before_launch(greenmeter, tmp_path):
    proc = greenmeter(
        "run",
        "--html",
        "run.html",
        "--json",
        "r.json",
        "--csv",
        "runs.csv",
        "--interval",
        "0.1",
        "--",
        PY,
        "-c",
        "import time; time.sleep(0.5)",
    )
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "run.html").read_text()
    assert _series(html) == ["cpu process tree", "dram process tree"]
    assert json.loads((tmp_path / "r.json").read_text())["run_id"] in html
    assert "HTML report: run.html" in proc.stderr.decode()
    proc = greenmeter("run", "--html", "nodir/run.html", "--", PY, "-c", "open('ran', 'w').close()")
    assert proc.returncode == 125 and "--html" in proc.stderr.decode()
    assert not (tmp_path / "ran").exists()


def test_sparkline_blocks():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], 7) == BLOCKS
    assert sparkline([0, 0], 0) == BLOCKS[0] * 2
    comps = machine(gpus=1, packages=1)
    pts = points(comps, 2640, 1.0)  # two epochs: busy 1200 s, then a 120 s dip
    power = power_profile_w(pts, [c.counted for c in comps], 22)
    assert len(power) == 22
    line = sparkline(power, max(power))
    assert line[10] != BLOCKS[-1] and line[:9] == line[0] * 9


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _result(timeline) -> RunResult:
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    comp = ComponentResult(
        "cpu",
        "process tree",
        None,
        "estimate-cpu-time",
        "estimated",
        True,
        timeline[-1][1][0],
        10.0,
        len(timeline),
        False,
        timeline[-1][0],
    )
    carbon = Carbon(
        "DE", "DE", "Germany", 380.0, "ember", 2024, "lifecycle", False, 1.0, 1e-5, 1e-5, 3.8e-3
    )
    return RunResult(
        RunLabels("id", ["x"]),
        0,
        False,
        t0,
        t0,
        timeline[-1][0],
        {},
        [comp],
        carbon,
        [],
        timeline=timeline,
    )


def test_summary_shows_a_power_sparkline_on_a_terminal_only():
    # 10 W for 4 s, 40 W for 4 s: a quarter of the peak is block 2 of 0-7 (10/40 x 7 = 1.75).
    timeline = [
        (t * 0.5, [(10 * t * 0.5) if t <= 8 else 40 + 40 * (t * 0.5 - 4)]) for t in range(17)
    ]
    tty, pipe = FakeTerminal(), io.StringIO()
    print_summary(_result(timeline), file=tty)
    print_summary(_result(timeline), file=pipe)
    line = next(ln for ln in tty.getvalue().splitlines() if "total power" in ln)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
    assert plain.startswith(
        f"total power {BLOCKS[2] * 8}{BLOCKS[-1] * 8} 0\u201340.0 W over 8.00 s"
    )
    assert not any(b in pipe.getvalue() for b in BLOCKS)
