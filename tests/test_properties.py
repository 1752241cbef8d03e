"""Property-based tests (hypothesis): the integration arithmetic holds for any sequence of
readings, and every parser answers any input with a result or one clear error, never a
traceback."""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import click
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from greenmeter.carbon.footprint import CarbonOptions
from greenmeter.carbon.regions import GridIntensity, UnknownRegion, resolve_region
from greenmeter.cli import params
from greenmeter.cli import run as cli_run
from greenmeter.cli.config import load_config, setting_name
from greenmeter.cli.main import main as cli_main
from greenmeter.quantities import format_duration, format_energy, format_mass, format_power
from greenmeter.reports.csv_row import COLUMNS, result_to_row
from greenmeter.reports.json_report import result_to_json
from greenmeter.reports.summary import print_summary
from greenmeter.results import RunLabels
from greenmeter.run import sampler as sampler_mod
from greenmeter.run.options import Outputs, RunOptions
from greenmeter.run.result import build_result
from greenmeter.run.runner import ChildOutcome
from greenmeter.run.sampler import Sampler
from greenmeter.sensors.base import MEASURED, Component, Sensor

from conftest import FakeClock

GRID = resolve_region("DE")
OPTIONS = RunOptions(
    labels=RunLabels("run", ["cmd"]),
    argv=["cmd"],
    carbon=CarbonOptions(GRID),
    outputs=Outputs(Path("run.json"), Path("runs.csv")),
    interval_s=0.5,
)


class Scripted(Sensor):
    """Returns the next scripted cumulative value per read: a number, None (a failed
    read) or an exception (a sensor bug)."""

    def __init__(self, script: list, kind: str = "cpu"):
        self.script = iter(script)
        self.components = (Component(kind, "scripted", "fake", MEASURED, 0),)

    def read_energy_j(self):
        value = next(self.script)
        if isinstance(value, Exception):
            raise value
        return [value]


# A read: its time step (0 allowed: two reads at one instant), and what the sensor gives.
steps = st.floats(min_value=0.0, max_value=3600.0, allow_nan=False)
increments = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
outcomes = st.one_of(
    increments.map(lambda j: ("ok", j)),
    st.just(("none", 0.0)),
    st.just(("raise", 0.0)),
)
reads = st.lists(st.tuples(steps, outcomes), min_size=0, max_size=60)


def _drive(sampler: Sampler, clock: FakeClock, times: list[float]):
    """The first exact read, then one read at each of ``times`` (what the thread does),
    and what was measured by then."""
    sampler.begin()
    for t in times:
        clock.t = t
        sampler.sample()
    return sampler.snapshot()


def _result(sensors, measurement, notes=()):
    return build_result(
        OPTIONS,
        sensors,
        measurement,
        started_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
        outcome=ChildOutcome(0, False, 0.0),
        notes=list(notes),
    )


@settings(max_examples=300, deadline=None)
@given(first=increments, script=reads)
def test_energy_is_the_sum_of_increments_between_first_and_last_good_read(first, script):
    clock = FakeClock(1000.0)
    values, times, cumulative = [first], [], first
    good = [(clock.t, first)]
    for step, (what, inc) in script:
        clock.t += step
        times.append(clock.t)
        if what == "ok":
            cumulative += inc
            values.append(cumulative)
            good.append((clock.t, cumulative))
        else:
            values.append(None if what == "none" else RuntimeError("bus error"))
    clock.t = 1000.0
    sensor = Scripted(values)
    m = _drive(Sampler([sensor], 0.5, clock=clock), clock, times)
    result = _result([sensor], m)
    comp = result.components[0]

    expected = good[-1][1] - good[0][1]
    assert comp.energy_j == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert comp.energy_j >= 0
    covered = good[-1][0] - good[0][0]
    assert comp.covered_s == pytest.approx(covered)
    if covered > 0:
        assert comp.mean_power_w == pytest.approx(expected / covered, rel=1e-6, abs=1e-9)
    else:
        assert comp.mean_power_w is None  # a zero-length window has no power, not nan/inf
    assert comp.partial == (len(good) < len(values))
    # The timeline: bounded, in time order, cumulative energy never decreasing.
    assert 1 <= len(m.timeline) <= sampler_mod.MAX_TIMELINE_POINTS
    ts = [t for t, _ in m.timeline]
    assert ts == sorted(ts) and ts[0] == 0.0
    energies = [e[0] for _, e in m.timeline]
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(energies))
    # Every exporter takes it: strict JSON (no nan/inf), a full CSV row, the summary.
    assert json.loads(result_to_json(result))["energy_j"]["cpu"] == pytest.approx(expected)
    assert set(result_to_row(result)) == set(COLUMNS)
    print_summary(result, file=io.StringIO())


