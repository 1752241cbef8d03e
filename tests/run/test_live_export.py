"""``greenmeter run --prometheus-port / --pushgateway / --prometheus-textfile`` end to end,
against the real servers: Debian's Prometheus (2.42) and Pushgateway (1.5), started here
on 127.0.0.1 with free ports and temporary directories, once per module, and stopped.

Energy comes from a fake powercap tree on tmpfs driven at a known power by its own
process (tests/powercap_tree.py), or from the fake NVML library (tests/fake_nvml/).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import MARKER_CHILD, assert_refused, read_report
from powercap_tree import PowercapTree, spawn_driver, stop_driver, two_sockets_with_dram

PY = sys.executable
POWER_W = 20.0
WAIT_S = 60.0
"""Bound on every wait for a server or a command (never reached when all is well)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read()


def wait_for(what: str, check, timeout: float = WAIT_S, every: float = 0.1):
    """``check()``'s first truthy value, polled; fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}")


def start_server(argv: list[str], ready_url: str, log: Path) -> subprocess.Popen:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed (apt-get install {argv[0]})")
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def ready():
        if proc.poll() is not None:
            pytest.fail(f"{argv[0]} exited {proc.returncode}: {log.read_text()[-2000:]}")
        return http_get(ready_url, timeout=1)

    wait_for(f"{argv[0]} to be ready", ready)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def promtool_check(text: str) -> subprocess.CompletedProcess:
    """``promtool check metrics`` of ``text``: 0 clean, 3 lint problems, 1 parse errors."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True
    )


