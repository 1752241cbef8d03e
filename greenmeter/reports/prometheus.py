"""A run's figures as Prometheus metrics: a pure function of a RunResult (and the power
of its latest sampling interval), the same for the scrape endpoint, the Pushgateway and
node_exporter's textfile (greenmeter/run/live_export.py serves them; docs/prometheus.md
lists every metric).

Names follow Prometheus's conventions: base units in the name (joules, watts, grams,
seconds), ``_total`` for counters, ``_info`` for a series that carries labels. No label
carries the command line, a tag, a path or anything else a user typed: what identifies
the run is its id, the host and the job it belongs to.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from greenmeter.quantities import J_PER_KWH
from greenmeter.results import ComponentResult, RunResult

PUSH_JOB = "greenmeter"
"""The Pushgateway grouping key's ``job``."""

COMPONENT_LABELS = ("kind", "component", "index", "source", "method", "gpu_uuid")

DETAIL_ASIDE = " (inside or around a counted one: never add)"

RANK_VARIABLES = ("RANK", "SLURM_PROCID")
"""Where a rank's number is found when the run has no ``job`` (``--no-job``)."""


def component_labels(component: ComponentResult) -> list[str]:
    """Values of :data:`COMPONENT_LABELS`; ``""`` (the label absent, to PromQL) where a
    component has no index or no GPU UUID."""
    return [
        component.kind,
        component.name,
        "" if component.index is None else str(component.index),
        component.source,
        component.method,
        str(component.details.get("uuid") or ""),
    ]


def run_metrics(result: RunResult, power_w: Sequence[float | None] | None = None) -> list[Metric]:
    """Every metric of ``result`` (a checkpoint of a running command, or its end).
    ``power_w``: per component, in the order of ``result.components``, its mean power
    over the latest refresh (None: not known yet)."""
    return [
        *_component_metrics(result, power_w),
        *_carbon_metrics(result),
        *_run_metrics(result),
    ]


def _component_metrics(result: RunResult, power_w: Sequence[float | None] | None) -> list[Metric]:
    families: dict[str, Metric] = {}

    def family(name: str, kind: type[Metric], doc: str, unit: str) -> Metric:
        if name not in families:
            families[name] = kind(name, doc, labels=COMPONENT_LABELS, unit=unit)
        return families[name]

    powers = list(power_w) if power_w is not None else [None] * len(result.components)
    for component, power in zip(result.components, powers):
        # Figures inside (or around) counted ones get their own names, so that summing
        # greenmeter_energy_joules_total never counts a joule twice.
        prefix, aside = (
            ("greenmeter", "") if component.counted else ("greenmeter_detail", DETAIL_ASIDE)
        )
        labels = component_labels(component)
        if component.energy_j is not None:
            family(
                f"{prefix}_energy_joules",
                CounterMetricFamily,
                f"Energy used since the command started, per component{aside}",
                "joules",
            ).add_metric(labels, component.energy_j)
        if component.energy_range_j is not None:  # an estimate carries its range
            for end, joules in zip(("low", "high"), component.energy_range_j):
                family(
                    f"{prefix}_energy_estimate_{end}_joules",
                    GaugeMetricFamily,
                    f"The {end} end of an estimated component's energy range{aside}",
                    "joules",
                ).add_metric(labels, joules)
        if power is not None:
            family(
                f"{prefix}_power_watts",
                GaugeMetricFamily,
                f"Mean power over the latest refresh (about 0.5 s), per component{aside}",
                "watts",
            ).add_metric(labels, power)
    return list(families.values())


def _carbon_metrics(result: RunResult) -> list[Metric]:
    carbon = result.carbon
    co2 = CounterMetricFamily(
        "greenmeter_co2e_grams",
        "CO2-equivalent emitted since the command started (grid intensity x PUE x energy)",
        unit="grams",
    )
    co2.add_metric([], carbon.co2_g)
    intensity = GaugeMetricFamily(
        "greenmeter_grid_intensity_grams_per_joule",
        "Grid carbon intensity used, in grams CO2e per joule (x 3.6e6 = g/kWh)",
        labels=("zone", "source", "year", "basis", "time_resolved", "fallback"),
    )
    intensity.add_metric(
        [
            carbon.zone_id or carbon.region or "",
            carbon.intensity_source,
            str(carbon.intensity_year),
            carbon.basis,
            str(carbon.time_resolved).lower(),
            str(carbon.region_fallback).lower(),
        ],
        carbon.intensity_g_per_kwh / J_PER_KWH,
    )
    pue = GaugeMetricFamily(
        "greenmeter_pue_ratio", "Power usage effectiveness applied", unit="ratio"
    )
    pue.add_metric([], carbon.pue)
    return [co2, intensity, pue]


def _run_metrics(result: RunResult) -> list[Metric]:
    duration = GaugeMetricFamily(
        "greenmeter_run_duration_seconds", "Seconds since the command started", unit="seconds"
    )
    duration.add_metric([], result.duration_s)
    start = GaugeMetricFamily(
        "greenmeter_run_start_time_seconds",
        "When the command started, in seconds since the Unix epoch",
        unit="seconds",
    )
    start.add_metric([], result.started_at.timestamp())
    info = GaugeMetricFamily(
        "greenmeter_run_info",
        "The run being measured (always 1)",
        labels=("run_id", "version", "repeat_group", "repetition"),
    )
    labels = result.labels
    info.add_metric(
        [
            labels.run_id,
            result.greenmeter_version,
            labels.repeat_group or "",
            "" if labels.repetition is None else str(labels.repetition),
        ],
        1,
    )
    out = [duration, start, info]
    if result.units_of_work:
        units = CounterMetricFamily(
            "greenmeter_work_units",
            "Units of work done, per kind (--units, or the command's own count)",
            labels=("unit",),
        )
        for count in result.units_of_work:
            units.add_metric([count.name], count.count)
        out.append(units)
    if result.exit_code is not None:
        exit_code = GaugeMetricFamily(
            "greenmeter_command_exit_code",
            "The command's exit status (128+N for signal N); absent while it runs",
        )
        exit_code.add_metric([], result.exit_code)
        out.append(exit_code)
    return out


def grouping_key(result: RunResult) -> dict[str, str]:
    """The Pushgateway group of a run, besides ``job``: its node (the job's ``node``:
    ``--node``, else SLURM's node name, else the host name) and, for a rank of a job, its
    rank. Never the run id: each run replaces the last one of its node (and rank), so
    groups stay as many as nodes x ranks, not runs."""
    job = result.job or {}
    scheduler = result.host.get("scheduler") or {}
    node = job.get("node") or scheduler.get("SLURMD_NODENAME") or result.host.get("hostname")
    key = {"instance": str(node or socket.gethostname())}
    rank = job.get("rank")
    if rank is None:
        rank = next((scheduler[v] for v in RANK_VARIABLES if v in scheduler), None)
    if rank is not None:
        key["rank"] = str(rank)
    return key


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def registry_of(families: list[Metric]) -> CollectorRegistry:
    """A registry that holds ``families`` and nothing else (for a push or a file)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return registry


def text_exposition(families: list[Metric]) -> str:
    """``families`` in Prometheus's text format (what node_exporter's textfile collector
    and ``promtool check metrics`` read)."""
    return generate_latest(registry_of(families)).decode()
