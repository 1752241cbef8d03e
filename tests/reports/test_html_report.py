"""The HTML report's content: series, labels, accessibility, no network, size, comparison; the CLI."""

from __future__ import annotations

import io
import json
import re
import sys
from datetime import datetime, timezone

import pytest

from greenmeter.history.compare import METRICS, compare_values
from greenmeter.history.html_pages import load_run, write_html_report
from greenmeter.quantities import format_energy, format_mass, format_power
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
from greenmeter.stats import welch_test

from conftest import read_report
from synthetic_runs import (
    BATCH_SIZES,
    DAY_S,
    FAILED_RUN,
    PYTHON,
    machine,
    nine_runs,
    points,
    report,
    write_run,
)

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
    assert "12.5 J per sample" in comparison
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


# ---------------------------------------------------------------- runs told apart


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Nine runs (three batch sizes, three runs each, #5 failed) and their page."""
    directory = tmp_path_factory.mktemp("sweep")
    reports = [read_report(p) for p in nine_runs(directory)]
    page = tmp_path_factory.mktemp("page") / "sweep.html"
    assert write_html_report([directory], page) == []
    return directory, reports, page.read_text()


def _section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}"')
    return html[start : html.index("</section>", start)]


def _body_rows(table_html: str) -> list[tuple[str, str]]:
    """(the <tr> tag's attributes, the row's cells) of a table's body."""
    body = table_html[table_html.index("<tbody>") : table_html.index("</tbody>")]
    return re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S)


def test_the_comparison_shows_what_differs_between_commands_the_tags_and_failures(sweep):
    _, reports, html = sweep
    comparison = _section(html, "comparison")
    rows = _body_rows(comparison)
    assert len(rows) == 9
    for n, (attributes, cells) in enumerate(rows, start=1):
        batch = BATCH_SIZES[(n - 1) // 3]
        # What differs, with the whole command on hover.
        whole = f"{PYTHON} train.py --epochs 3 --batch-size {batch}"
        assert f'<code class="nowrap" title="{whole}">\u2026 --batch-size {batch}</code>' in cells
        assert f'<span class="tag">model=cnn</span> <span class="tag">bs={batch}</span>' in cells
        # The failed run is marked in its row, its exit cell and its bars' labels.
        if n == FAILED_RUN:
            assert attributes == ' class="failed"'
            assert '<td><span class="fail">\u2717 1 (failed)</span></td>' in cells
            assert f">#{n} \u2717 \u2026 --batch-size {batch}<title>" in comparison
        else:
            assert attributes == "" and "<td>0</td>" in cells
            assert f">#{n} \u2026 --batch-size {batch}<title>" in comparison
        assert format_energy(reports[n - 1]["energy_j"]["total"]) in cells
    assert (
        f"a leading \u2026 stands for the words every command starts with: {PYTHON} train.py --epochs 3"
        in comparison
    )
    # Before: every command read "/home/alice/mnist/.venv/bin/python train.py --epochs 3 -\u2026"
    assert "--epochs 3 -\u2026" not in html


def test_the_groups_are_tested_as_greenmeter_compare_tests_them(sweep):
    _, reports, html = sweep
    section = _section(html, "significance")
    groups, tests = section.split("</table>")[:2]
    assert _body_rows(groups) == [
        ("", "<th scope=\"row\">G1</th><td>\u2026 --batch-size 32 model=cnn, bs=32</td>"
         "<td>#1, #2, #3</td><td>-</td>"),
        ("", "<th scope=\"row\">G2</th><td>\u2026 --batch-size 64 model=cnn, bs=64</td>"
         "<td>#4, #5, #6</td><td>#5</td>"),
        ("", "<th scope=\"row\">G3</th><td>\u2026 --batch-size 256 model=cnn, bs=256</td>"
         "<td>#7, #8, #9</td><td>-</td>"),
    ]  # fmt: skip

    def energy(runs):
        return [reports[n - 1]["energy_j"]["total"] for n in runs]

    baseline = energy([1, 2, 3])
    rows = {}
    for _, cells in _body_rows(tests):
        texts = re.findall(r">([^<]*)</t[hd]>", cells)
        rows[f"{texts[0]} {texts[1]}"] = cells
    for name, runs in (("G2", [4, 6]), ("G3", [7, 8, 9])):  # #5 failed: left out
        welch = welch_test(baseline, energy(runs))
        assert welch.p_value < 0.01, welch  # 22 % and 54 % less energy, a few % spread
        expected = compare_values(METRICS["energy"], baseline, energy(runs))
        row = rows[f"{name} vs G1 energy"]
        p_text = f"p = {welch.p_value:.2g}" if welch.p_value >= 1e-4 else "p &lt; 0.0001"
        assert f"<td>significantly lower ({p_text}, Welch&#x27;s t-test)</td>" in row
        assert f"{expected.change * 100:+.1f} %" in row and f"(n={len(runs)})" in row
    change = sum(energy([7, 8, 9])) / sum(baseline) - 1
    assert -0.60 < change < -0.50  # batch 256: about half the energy of batch 32
    assert "energy per sample" in tests and "duration" in tests


def test_report_by_command_shows_what_differs(greenmeter, sweep, tmp_path):
    directory = sweep[0]
    proc = greenmeter("report", str(directory), "--group-by", "command", "-o", "table.txt")
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "table.txt").read_text()
    for batch, failed in ((32, 0), (64, 1), (256, 0)):
        assert re.search(
            rf"^\u2026 --batch-size {batch} +\u2502 +3 \u2502 +{failed} \u2502", table, re.M
        ), table
    assert f"command: \u2026 at the start: {PYTHON} train.py --epochs 3" in table
    proc = greenmeter("report", str(directory), "--group-by", "command", "--format", "markdown")
    assert "| \u2026 --batch-size 256 | 3 | 0 |" in proc.stdout.decode()
    assert f"command: \u2026 at the start: {PYTHON} train.py" in proc.stdout.decode()