def metric_samples(text: str, name: str, **labels: str) -> list:
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A Prometheus scraping 127.0.0.1:``target_port`` every second, job ``greenmeter``;
    yields (query function, target_port)."""
    work = tmp_path_factory.mktemp("prometheus")
    port, target_port = free_port(), free_port()
    (work / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: greenmeter\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
    proc = start_server(
        [
            "prometheus",
            f"--config.file={work / 'prometheus.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={work / 'data'}",
        ],
        f"http://127.0.0.1:{port}/-/ready",
        work / "prometheus.log",
    )

    def query(promql: str) -> list[dict]:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = json.loads(http_get(url))
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    try:
        yield query, target_port
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory):
    """A Pushgateway with no persistence file; yields its URL."""
    work = tmp_path_factory.mktemp("pushgateway")
    port = free_port()
    proc = start_server(
        [
            "prometheus-pushgateway",
            f"--web.listen-address=127.0.0.1:{port}",
            "--persistence.file=",
        ],
        f"http://127.0.0.1:{port}/-/ready",
        work / "pushgateway.log",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture
def rapl(gm_env):
    """A one-package powercap tree on tmpfs (a disk-backed tree lags its driver under
    load); yields (env for greenmeter, tree)."""
    base = Path(
        tempfile.mkdtemp(prefix="gm-rapl-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    tree = PowercapTree(base)
    tree.add_zone("intel-rapl:0", "package-0", 123_456_789)
    try:
        yield {**gm_env, "GREENMETER_POWERCAP_ROOT": str(tree.root)}, tree
    finally:
        shutil.rmtree(base, ignore_errors=True)


def gated_command(tmp_path: Path, busy_s: float) -> list[str]:
    """Waits for ``go``, draws power (``busy`` exists) for ``busy_s``, goes idle and writes
    the wall-clock time to ``idle-since``, then waits for ``release``; prints ``done`` and
    exits 7."""
    script = (
        "import os, sys, time\n"
        "def wait(name):\n"
        f"    deadline = time.monotonic() + {WAIT_S}\n"
        "    while not os.path.exists(name) and time.monotonic() < deadline:\n"
        "        time.sleep(0.02)\n"
        "wait('go')\n"
        "open('busy', 'w').close()\n"
        f"time.sleep({busy_s})\n"
        "os.unlink('busy')\n"
        "time.sleep(0.1)\n"
        "open('idle-since.tmp', 'w').write(repr(time.time()))\n"
        "os.replace('idle-since.tmp', 'idle-since')\n"
        "wait('release')\n"
        "print('done')\n"
        "sys.exit(7)\n"
    )
    (tmp_path / "gated.py").write_text(script)
    return [PY, str(tmp_path / "gated.py")]


def start_greenmeter(tmp_path: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PY, "-m", "greenmeter", "run", "-q", "--json", "r.json", "--csv", "r.csv", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen, tmp_path: Path) -> tuple[bytes, bytes]:
    (tmp_path / "release").touch()
    return proc.communicate(timeout=WAIT_S)


def test_prometheus_scrapes_the_live_energy_that_the_report_ends_with(prometheus, rapl, tmp_path):
    query, port = prometheus
    env, tree = rapl
    driver = spawn_driver(tree, {"intel-rapl:0": POWER_W}, {"intel-rapl:0": 0.0}, tmp_path / "busy")
    proc = start_greenmeter(
        tmp_path,
        env,
        "--prometheus-port",
        str(port),
        "--interval",
        "0.1",
        "--",
        *gated_command(tmp_path, busy_s=3.0),
    )
    try:
        wait_for("Prometheus to scrape greenmeter", lambda: query('up{job="greenmeter"} == 1'))
        (tmp_path / "go").touch()
        idle_since = float(wait_for("the command to go idle", (tmp_path / "idle-since").read_text))

        def scraped_after_idle():  # idle at 0 W: every later sample holds the final figure
            (series,) = query('greenmeter_energy_joules_total{kind="cpu"}[1m]') or [None]
            # A sample scraped 1 s after the command went idle: the endpoint (refreshed
            # every 0.5 s from the sampler's 0.1 s points) had the idle figure by then.
            later = [v for v in (series or {}).get("values", []) if float(v[0]) > idle_since + 1.0]
            return (series["metric"], float(later[-1][1])) if later else None

        labels, scraped_j = wait_for("a scrape after the busy phase", scraped_after_idle)
        out, err = finish(proc, tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        switches = stop_driver(driver)
    assert proc.returncode == 7, err
    assert out == b"done\n"
    report = read_report(tmp_path / "r.json")
    cpu = next(c for c in report["components"] if c["kind"] == "cpu")
    assert labels["component"] == "package-0"
    assert (labels["source"], labels["method"], labels["job"]) == ("rapl", "measured", "greenmeter")
    # The last live figure is the report's (both after the busy phase, at 0 W): 0.5 %.
    assert scraped_j == pytest.approx(cpu["energy_j"], rel=0.005), cpu
    # ... and the truth: 20 W over the busy phase the driver saw, within 3 %.
    (busy_at, _), (idle_at, _) = switches
    assert cpu["energy_j"] == pytest.approx(POWER_W * (idle_at - busy_at), rel=0.03)
    # While busy, Prometheus saw power near 20 W and the counter only rising.
    peak = query('max_over_time(greenmeter_power_watts{kind="cpu"}[5m])')
    assert float(peak[0]["value"][1]) == pytest.approx(POWER_W, rel=0.1)
    falls = query('resets(greenmeter_energy_joules_total{kind="cpu"}[5m])')
    assert float(falls[0]["value"][1]) == 0
    # The target is gone now: what it last said is in a range.
    co2 = query("last_over_time(greenmeter_co2e_grams_total[5m])")
    assert float(co2[0]["value"][1]) == pytest.approx(report["carbon"]["co2_g"], rel=0.005)
    info = query("last_over_time(greenmeter_run_info[5m])")
    assert info[0]["metric"]["run_id"] == report["run_id"]


def test_sixteen_scrapers_at_once_disturb_neither_the_command_nor_the_figures(rapl, tmp_path):
    env, tree = rapl
    driver = spawn_driver(tree, {"intel-rapl:0": POWER_W})
    proc = start_greenmeter(
        tmp_path, env, "--prometheus-port", "0", "--", *gated_command(tmp_path, busy_s=0.0)
    )
    try:
        line = proc.stderr.readline().decode()
        assert "Prometheus metrics at http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].strip()
        (tmp_path / "go").touch()
        wait_for(
            "the first live values", lambda: b"greenmeter_energy_joules_total" in http_get(url)
        )
        seen: list[list[float]] = [[] for _ in range(16)]
        failures: list[BaseException] = []
        start = threading.Barrier(16)

        def scrape(mine: list[float]) -> None:
            try:
                start.wait(timeout=WAIT_S)
                for _ in range(8):
                    text = http_get(url, timeout=WAIT_S).decode()
                    (sample,) = metric_samples(text, "greenmeter_energy_joules_total", kind="cpu")
                    mine.append(sample.value)
            except BaseException as exc:  # reported by the test below
                failures.append(exc)

        threads = [threading.Thread(target=scrape, args=(s,)) for s in seen]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=WAIT_S)
        out, err = finish(proc, tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_driver(driver)
    assert not failures, failures
    assert all(len(s) == 8 for s in seen)
    assert all(s == sorted(s) for s in seen), "a scraper saw the counter go down"
    assert proc.returncode == 7, err
    assert out == b"done\n"
    assert err == b"", err
    report = read_report(tmp_path / "r.json")
    cpu = next(c for c in report["components"] if c["kind"] == "cpu")
    assert max(max(s) for s in seen) <= cpu["energy_j"]
    # The figure is still the truth: 20 W over the run, within 3 %.
    assert cpu["energy_j"] == pytest.approx(POWER_W * report["duration_s"], rel=0.03)


def gateway_groups(url: str) -> list[dict]:
    return json.loads(http_get(f"{url}/api/v1/metrics"))["data"]


def test_the_pushgateway_holds_the_final_values_one_group_per_host(
    pushgateway, rapl, greenmeter, tmp_path
):
    env, tree = rapl
    driver = spawn_driver(tree, {"intel-rapl:0": POWER_W})
    try:
        reports = []
        for name in ("a", "b"):
            proc = greenmeter(
                "run", "-q", "--json", f"{name}.json", "--pushgateway", f"{pushgateway}/",
                "--checkpoint-interval", "0.2", "--", "sh", "-c", "sleep 0.6; exit 4",
                env=env,
            )  # fmt: skip
            assert proc.returncode == 4, proc.stderr
            assert proc.stderr == b""
            reports.append(read_report(tmp_path / f"{name}.json"))
    finally:
        stop_driver(driver)
    text = http_get(f"{pushgateway}/metrics").decode()
    host = {"job": "greenmeter", "instance": socket.gethostname()}
    (energy,) = metric_samples(text, "greenmeter_energy_joules_total", kind="cpu", **host)
    report = reports[-1]  # the second run replaced the first: one group per host
    assert energy.value == pytest.approx(report["energy_j"]["cpu"], rel=1e-9)
    (info,) = metric_samples(text, "greenmeter_run_info", **host)
    assert info.labels["run_id"] == report["run_id"]
    (code,) = metric_samples(text, "greenmeter_command_exit_code", **host)
    assert code.value == 4
    (co2,) = metric_samples(text, "greenmeter_co2e_grams_total", **host)
    assert co2.value == pytest.approx(report["carbon"]["co2_g"], rel=1e-9)
    assert [g["labels"] for g in gateway_groups(pushgateway)].count(host) == 1


def silent_listener() -> socket.socket:
    """Accepts connections (the kernel does) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