@settings(max_examples=50, deadline=None)
@given(points=st.integers(min_value=1, max_value=5000), cap=st.integers(min_value=4, max_value=64))
def test_timeline_stays_bounded_and_keeps_the_last_point(points, cap):
    clock = FakeClock(1000.0)
    sensor = Scripted([float(i) for i in range(points + 1)])
    with mock.patch.object(sampler_mod, "MAX_TIMELINE_POINTS", cap):
        m = _drive(
            Sampler([sensor], 1.0, clock=clock), clock, [1000.0 + i for i in range(1, points + 1)]
        )
    assert len(m.timeline) <= cap
    assert m.timeline[0] == (0.0, [0.0])
    assert m.timeline[-1] == (float(points), [float(points)])
    # Evenly spread over the whole run, not crowded at its end: no gap much wider than
    # the average (plus one sampling interval for the newest point's rounding).
    times = [t for t, _ in m.timeline]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if gaps:
        assert max(gaps) <= 2 * points / len(gaps) + 1.0


def test_zero_length_run_is_reported_not_divided_by_zero():
    clock = FakeClock(1000.0)
    sensor = Scripted([5.0, 5.0])
    s = Sampler([sensor], 0.5, clock=clock)
    s.start()
    m = s.stop()
    result = _result([sensor], m)
    assert result.duration_s == 0.0
    assert result.components[0].energy_j == 0.0 and result.components[0].mean_power_w is None
    assert json.loads(result_to_json(result))["carbon"]["co2_g"] == 0.0
    print_summary(result, file=io.StringIO())


@settings(max_examples=200, deadline=None)
@given(rss=st.lists(st.tuples(steps, st.integers(min_value=0, max_value=2**44)), max_size=40))
def test_memory_estimate_integrates_any_irregular_rss_trace(rss):
    from greenmeter.sensors.estimate import WATTS_PER_GB_MEMORY, CpuPowerModel, EstimateSensor

    clock = FakeClock(1000.0)
    trace = iter(rss)

    class Tree:
        current = 0

        def usage(self):
            return 0.0, self.current

    tree = Tree()
    sensor = EstimateSensor(tree, {"dram"}, CpuPowerModel(3.5, 3.5, 3.5, "test"), clock=clock)
    expected, previous = 0.0, 0
    last = sensor.read_energy_j()[0]
    assert last == 0.0
    for step, rss_b in trace:
        clock.t += step
        expected += previous / 1e9 * WATTS_PER_GB_MEMORY * step
        tree.current = previous = rss_b
        value = sensor.read_energy_j()[0]
        assert value >= last and math.isfinite(value)
        last = value
    assert last == pytest.approx(expected, rel=1e-9, abs=1e-9)


markup_like = st.text(alphabet=st.sampled_from("[]/ab :=#\\"), min_size=1, max_size=16)


@settings(max_examples=200, deadline=None)
@given(name=markup_like, warning=markup_like)
def test_summary_prints_names_and_warnings_as_text(name, warning):
    """A GPU or zone name, a provider's error, a command's words: never taken as markup
    (rich would drop "[x]" and raise on "[/x]")."""
    clock = FakeClock(1000.0)
    sensor = Scripted([0.0, 5.0])
    sensor.components = (Component("gpu", name, "fake", MEASURED, 0),)
    m = _drive(Sampler([sensor], 0.5, clock=clock), clock, [1001.0])
    result = _result([sensor], m, notes=[warning])
    out = io.StringIO()
    with mock.patch.dict("os.environ", {"COLUMNS": "400"}):
        print_summary(result, file=out)
    text = out.getvalue()
    assert f"gpu {name}".rstrip() in text
    assert f"warning: {warning}".rstrip() in text


