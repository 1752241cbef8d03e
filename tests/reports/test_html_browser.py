"""The HTML report in a real browser: headless Chromium renders the chart, offline.

Needs Debian's ``chromium`` (``.ci/run`` installs it); skipped, saying so, where it is absent.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter

import pytest

from greenmeter.history.html_pages import write_html_report

from synthetic_runs import BATCH_SIZES, DAY_S, FAILED_RUN, machine, nine_runs, points, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; "
    ".ci/run installs it), so the page cannot be rendered",
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
WIDTH, HEIGHT = 1200, 900


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        timeout=120,
    )


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) bytes of an 8-bit PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    if bpp == 4:  # drop alpha: the page is opaque
        rows = [bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]
    return width, height, rows


def pixels(rows: list[bytes]) -> Counter:
    return Counter(r[i : i + 3] for r in rows for i in range(0, len(r), 3))


def near(counts: Counter, hex_colour: str, tolerance: int = 8) -> int:
    want = bytes.fromhex(hex_colour.lstrip("#"))
    return sum(
        n for px, n in counts.items() if all(abs(a - b) <= tolerance for a, b in zip(px, want))
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pages")
    comps = machine(gpus=1, packages=1)
    day = write_run(directory, "day", comps, points(comps, DAY_S, 4.0))
    short = write_run(
        directory,
        "short",
        comps,
        points(comps, 900, 1.0, seed=2),
        run_id="B",
        started_at="2025-01-02T00:00:00.000Z",
    )
    write_html_report([day], directory / "day.html")
    write_html_report([day, short], directory / "both.html")
    return directory


def test_the_rendered_dom_has_every_series_and_the_script_ran(pages, tmp_path):
    proc = chromium(tmp_path, "--dump-dom", (pages / "both.html").as_uri())
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    dom = proc.stdout.decode()
    assert "<title>greenmeter: 2 runs compared</title>" in dom
    series = re.findall(r'<path class="series" data-series="([^"]*)"', dom)
    assert series == ["gpu NVIDIA H100 80GB HBM3 #0", "cpu package-0", "dram package-0"] * 2
    # The hover script parsed its data and armed both charts (it marks them when it does).
    assert len(re.findall(r'<svg class="power-chart"[^>]* data-hover-ready=""', dom)) == 2


def test_the_screenshot_shows_the_stacked_chart(pages, tmp_path):
    shot = tmp_path / "day.png"
    proc = chromium(
        tmp_path,
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        (pages / "day.html").as_uri(),
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr.decode()[-2000:]
    width, height, rows = decode_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    counts = pixels(rows)
    white = counts[b"\xff\xff\xff"]
    assert white < 0.9 * width * height  # not blank
    assert len(counts) > 50  # text, axes, fills: many colours, not a flat page
    # Each stacked series is drawn in its own colour: GPU orange dominates (about 80 % of
    # the energy), CPU blue next, DRAM green a thin band on top.
    gpu, cpu, dram = near(counts, "#E69F00"), near(counts, "#0072B2"), near(counts, "#009E73")
    assert gpu > 60_000, gpu
    assert 10_000 < cpu < gpu, cpu
    assert 1_000 < dram < cpu, dram


def test_hovering_the_chart_reads_out_the_power(pages, tmp_path):
    """A pointer moved to the middle of the chart: the read-out names the time and every
    series' power (the page's own script, driven by a synthetic event)."""
    html = (pages / "day.html").read_text()
    probe = (
        '<script>var svg=document.querySelector("svg.power-chart"),'
        "r=svg.getBoundingClientRect();svg.dispatchEvent(new PointerEvent('pointermove',"
        "{clientX:r.left+r.width*0.5,clientY:r.top+r.height*0.5,bubbles:true}));</script>"
    )
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", probe + "</body>"))
    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    tip = re.search(r'<div class="tip"( hidden="")?[^>]*>([^<]*)</div>', proc.stdout.decode())
    assert tip and tip.group(1) is None, "the read-out is still hidden"
    lines = tip.group(2).split("\n")
    assert re.fullmatch(r"1[12](\.\d+)?\u20131[12](\.\d+)? h", lines[0]), lines[0]
    assert [ln.split(":")[0] for ln in lines[1:]] == [
        "dram package-0",
        "cpu package-0",
        "gpu NVIDIA H100 80GB HBM3 #0",
        "total",
    ]
    total = float(re.fullmatch(r"total: ([\d.]+) W", lines[-1]).group(1))
    assert 100 < total < 520


@pytest.fixture(scope="module")
def sweep_page(tmp_path_factory):
    """Nine runs, three batch sizes, #5 failed, drawn on one page."""
    directory = tmp_path_factory.mktemp("sweep")
    nine_runs(directory)
    page = directory / "sweep.html"
    write_html_report([directory], page)
    return page


# Read back what the browser laid out: each comparison row's command (its text, tooltip
# and how many lines it takes), its exit cell and its background; the test verdicts.
PROBE = """<script>
var rows=[].slice.call(document.querySelectorAll("#comparison tbody tr")).map(function(tr){
  var code=tr.querySelector("code"),cells=tr.querySelectorAll("td");
  return {command:code.textContent,title:code.title,lines:code.getClientRects().length,
    exit:cells[1].textContent,background:getComputedStyle(tr).backgroundColor};});
var verdicts=[].slice.call(document.querySelectorAll("#significance .wide tbody tr")).map(
  function(tr){var c=tr.querySelectorAll("td");return c[c.length-1].textContent;});
var out=document.createElement("pre");out.id="probe";
out.textContent=JSON.stringify({rows:rows,verdicts:verdicts});document.body.appendChild(out);
</script>"""


