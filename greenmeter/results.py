"""The one result type of a run, and the small types it is made of.

A :class:`RunResult` is built once, when a run (or a checkpoint of it) is known
(``greenmeter.run.result``), and never changed afterwards: exporters in
``greenmeter.reports`` are pure functions of it. Nothing here measures, writes or prints.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from greenmeter import __version__
from greenmeter.quantities import format_energy, format_mass

if TYPE_CHECKING:  # the statistics are imported when there are repetitions to describe
    from greenmeter.stats import Summary

SCHEMA_VERSION = 2
"""2: ``phases`` added (docs/report-schema.md); readers take 1 and 2."""
COUNTED_KINDS = ("cpu", "gpu", "dram")
"""Kinds summed into ``energy_j.total``; each also has its own ``energy_j`` entry."""
DEFAULT_UNIT_NAME = "units"

Point = tuple[float, list[float | None]]
"""A timeline point: (seconds since start, cumulative joules since start per component;
None = not read yet)."""


@dataclass(frozen=True)
class ActivityChannel:
    """A gauge of the timeline (``greenmeter.sensors.base.Gauge``): what it reads, and
    for which component (an index into ``RunResult.components``; None: the process tree).
    Its values in ``RunResult.activity`` are running integrals over time (unit x s)."""

    quantity: str
    component: int | None


HEURISTIC = "heuristic"


@dataclass(frozen=True)
class Finding:
    """Where a run's energy went to waste, and what to try (``greenmeter.findings``)."""

    id: str
    """``idle-gpu``, ``unused-gpu``, ``input-bound``, ``small-batch``, ``power-capped``,
    ``thermal``, ``cpu-only``, ``regression``."""
    summary: str
    """One line, figures included."""
    evidence: dict
    """The figures behind it, by name with their unit (``idle_j``, ``idle_share_pct``...)."""
    energy_at_stake_j: float
    co2_at_stake_g: float
    """``energy_at_stake_j`` at the run's own intensity and PUE."""
    what_to_try: str
    label: str = HEURISTIC


@dataclass(frozen=True)
class RunLabels:
    """What a run is and what it is about, known before it starts and carried unchanged
    into its result: the JSON report's identity, tags, CI job and repetition fields."""

    run_id: str
    command: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    ci: dict[str, str] | None = None
    """The CI job that ran it (``greenmeter.run.labels.ci_context``); None outside CI."""
    repeat_group: str | None = None
    """Shared by the repetitions of one ``run --repeat N``; ``repetition`` is 1..N."""
    repetition: int | None = None
    repetitions: int | None = None


MEASURED = "measured"
ESTIMATED = "estimated"
MIXED = "mixed"
"""A figure's basis: every part measured, every part estimated, or some of each."""


@dataclass(frozen=True)
class UnitCount:
    """Units of work of one kind (``512 samples``)."""

    count: float
    name: str


@dataclass(frozen=True)
class ComponentResult:
    kind: str
    name: str
    index: int | None
    source: str
    method: str
    counted: bool
    energy_j: float | None
    mean_power_w: float | None
    samples: int
    partial: bool
    covered_s: float
    details: dict = field(default_factory=dict)
    idle_power_w: float | None = None
    """With ``--idle-baseline``: this component's power before the command started."""
    net_energy_j: float | None = None
    """With ``--idle-baseline``: ``energy_j - idle_power_w x covered_s``, the energy above idle."""
    energy_range_j: tuple[float, float] | None = None
    """An estimate's (low, high) joules, from its model's input ranges; None when measured."""


@dataclass(frozen=True)
class Carbon:
    """The run's CO2e and where each figure behind it came from
    (made by ``greenmeter.carbon.footprint``)."""

    region: str | None
    zone_id: str | None
    """None when an intensity file was used without a region."""
    zone_name: str
    intensity_g_per_kwh: float
    intensity_source: str
    intensity_year: int
    basis: str
    region_fallback: bool
    pue: float
    energy_kwh: float
    """IT energy measured or estimated here, before PUE."""
    energy_kwh_with_pue: float
    co2_g: float
    pue_source: str | None = None
    """Where the PUE came from: the cloud provider's published figure, or None (given / default)."""
    time_resolved: bool = False
    """True when the intensity is the energy-weighted mean of an hourly (or finer) series."""
    intensity_outside_s: float = 0.0
    """Seconds of the run outside the series' range, charged its nearest value."""