def test_run_repeat_writes_one_page_for_the_group_with_the_terminal_statistics(
    greenmeter, tmp_path
):
    proc = greenmeter(
        "run",
        "--repeat",
        "3",
        "--html",
        "group.html",
        "--json",
        "r.json",
        "--csv",
        "runs.csv",
        "--units",
        "200",
        "--unit-name",
        "samples",
        "--tag",
        "model=cnn",
        "--interval",
        "0.1",
        "--",
        PY,
        "-c",
        "import time; t = time.process_time()\nwhile time.process_time() - t < 0.3: pass",
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "HTML report: group.html" in err
    # One page, for the group: none per repetition.
    assert sorted(p.name for p in tmp_path.glob("*.html")) == ["group.html"]
    html = (tmp_path / "group.html").read_text()
    reports = [read_report(tmp_path / f"r-{i}.json") for i in (1, 2, 3)]
    assert f"<title>greenmeter: 3 repetitions of {PY} -c" in html
    stats = _section(html, "repetitions")
    # The terminal's title (with what the figures rest on), and its figures row by row.
    title = next(ln.strip() for ln in err.splitlines() if ln.startswith("greenmeter: 3 rep"))
    assert title == "greenmeter: 3 repetitions (estimated, not measured)"
    assert '<h2 id="repetitions-h">3 repetitions (estimated, not measured)</h2>' in stats
    for metric in ("energy", "duration", "CO2e", "energy per sample"):
        cells = next(
            cells
            for cells in ([c.strip() for c in ln.split("\u2502")] for ln in err.splitlines())
            if cells[0] == metric
        )
        assert len(cells) == 5, cells
        row = re.search(rf'<th scope="row">{metric}</th>(.*?)</tr>', stats).group(1)
        assert re.findall(r"<td[^>]*>([^<]*)</td>", row) == cells[1:]
    # Each repetition in the comparison and in detail, with its tags and exit code.
    rows = _body_rows(_section(html, "comparison"))
    assert len(rows) == 3 and all("<td>0</td>" in cells for _, cells in rows)
    for r in reports:
        assert r["repeat_group"] == reports[0]["repeat_group"] and r["run_id"] in html
        assert format_energy(r["energy_j"]["total"]) in html
    assert html.count('<section class="run"') == 3
    assert html.count('<p>Tags: <span class="tag">model=cnn</span></p>') == 3


def test_the_single_run_page_has_work_tags_gpus_cross_check_and_warnings():
    comps = machine(gpus=2, packages=1)
    data = report(comps, points(comps, 600, 1.0), units=60_000, tags={"model": "cnn", "bs": "64"})
    data["components"][1]["details"] = {"mean_utilization_pct": 12.0, "shared_gpu": True}
    data["warnings"] = ["dram: no RAPL DRAM domain: estimated", "a <b>tag</b>"]
    ours = data["energy_j"]
    data["cross_check"] = {
        "tool": "codecarbon",
        "version": "3.3.2",
        "mode": "offline, tracking_mode=process",
        "country_iso_code": "DEU",
        "measure_power_secs": 1,
        "duration_s": 600.4,
        "difference": [
            {
                "kind": kind,
                "greenmeter_j": ours[kind],
                "codecarbon_j": ours[kind] / 1.25,
                "difference_j": ours[kind] - ours[kind] / 1.25,
                "difference_pct": 25.0,
            }
            for kind in ("cpu", "gpu", "dram", "total")
        ]
        + [
            {
                "kind": "co2",
                "greenmeter_g": 50.0,
                "codecarbon_g": 40.0,
                "difference_g": 10.0,
                "difference_pct": 25.0,
            }
        ],
    }
    html = render_html([RunView(report=data)])
    run = html[html.index('<section class="run"') :]
    # Warnings first, escaped; tags under the figures.
    warn = run.index('<div class="warn"><strong>Warnings</strong>')
    assert warn < run.index("<h3>Power over time</h3>")
    assert "<li>dram: no RAPL DRAM domain: estimated</li><li>a &lt;b&gt;tag&lt;/b&gt;</li>" in run
    assert '<p>Tags: <span class="tag">model=cnn</span> <span class="tag">bs=64</span></p>' in run
    # Per GPU: utilisation, memory, power, energy, sharing.
    gpus = run[run.index("<h3>GPUs</h3>") : run.index("<h3>Work done</h3>")]
    first = data["components"][0]
    assert re.findall(r"<th scope=\"row\">([^<]*)</th>", gpus) == [
        "gpu NVIDIA H100 80GB HBM3 #0",
        "gpu NVIDIA H100 80GB HBM3 #1",
    ]
    assert (
        f"<td class=num>87.5 %</td><td class=num>40960 MiB</td>"
        f"<td class=num>{format_power(first['mean_power_w'])}</td><td class=num>-</td>"
        f"<td class=num>{format_energy(first['energy_j'])}</td><td>no</td>"
    ) in gpus
    assert "<td class=num>12 %</td><td class=num>-</td>" in gpus
    assert "yes (figures are the whole device&#x27;s)" in gpus
    # The work done: 60 000 samples in 600 s.
    work = run[run.index("<h3>Work done</h3>") : run.index("<h3>Carbon</h3>")]
    energy, co2 = (
        format_energy(ours["total"] / 60_000),
        format_mass(data["carbon"]["co2_g"] / 60_000),
    )
    assert (
        f'<th scope="row">per sample</th><td class=num>60,000 samples</td>'
        f"<td class=num>{energy}</td><td class=num>{co2}</td><td class=num>100 samples/s</td>"
    ) in work
    # The cross-check: greenmeter, CodeCarbon and the difference, as the terminal has them.
    check = run[run.index("<h3>Cross-check</h3>") : run.index("<h3>Run</h3>")]
    assert "cross-check: CodeCarbon 3.3.2 (offline, tracking_mode=process, DEU, 600.40 s)" in check
    diff = format_energy(ours["total"] - ours["total"] / 1.25)
    assert (
        f'<th scope="row">total</th><td class=num>{format_energy(ours["total"])}</td>'
        f"<td class=num>{format_energy(ours['total'] / 1.25)}</td>"
        f"<td class=num>+{diff} (+25 %)</td>"
    ) in check
    assert "<td class=num>+10.00 g (+25 %)</td>" in check
    # A failed run's exit code is marked, not shown like a pass.
    data["exit_code"] = 2
    failed = render_html([RunView(report=data)])
    assert '<div class="fail"><dt>Exit code</dt><dd>2 (failed)</dd>' in failed
    assert '<dd><span class="fail">\u2717 2 (failed)</span></dd>' in failed