def test_the_nine_run_comparison_tells_the_runs_apart_in_the_browser(sweep_page, tmp_path):
    page = tmp_path / "probe.html"
    page.write_text(sweep_page.read_text().replace("</body>", PROBE + "</body>"))
    proc = chromium(tmp_path, "--window-size=1200,900", "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout.decode(), re.S)
    probe = json.loads(html_lib.unescape(found.group(1)))
    rows = probe["rows"]
    batches = [BATCH_SIZES[n // 3] for n in range(9)]
    assert [r["command"] for r in rows] == [f"\u2026 --batch-size {b}" for b in batches]
    assert [r["title"].rsplit(" ", 1)[-1] for r in rows] == [str(b) for b in batches]
    assert all(r["lines"] == 1 for r in rows), rows  # never broken at a hyphen
    failed = FAILED_RUN - 1
    assert rows[failed]["exit"] == "\u2717 1 (failed)"
    assert rows[failed]["background"] == "rgb(253, 236, 235)"
    assert {r["exit"] for i, r in enumerate(rows) if i != failed} == {"0"}
    assert {r["background"] for i, r in enumerate(rows) if i != failed} == {"rgba(0, 0, 0, 0)"}
    # Energy, CO2e, duration and energy per unit, for G2 and G3 against G1.
    assert len(probe["verdicts"]) == 8
    assert all(v.startswith("significantly lower (p") for v in probe["verdicts"]), probe


def test_the_screenshot_shows_the_failed_run_and_the_tags(sweep_page, tmp_path):
    shot = tmp_path / "sweep.png"
    proc = chromium(
        tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", sweep_page.as_uri()
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr.decode()[-2000:]
    counts = pixels(decode_png(shot.read_bytes())[2])
    # The failed row's tint: one table row across the page (about 1000 x 40 px).
    assert near(counts, "#fdeceb", 2) > 20_000, near(counts, "#fdeceb", 2)
    # Eighteen tag chips (two per run), each some 60 x 16 px.
    assert near(counts, "#e8eef6", 2) > 8_000, near(counts, "#e8eef6", 2)


def test_a_gpu_run_page_draws_utilisation_memory_and_busy_cores_under_the_power_chart(
    greenmeter, gm_env, fake_lib, tmp_path
):
    """A real run over the fake NVML (GPU 0 busy then idle, GPU 1 never used): the page
    draws each gauge in Chromium under the power chart, with the findings."""
    env = {k: v for k, v in gm_env.items() if not k.startswith(("FAKE_NVML_", "CUDA_"))}
    env.update(
        LD_LIBRARY_PATH=str(fake_lib),
        FAKE_NVML_GPUS="2",
        FAKE_NVML_GPU0_PHASES="1.5:300:95:60000:0,30:70:0:60000:1",
        FAKE_NVML_GPU1_PHASES="60:55:0:500:1",
    )
    proc = greenmeter(
        "run", "-q", "--interval", "0.1", "--json", "r.json", "--html", "run.html",
        "--", "sleep", "3", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    probe = (
        "<script>document.querySelectorAll('path.gauge').forEach(function(p){"
        "var b=p.getBBox(),s=p.ownerSVGElement.viewBox.baseVal;"
        "p.setAttribute('data-box',[b.x,b.y,b.width,b.height,s.width,s.height].join(' '));"
        "});</script>"
    )
    page = tmp_path / "probe.html"
    page.write_text((tmp_path / "run.html").read_text().replace("</body>", probe + "</body>"))
    done = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    dom = done.stdout.decode()
    charts = re.findall(r'<svg class="(power-chart|gauge-chart)" id="([^"]+)"', dom)
    assert [c for c, _ in charts] == ["power-chart", "gauge-chart", "gauge-chart", "gauge-chart"]
    assert [uid.rsplit("-", 1)[1] for _, uid in charts[1:]] == [
        "gpu_util_pct",
        "gpu_memory_used_mib",
        "cpu_busy_cores",
    ]
    boxes = {}  # (chart, series) -> the path's box as drawn, and its chart's size
    for piece in dom.split('<svg class="gauge-chart" id="run1-')[1:]:
        chart, body = piece.split('"', 1)[0], piece.split("</svg>", 1)[0]
        for name, box in re.findall(r'data-series="([^"]+)"[^>]*data-box="([^"]+)"', body):
            boxes[(chart, name)] = [float(v) for v in box.split()]
    assert ("gpu_util_pct", "gpu Fake GPU 0 #0") in boxes, sorted(boxes)
    _, y, width, height, svg_w, svg_h = boxes[("gpu_util_pct", "gpu Fake GPU 0 #0")]
    assert width > 0.7 * svg_w  # drawn across the whole run (the plot is 92 % of the width)
    assert height > 0.5 * svg_h  # from 95 % down to 0 % (the plot is 73 % of the height)
    # GPU 1 stayed at 0 %: a flat line along the bottom of the plot.
    _, y1, width1, height1, _, _ = boxes[("gpu_util_pct", "gpu Fake GPU 1 #1")]
    assert height1 == 0 and width1 > 0.7 * svg_w and y1 > y
    assert ("cpu_busy_cores", "process tree") in boxes
    assert 'data-finding="unused-gpu"' in dom and 'data-finding="idle-gpu"' in dom
    assert dom.index("power-chart") < dom.index("gauge-chart") < dom.index("data-finding=")