@dataclass(frozen=True)
class Budget:
    """``run --max-energy/--max-co2``. The report records the check either way; greenmeter
    exits with ``exit_codes.BUDGET_EXCEEDED`` only when the command itself succeeded."""

    max_energy_j: float | None
    """Against ``energy_j.total``: the IT energy, before PUE."""
    max_co2_g: float | None
    """Against ``carbon.co2_g`` (PUE included)."""

    def check(self, energy_j: float | None, co2_g: float) -> BudgetCheck:
        energy_over = None
        if self.max_energy_j is not None and energy_j is not None:
            energy_over = energy_j > self.max_energy_j
        co2_over = None
        if self.max_co2_g is not None and energy_j is not None:
            co2_over = co2_g > self.max_co2_g
        return BudgetCheck(
            max_energy_j=self.max_energy_j,
            max_co2_g=self.max_co2_g,
            energy_exceeded=energy_over,
            co2_exceeded=co2_over,
            exceeded=bool(energy_over or co2_over),
        )


@dataclass(frozen=True)
class BudgetCheck:
    max_energy_j: float | None
    max_co2_g: float | None
    energy_exceeded: bool | None
    co2_exceeded: bool | None
    """None: no such budget, or nothing was measured or estimated to check it against."""
    exceeded: bool

    def verdicts(self) -> str:
        """``energy over 50.0 kJ, CO2e within 10.00 g``."""

        def verdict(exceeded: bool | None) -> str:
            return {True: "over", False: "within", None: "unchecked (no figure), limit"}[exceeded]

        parts = []
        if self.max_energy_j is not None:
            parts.append(
                f"energy {verdict(self.energy_exceeded)} {format_energy(self.max_energy_j)}"
            )
        if self.max_co2_g is not None:
            parts.append(f"CO2e {verdict(self.co2_exceeded)} {format_mass(self.max_co2_g)}")
        return ", ".join(parts)

    def describe(self) -> str:
        """``budget EXCEEDED: energy over 50.0 kJ`` (or ``budget kept: ...``)."""
        return "budget " + ("EXCEEDED: " if self.exceeded else "kept: ") + self.verdicts()