# --- counter wraps (RAPL) and sampled power (NVML) ---------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    range_uj=st.integers(min_value=2, max_value=2**40),
    start=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    steps_=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
            st.floats(min_value=0.0, max_value=5.0),
        ),
        max_size=40,
    ),
)
def test_rapl_counter_wraps_are_undone_for_any_sequence(range_uj, start, steps_):
    """Any sequence of reads where the counter advances by less than one range between two
    reads (what ``max_interval_s`` guarantees): the sensor's cumulative energy is the true
    energy to the microjoule, however often it wrapped, at any (irregular) read times."""
    import tempfile

    from greenmeter.sensors import rapl

    from powercap_tree import PowercapTree

    with tempfile.TemporaryDirectory() as base:
        tree = PowercapTree(Path(base))
        raw = int(start * range_uj)
        tree.add_zone("intel-rapl:0", "package-0", raw, range_uj)
        clock = FakeClock(1000.0)
        zones, _ = rapl.select_zones(rapl.discover_zones(tree.root), tree.root)
        sensor = rapl.RaplSensor(zones, {}, clock=clock)
        total_uj = wraps = 0
        for fraction, dt in steps_:
            delta = int(fraction * range_uj)  # < range: at most one wrap per read
            wraps += raw + delta >= range_uj
            raw = (raw + delta) % range_uj
            total_uj += delta
            clock.t += dt
            tree.write("intel-rapl:0", "energy_uj", raw)
            (energy_j,) = sensor.read_energy_j()
            assert energy_j == total_uj / 1e6
            limit = sensor.max_interval_s()
            assert limit is not None and math.isfinite(limit) and limit > 0
        assert sensor.details()[0]["wraps"] == wraps


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(min_value=0, max_value=700),
    b=st.floats(min_value=-50, max_value=50),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=50),
)
def test_polled_power_is_exact_for_a_linear_ramp_at_any_sample_times(a, b, gaps):
    """The NVML polling path integrates by trapezoids: exact for power linear in time,
    whatever the (irregular, even coincident) sample times."""
    from greenmeter.sensors.gpu_power import PowerIntegral

    integral = PowerIntegral()
    t, times = 0.0, [0.0]
    for gap in gaps:
        t += gap
        times.append(t)
    power = [max(0.0, a + b * x) for x in times]
    assume(all(a + b * x >= 0 for x in times))  # a ramp, not clipped at zero
    for x, w in zip(times, power):
        integral.add(x, w)
    truth = a * times[-1] + b * times[-1] ** 2 / 2
    assert integral.energy_j == pytest.approx(truth, rel=1e-9, abs=1e-9)
    assert integral.samples == len(times) and integral.energy_j >= 0
    assert integral.max_power_w == max(power)


@given(joules=st.floats(allow_nan=False), grams=st.floats(allow_nan=False, min_value=0))
def test_unit_formatting_never_fails(joules, grams):
    for text in (
        format_energy(joules),
        format_power(joules),
        format_mass(grams),
        format_duration(joules),
    ):
        assert isinstance(text, str) and text
    assert format_energy(None) == "-"


# --- parsers ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _normalised_table() -> dict[str, float]:
    import csv as csv_mod

    from greenmeter.sensors.estimate import CPU_POWER_TABLE, normalise_model

    table: dict[str, float] = {}
    with CPU_POWER_TABLE.open(newline="") as f:
        for row in csv_mod.DictReader(line for line in f if not line.startswith("#")):
            try:
                table[normalise_model(row["Name"])] = float(row["TDP"])
            except (KeyError, TypeError, ValueError):
                continue
    return table


def _reference_tdp(model: str) -> tuple[float, str] | None:
    """The TDP lookup by definition: scan every table name (slow, so not used in runs)."""
    from greenmeter.sensors.estimate import normalise_model

    text, best = f" {normalise_model(model)} ", None
    for name, tdp_w in _normalised_table().items():
        if any(ch.isdigit() for ch in name) and f" {name} " in text:
            if best is None or len(name) > len(best[1]):
                best = (tdp_w, name)
    return best