@pytest.mark.parametrize("gateway", ["refused", "silent"])
def test_a_gateway_that_is_down_is_said_once_and_changes_nothing(greenmeter, tmp_path, gateway):
    listener = silent_listener() if gateway == "silent" else None
    port = listener.getsockname()[1] if listener else free_port()
    try:
        proc = greenmeter(
            "run", "-q", "--json", "r.json", "--pushgateway", f"http://gm:s3cret@127.0.0.1:{port}/",
            "--checkpoint-interval", "0.2", "--",
            "sh", "-c", "sleep 1; echo out; exit 3",
        )  # fmt: skip
    finally:
        if listener:
            listener.close()
    assert proc.returncode == 3
    assert proc.stdout == b"out\n"
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "Pushgateway http://gm:***@127.0.0.1:" in err, err
    assert ("timed out" if gateway == "silent" else "Connection refused") in err, err
    warnings = read_report(tmp_path / "r.json")["warnings"]
    assert sum("Pushgateway" in w for w in warnings) == 1, warnings
    assert "s3cret" not in err + (tmp_path / "r.json").read_text()  # the password never shows


def test_the_textfile_is_valid_at_each_checkpoint_and_at_the_end(rapl, tmp_path):
    env, tree = rapl
    driver = spawn_driver(tree, {"intel-rapl:0": POWER_W})
    prom = tmp_path / "greenmeter.prom"
    proc = start_greenmeter(
        tmp_path,
        env,
        "--prometheus-textfile",
        str(prom),
        "--checkpoint-interval",
        "0.2",
        "--",
        *gated_command(tmp_path, busy_s=0.0),
    )
    try:
        (tmp_path / "go").touch()
        wait_for("a checkpoint's textfile", prom.exists)
        during = prom.read_text()
        out, err = finish(proc, tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_driver(driver)
    assert proc.returncode == 7, err
    assert out == b"done\n"
    assert not metric_samples(during, "greenmeter_command_exit_code")  # still running then
    final = prom.read_text()
    for text in (during, final):
        check = promtool_check(text)
        assert check.returncode == 0, check.stdout + check.stderr
    report = read_report(tmp_path / "r.json")
    (energy,) = metric_samples(final, "greenmeter_energy_joules_total", kind="cpu")
    assert energy.value == pytest.approx(report["energy_j"]["cpu"], rel=1e-9)
    (duration,) = metric_samples(final, "greenmeter_run_duration_seconds")
    assert duration.value == pytest.approx(report["duration_s"], abs=1e-6)
    (code,) = metric_samples(final, "greenmeter_command_exit_code")
    assert code.value == 7
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_gpus_are_labelled_with_their_uuid_and_units_show(greenmeter, gm_env, fake_lib, tmp_path):
    env = {k: v for k, v in gm_env.items() if not k.startswith(("FAKE_NVML_", "CUDA_"))}
    env.update(
        LD_LIBRARY_PATH=str(fake_lib),
        FAKE_NVML_GPUS="2",
        FAKE_NVML_GPU0_PROFILE="const:150",
        FAKE_NVML_GPU1_PROFILE="const:250",
    )
    count = f"{PY} -c \"import os; open(os.environ['GREENMETER_UNITS_FILE'], 'w').write('42 requests')\""
    proc = greenmeter(
        "run", "-q", "--json", "r.json", "--prometheus-textfile", "gpu.prom",
        "--", "sh", "-c", f"{count}; sleep 1", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    text = (tmp_path / "gpu.prom").read_text()
    energy = {
        s.labels["gpu_uuid"]: s for s in metric_samples(text, "greenmeter_energy_joules_total")
    }
    for gpu in (c for c in report["components"] if c["kind"] == "gpu"):
        sample = energy[gpu["details"]["uuid"]]
        assert sample.labels["index"] == str(gpu["index"])
        assert (sample.labels["kind"], sample.labels["source"]) == ("gpu", gpu["source"])
        assert sample.value == pytest.approx(gpu["energy_j"], rel=1e-9)
    for estimated in (c for c in report["components"] if c["method"] == "estimated"):
        ends = [
            metric_samples(text, f"greenmeter_energy_estimate_{end}_joules", kind=estimated["kind"])
            for end in ("low", "high")
        ]
        assert [s.value for (s,) in ends] == pytest.approx(estimated["energy_range_j"], rel=1e-9)
    (units,) = metric_samples(text, "greenmeter_work_units_total")
    assert (units.value, units.labels["unit"]) == (42, "requests")
    assert "sh -c" not in text and str(tmp_path) not in text  # no command line, no path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--prometheus-textfile", "metrics.txt"], "does not end in .prom"),
        (["--prometheus-textfile", "no-such-dir/m.prom"], "does not exist"),
        (["--prometheus-textfile", "r.prom", "--json", "r.prom"], "give each output its own"),
        (["--pushgateway", "ftp://gateway:9091"], "not an http:// or https:// URL"),
        (["--pushgateway", "http://gateway:port"], "port that is not a number"),
        (["--prometheus-port", "70000"], "--prometheus-port"),
        (["--prometheus-port", "0", "--prometheus-address", "256.0.0.1"], "cannot listen on"),
        (["--prometheus-address", "0.0.0.0"], "give --prometheus-port too"),
    ],
)
def test_bad_prometheus_options_are_refused_before_launch(greenmeter, tmp_path, args, needle):
    assert_refused(greenmeter("run", *args, "--", *MARKER_CHILD), tmp_path, needle)