@dataclass(frozen=True)
class RunResult:
    labels: RunLabels
    exit_code: int | None
    """None while the command still runs (a checkpoint)."""
    interrupted: bool
    started_at: datetime
    ended_at: datetime
    duration_s: float
    host: dict
    components: list[ComponentResult]
    carbon: Carbon
    warnings: list[str]
    partial: bool = False
    """True for a checkpoint written while the command still ran."""
    timeline: list[Point] = field(default_factory=list, repr=False)
    """Evenly spread exact readings over the run, bounded in number (``greenmeter.run.sampler``)."""
    idle_baseline_s: float | None = None
    """Seconds of idle sampling before the command (``--idle-baseline``); None without."""
    units: float | None = None
    """Units of work the run did (``--units`` or the command's own count): the first kind."""
    unit_name: str | None = None
    other_units: tuple[UnitCount, ...] = ()
    """Further kinds of units (tokens beside samples), each with its own J per unit."""
    leaves_out: tuple[str, ...] = ()
    """What the figures do not include that a reader might assume they do (the idle share
    of the machine under an estimate)."""
    budget: BudgetCheck | None = None
    cross_check: dict | None = None
    """CodeCarbon's figures for the same run (``--cross-check``, greenmeter/run/crosscheck.py)."""
    phases: Phases | None = None
    """Phases and units the command marked (``greenmeter.phase``, ``greenmeter mark``);
    None when it marked nothing."""
    job: dict | None = None
    """The job this run is a rank of and what it measured of its node
    (greenmeter/run/jobs/node_meter.py); None outside a job."""
    channels: list[ActivityChannel] = field(default_factory=list)
    activity: list[Point] = field(default_factory=list, repr=False)
    """At the times of ``timeline``: the running integral of each of ``channels``."""
    findings: list[Finding] = field(default_factory=list)
    """Heuristic advice, largest energy at stake first (none for a checkpoint)."""
    scheduled_start: dict | None = None
    """``run --start-within``: the planned start, the wait, the expected and actual intensity."""
    schema_version: int = SCHEMA_VERSION
    greenmeter_version: str = __version__

    @property
    def energy_j(self) -> dict[str, float | None]:
        return energy_by_kind(self.components)

    @property
    def energy_basis(self) -> dict[str, str | None]:
        """Per counted kind and in total: :data:`MEASURED`, :data:`ESTIMATED`,
        :data:`MIXED`, or None where nothing has a figure."""
        return basis_by_kind(self.components)

    @property
    def energy_range_j(self) -> dict[str, tuple[float, float] | None]:
        """Per counted kind and in total, the (low, high) joules that the estimates'
        ranges allow (measured parts count as their figure); None without a figure."""
        return range_by_kind(self.components)

    @property
    def co2_range_g(self) -> tuple[float, float] | None:
        """CO2e at the ends of ``energy_range_j["total"]`` (the same intensity and PUE)."""
        total, span = self.energy_j["total"], self.energy_range_j["total"]
        if not total or span is None:
            return None
        return (self.carbon.co2_g * span[0] / total, self.carbon.co2_g * span[1] / total)

    @property
    def units_of_work(self) -> list[UnitCount]:
        """Every kind of unit the run counted, the first (``units``) first."""
        first = [UnitCount(self.units, self.unit_name or DEFAULT_UNIT_NAME)] if self.units else []
        return first + list(self.other_units)

    @property
    def energy_j_per_unit(self) -> float | None:
        total = self.energy_j["total"]
        return total / self.units if total is not None and self.units else None

    @property
    def co2_g_per_unit(self) -> float | None:
        return self.carbon.co2_g / self.units if self.units else None

    @property
    def energy_net_j(self) -> dict[str, float | None] | None:
        """Like ``energy_j``, above the idle baseline; None without ``--idle-baseline``."""
        if self.idle_baseline_s is None:
            return None
        return energy_by_kind(self.components, "net_energy_j")


@dataclass(frozen=True)
class PhaseComponent:
    """One component's joules over a phase (the same component as in the run's list)."""

    kind: str
    name: str
    source: str
    method: str
    counted: bool
    energy_j: float | None
    energy_range_j: tuple[float, float] | None = None
    """An estimate's (low, high) over the phase: the run's relative range (one model)."""


@dataclass(frozen=True)
class Occurrences:
    """Per occurrence of a repeated phase (e.g. every ``step``): count and the spread."""

    count: int
    mean: float
    p50: float
    p95: float
    min: float
    max: float
    sampled: int
    """How many occurrences the percentiles come from: all of them up to
    ``run.phases.MAX_KEPT_OCCURRENCES``, a uniform sample of them beyond."""


@dataclass(frozen=True)
class PhaseResult:
    """One marked phase name at one place in the nesting (``epoch/step``), every occurrence
    of it together. Energy and duration are over the union of its occurrences, so
    occurrences that overlap (several processes in the same phase) are never added twice."""

    path: str
    """Names from the top-level phase down, joined by ``/``."""
    name: str
    parent: str | None
    count: int
    start_s: float
    """Seconds since the run's start when the first occurrence began."""
    end_s: float
    duration_s: float
    components: list[PhaseComponent]
    co2_g: float | None
    units: dict[str, float]
    """Units added (``add_units``) while it was open, per unit name."""
    energy_per_occurrence_j: Occurrences | None
    duration_per_occurrence_s: Occurrences | None
    occurrences: list[tuple[float, float, float | None]] = field(default_factory=list)
    """(start_s, end_s, total J) of the first occurrences, for charts (bounded)."""
    unclosed: int = 0
    """Occurrences still open when the run ended (closed there)."""

    @property
    def energy_j(self) -> dict[str, float | None]:
        return energy_by_kind(self.components)

    @property
    def energy_basis(self) -> dict[str, str | None]:
        return basis_by_kind(self.components)

    @property
    def energy_range_j(self) -> dict[str, tuple[float, float] | None]:
        return range_by_kind(self.components)

    @property
    def energy_j_per_unit(self) -> dict[str, float | None]:
        total = self.energy_j["total"]
        return {
            unit: (total / count if total is not None and count else None)
            for unit, count in self.units.items()
        }