@functools.lru_cache(maxsize=1)
def _table_names() -> list[str]:
    from greenmeter.sensors.estimate import CPU_POWER_TABLE

    lines = [ln for ln in CPU_POWER_TABLE.read_text().splitlines() if not ln.startswith("#")]
    return [ln.rsplit(",", 1)[0].strip('"') for ln in lines[1:]]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_tdp_lookup_matches_its_definition(data):
    from greenmeter.sensors.estimate import find_tdp_w

    names = st.sampled_from(_table_names())
    model = data.draw(
        st.one_of(
            names.map(lambda n: f"Intel(R) Core(TM) {n} CPU @ 3.20GHz"),
            names.map(lambda n: f"AMD {n} 8-Core Processor"),
            st.tuples(names, names).map(" ".join),
            st.text(max_size=40),
        )
    )
    assert find_tdp_w(model) == _reference_tdp(model)


@settings(max_examples=300, deadline=None)
@given(query=st.text(max_size=40))
def test_any_region_resolves_or_is_one_clear_error(query):
    try:
        grid = resolve_region(query)
    except UnknownRegion as exc:
        message = str(exc)
        assert message.startswith("unknown region") and "\n" not in message
        return
    assert isinstance(grid, GridIntensity)
    assert grid.intensity_g_per_kwh > 0 and grid.year > 1990
    assert grid.fallback == (not query.strip())


SETTINGS = sorted(
    setting_name(p)
    for p in cli_run.run_command.params
    if isinstance(p, click.Option) and p.name not in ("config",)
)
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
)
toml_values = st.one_of(
    toml_scalars,
    st.lists(toml_scalars, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), toml_scalars, max_size=2),
)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


def _run_context() -> click.Context:
    return click.Context(cli_run.run_command, info_name="run")


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.dictionaries(
        st.one_of(st.sampled_from(SETTINGS), st.from_regex(r"[a-z_]{1,12}", fullmatch=True)),
        toml_values,
        max_size=4,
    )
)
def test_any_settings_file_loads_or_is_one_clear_error(tmp_path, entries):
    path = tmp_path / "g.toml"
    path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in entries.items()))
    try:
        settings_ = load_config(_run_context(), path)
    except click.BadParameter as exc:
        message = exc.format_message()
        assert str(path) in message and "line" in message
        return
    assert set(settings_) <= {p.name for p in cli_run.run_command.params}
    for value in settings_.values():  # nan never sneaks past a range check
        assert not (isinstance(value, float) and math.isnan(value))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_any_bytes_as_settings_file_load_or_are_one_clear_error(tmp_path, data):
    path = tmp_path / "g.toml"
    path.write_bytes(data)
    try:
        load_config(_run_context(), path)
    except click.BadParameter as exc:
        assert str(path) in exc.format_message()


FLOAT_OPTIONS = sorted(
    max(p.opts, key=len)
    for p in cli_run.run_command.params
    if isinstance(p, click.Option) and isinstance(p.type, click.FloatRange)
)
option_text = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "", " ", "1e309", "0", "-1", "1_0", "0x10"]),
    st.floats().map(repr),
    st.text(max_size=12),
)


OTHER_OPTIONS = [
    "--region",
    "--json",
    "--csv",
    "--max-energy",
    "--max-co2",
    "--tag",
    "--repeat",
    "--warmup",
    "--gpus",
    "--unit-name",
    "--intensity-file",
]


@settings(max_examples=400, deadline=None)
def _checked_path_stub(path, param, suffixes=()):
    """``writable_file`` without its probe (no files are made), refusing what it refuses
    without one: an existing directory."""
    if Path(path).is_dir():
        raise click.BadParameter(f"{path} is a directory; give a file name", param_hint=param)
    return Path(path)