def test_a_taken_port_is_refused_before_launch(greenmeter, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = greenmeter("run", "--prometheus-port", str(port), "--", *MARKER_CHILD)
    assert_refused(proc, tmp_path, f"cannot listen on 127.0.0.1 port {port}")


def test_prometheus_client_is_imported_only_with_an_option(gm_env, tmp_path):
    probe = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: open('loaded', 'w').write(str('prometheus_client' in sys.modules)))\n"
        "sys.argv = ['greenmeter', *sys.argv[1:]]\n"
        "runpy.run_module('greenmeter', run_name='__main__', alter_sys=True)\n"
    )
    for args, loaded in ((["-q"], "False"), (["-q", "--prometheus-textfile", "m.prom"], "True")):
        proc = subprocess.run(
            [PY, "-c", probe, "run", *args, "--", "true"], cwd=tmp_path, env=gm_env, timeout=60
        )
        assert proc.returncode == 0
        assert (tmp_path / "loaded").read_text() == loaded


def test_repetitions_share_one_textfile_that_ends_with_the_last(greenmeter, tmp_path):
    proc = greenmeter(
        "run", "-q", "--repeat", "2", "--json", "r.json", "--prometheus-textfile", "m.prom",
        "--", "true",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (info,) = metric_samples((tmp_path / "m.prom").read_text(), "greenmeter_run_info")
    last = read_report(tmp_path / "r-2.json")
    assert (info.labels["run_id"], info.labels["repetition"]) == (last["run_id"], "2")
    assert info.labels["repeat_group"] == last["repeat_group"]


def test_a_slurm_rank_pushes_to_its_own_group(pushgateway, greenmeter, tmp_path):
    proc = greenmeter(
        "run", "-q", "--json", "r.json", "--pushgateway", pushgateway, "--", "true",
        env={"SLURM_JOB_ID": "77", "SLURMD_NODENAME": "node-a", "SLURM_PROCID": "3"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    groups = [g["labels"] for g in gateway_groups(pushgateway)]
    assert {"job": "greenmeter", "instance": "node-a", "rank": "3"} in groups, groups


def test_the_endpoint_serves_the_final_values_until_the_report_is_written(rapl, tmp_path):
    env, tree = rapl
    driver = spawn_driver(tree, {"intel-rapl:0": POWER_W})
    fifo = tmp_path / "r.json"  # the report's write waits for a reader: the test decides when
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [PY, "-m", "greenmeter", "run", "-q", "--json", str(fifo), "--csv", "r.csv",
         "--checkpoint-interval", "3600", "--prometheus-port", "0", "--",
         "sh", "-c", "sleep 0.5; exit 5"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = proc.stderr.readline().decode().split(" at ")[1].strip()

        def final_values():
            text = http_get(url).decode()
            return text if metric_samples(text, "greenmeter_command_exit_code") else None

        text = wait_for("the final values", final_values)
        assert proc.poll() is None  # greenmeter still writing its report, endpoint up
        report = json.loads(fifo.read_text())
        proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_driver(driver)
    assert proc.returncode == 5
    (code,) = metric_samples(text, "greenmeter_command_exit_code")
    assert code.value == 5
    (energy,) = metric_samples(text, "greenmeter_energy_joules_total", kind="cpu")
    assert energy.value == pytest.approx(report["energy_j"]["cpu"], rel=1e-9)
    with pytest.raises(OSError):  # and it is gone once greenmeter has exited
        http_get(url, timeout=5)


def test_summing_the_energy_counter_gives_the_total_never_a_detail_twice(
    greenmeter, gm_env, tmp_path
):
    tree = PowercapTree(tmp_path / "powercap")
    two_sockets_with_dram(tree)  # packages with core (inside) and dram subzones
    proc = greenmeter(
        "run", "-q", "--json", "r.json", "--prometheus-textfile", "m.prom", "--", "true",
        env={"GREENMETER_POWERCAP_ROOT": str(tree.root)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = read_report(tmp_path / "r.json")
    text = (tmp_path / "m.prom").read_text()
    counted = metric_samples(text, "greenmeter_energy_joules_total")
    details = metric_samples(text, "greenmeter_detail_energy_joules_total")
    assert sum(s.value for s in counted) == pytest.approx(report["energy_j"]["total"], rel=1e-9)
    assert sorted(s.labels["kind"] for s in counted) == ["cpu", "cpu", "dram", "dram"]
    assert sorted(s.labels["component"] for s in details) == ["package-0/core", "package-1/core"]
    check = promtool_check(text)
    assert check.returncode == 0, check.stdout + check.stderr


def test_units_added_from_inside_the_command_show_up_live(gm_env, tmp_path):
    script = (
        "import os, time, greenmeter\n"
        "greenmeter.add_units(5, 'requests')\n"
        f"deadline = time.monotonic() + {WAIT_S}\n"
        "while not os.path.exists('release') and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "greenmeter.add_units(3, 'requests')\n"
    )
    prom = tmp_path / "live.prom"
    proc = subprocess.Popen(
        [PY, "-m", "greenmeter", "run", "-q", "--json", "r.json", "--csv", "r.csv",
         "--checkpoint-interval", "0.2", "--prometheus-textfile", str(prom), "--", PY, "-c", script],
        cwd=tmp_path, env=gm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip

    def units() -> float | None:
        found = metric_samples(prom.read_text(), "greenmeter_work_units_total", unit="requests")
        return found[0].value if found else None

    try:
        assert wait_for("the command's first units, live", units) == 5
        (tmp_path / "release").touch()
        proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert units() == 8