@dataclass(frozen=True)
class Phases:
    """What the command marked: its phases, and the time and energy outside every
    top-level phase (``unmarked``), so that top-level phases plus unmarked add up to the
    run whenever top-level phases do not overlap."""

    phases: list[PhaseResult]
    unmarked_duration_s: float
    unmarked_components: list[PhaseComponent]
    marks: int
    """Lines read from the control channel."""
    ignored: list[str] = field(default_factory=list)
    """Why lines were not understood (the first few, and a count)."""
    max_lag_s: float = 0.0
    """Longest time between a mark's stamp and greenmeter's read of the sensors for it."""

    @property
    def unmarked_energy_j(self) -> dict[str, float | None]:
        return energy_by_kind(self.unmarked_components)


def energy_by_kind(
    components: list[ComponentResult] | list[PhaseComponent], field_name: str = "energy_j"
) -> dict[str, float | None]:
    """Joules per counted kind and in total. A kind nothing measured or estimated is
    None, not 0; detail components (counted=False) are never added."""
    out: dict[str, float | None] = {}
    for kind in COUNTED_KINDS:
        values = [
            getattr(c, field_name)
            for c in components
            if c.counted and c.kind == kind and getattr(c, field_name) is not None
        ]
        out[kind] = sum(values) if values else None
    present = [v for v in out.values() if v is not None]
    return {"total": sum(present) if present else None, **out}


def basis_by_kind(components: list[ComponentResult]) -> dict[str, str | None]:
    """Measured, estimated or mixed, per counted kind and in total."""

    def basis(methods: set[str]) -> str | None:
        if not methods:
            return None
        return methods.pop() if len(methods) == 1 else MIXED

    counted = [c for c in components if c.counted and c.energy_j is not None]
    out = {kind: basis({c.method for c in counted if c.kind == kind}) for kind in COUNTED_KINDS}
    return {"total": basis({c.method for c in counted}), **out}


def range_by_kind(components: list[ComponentResult]) -> dict[str, tuple[float, float] | None]:
    """Low and high joules per counted kind and in total: the sums of the components' ends
    (as if every estimate erred the same way: the widest honest range)."""

    def span(parts: list[ComponentResult]) -> tuple[float, float] | None:
        if not parts:
            return None
        ends = [c.energy_range_j or (c.energy_j, c.energy_j) for c in parts]
        return (sum(low for low, _ in ends), sum(high for _, high in ends))

    counted = [c for c in components if c.counted and c.energy_j is not None]
    out = {kind: span([c for c in counted if c.kind == kind]) for kind in COUNTED_KINDS}
    return {"total": span(counted), **out}


def singular(unit_name: str) -> str:
    """For "J per sample" from ``--unit-name samples``; "units" -> "unit", "class" stays."""
    if len(unit_name) > 2 and unit_name.endswith("s") and not unit_name.endswith("ss"):
        return unit_name[:-1]
    return unit_name


def new_run_id(started_at: datetime) -> str:
    """Sortable by time, unique across concurrent runs."""
    return f"{started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RepeatStats:
    """Statistics over the repetitions of ``run --repeat N``: mean, median, standard
    deviation and the 95 % Student-t confidence interval of the mean, per metric."""

    n: int
    warmup: int
    metrics: dict[str, Summary]
    """``energy_j``, ``duration_s``, ``co2_g`` and, when every repetition counted units,
    ``energy_j_per_unit``."""
    unit_name: str | None = None

    @classmethod
    def of(cls, results: list[RunResult], warmup: int) -> RepeatStats:
        from greenmeter.stats import describe

        series = {
            "energy_j": [r.energy_j["total"] for r in results],
            "duration_s": [r.duration_s for r in results],
            "co2_g": [r.carbon.co2_g for r in results],
            "energy_j_per_unit": [r.energy_j_per_unit for r in results],
        }
        metrics = {
            name: describe(values)
            for name, values in series.items()
            if values and all(v is not None for v in values)
        }
        return cls(len(results), warmup, metrics, results[0].unit_name)