@given(option=st.sampled_from(FLOAT_OPTIONS + OTHER_OPTIONS), text=option_text)
@example(option="--json", text="/")  # once a traceback from the timeline's name
def test_any_option_value_runs_or_is_one_clear_line_before_launch(option, text):
    """``main`` answers every value with a run (the run itself is stubbed: parsing only)
    or exit 125 and exactly one line on stderr; nan and infinity are never accepted."""
    # argv and environment strings are C strings: a NUL cannot reach greenmeter that way
    # (a settings file can: see the settings-file tests).
    assume("\0" not in text)
    launched = []
    err = io.StringIO()
    with (
        mock.patch(
            "greenmeter.run.repeat.run_repeated",
            side_effect=lambda options, *args: launched.append(options) or 0,
        ),
        mock.patch.object(cli_run, "writable_file", _checked_path_stub),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as ended,
    ):
        cli_main(["run", option, text, "--", "true"])
    if ended.value.code == 0:
        assert len(launched) == 1
        numbers = [v for v in vars(launched[0]).values() if isinstance(v, float)]
        assert all(math.isfinite(v) for v in numbers)
    else:
        assert ended.value.code == 125 and not launched
        lines = err.getvalue().rstrip("\n").split("\n")  # not splitlines(): \x85 is in names
        assert len(lines) == 1 and lines[0].startswith("greenmeter: "), err.getvalue()


UNIT_WORDS = [
    "",
    "J",
    "mJ",
    "MJ",
    "kJ",
    "kWh",
    "Wh",
    "MWh",
    "g",
    "kg",
    "mg",
    "t",
    "kgCO2e",
    "%",
    "co2",
    "K",
    "jj",
    " kWh ",
    "e5",
    "%%",
]


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=20),
        st.builds(
            lambda n, u: f"{n}{u}",
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from(UNIT_WORDS),
        ),
        st.builds(
            lambda n, u: f"{n} {u}",
            st.integers(min_value=-(10**400), max_value=10**400),
            st.sampled_from(UNIT_WORDS),
        ),
    )
)
def test_quantities_parse_or_fail_clearly(text):
    """Budgets and gates: any text is a finite quantity or one clear error."""
    from greenmeter.cli.params import ENERGY, MASS, PERCENT
    from greenmeter.quantities import parse_energy_j, parse_fraction, parse_mass_g

    for parse in (parse_energy_j, parse_mass_g, parse_fraction):
        try:
            value = parse(text)
        except ValueError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(value, float) and not math.isnan(value)
    for kind in (ENERGY, MASS, PERCENT):
        try:
            value = kind.convert(text, None, None)
        except click.BadParameter as exc:
            assert exc.format_message()
        else:
            assert math.isfinite(value) and value >= 0


timestamps = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.isoformat()
    ),
    st.sampled_from(
        [
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:00:00+02:00",
            "2024-01-01",
            "2024-13-01T00:00Z",
            "yesterday",
            "",
            "1e9",
            "2024-01-01T00:00:00+25:00",
        ]
    ),
    st.text(max_size=12),
)
cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "-1", "1e400", "400", "0"]),
    st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(st.one_of(timestamps, cells), min_size=0, max_size=3), max_size=6),
    header=st.sampled_from(["", "timestamp,gco2_per_kwh\n", "timestamp,lifecycle\n", "t,x,y\n"]),
)
def test_any_intensity_file_loads_or_is_one_clear_error(rows, header):
    """--intensity-file: a series or one line naming the file and the line."""
    import csv as csv_mod
    import tempfile

    from greenmeter.carbon.intensity_series import IntensityFileError, load_intensity_file

    buf = io.StringIO()
    csv_mod.writer(buf, lineterminator="\n").writerows(rows)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "intensity.csv"
        path.write_text(header + buf.getvalue())
        try:
            series = load_intensity_file(path)
        except IntensityFileError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
            return
    # A loaded series accounts for a run anywhere in time: finite, non-negative CO2e.
    co2_g, mean = series.co2_g([(series.start_s - 10, series.end_s + 10, 3.6e6)])
    assert math.isfinite(co2_g) and co2_g >= 0 and math.isfinite(mean) and mean >= 0


def test_writable_file_errors_are_clear(tmp_path):
    with pytest.raises(click.BadParameter, match="does not exist"):
        params.writable_file(tmp_path / "missing" / "r.json", "--json")
    with pytest.raises(click.BadParameter, match="is a directory"):
        params.writable_file(Path(tmp_path), "--json")
