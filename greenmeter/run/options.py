"""What ``greenmeter run`` was asked to do, checked before launch (``greenmeter.cli.run``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kept out of the CLI's start-up: only the types are named here
    from greenmeter.carbon.footprint import CarbonOptions
    from greenmeter.carbon.when.plan import StartRecord
    from greenmeter.findings.thresholds import Thresholds
    from greenmeter.results import Budget, RunLabels, UnitCount
    from greenmeter.run.crosscheck import CodeCarbonCrossCheck
    from greenmeter.run.jobs.launcher import JobIdentity
    from greenmeter.run.live_export import LiveExport
    from greenmeter.sensors.estimate import EstimateSettings

CHECKPOINT_INTERVAL_S = 10.0
"""Default of ``--checkpoint-interval``: at most this much of a run is lost to kill -9."""


@dataclass(frozen=True)
class Outputs:
    """Where one run's files go; each path was checked writable before launch."""

    json_path: Path
    csv_path: Path
    html_path: Path | None = None


@dataclass(frozen=True)
class AdviceOptions:
    """The findings: ``--advice-threshold``, ``--fail-on``, ``--no-advice``."""

    thresholds: Thresholds | None = None
    """None: the defaults (``greenmeter.findings.thresholds``)."""
    fail_on: frozenset[str] = frozenset()
    """Finding ids that fail a successful run with ``exit_codes.ADVICE``."""
    show: bool = True
    """False (``--no-advice``): no advice lines in the terminal and CI summaries."""


@dataclass(frozen=True)
class RunOptions:
    labels: RunLabels
    """``labels.command`` is what is recorded (redacted); ``argv`` is what runs."""
    argv: list[str]
    carbon: CarbonOptions
    outputs: Outputs
    interval_s: float
    """``--interval``: seconds between timeline points (sensors may ask for shorter reads)."""
    quiet: bool = False
    estimate: EstimateSettings | None = None
    """``--cpu-tdp``, ``--cpu-host-threads``, ``--cpu-watts-per-vcpu``, ``--static-share``."""
    gpus: str | None = None
    """``--gpus``: all, none, or NVML indexes/UUIDs; None = the command's CUDA_VISIBLE_DEVICES."""
    idle_baseline_s: float | None = None
    """``--idle-baseline``: seconds of idle sampling before the command starts."""
    checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S
    cross_check: CodeCarbonCrossCheck | None = None
    """``--cross-check codecarbon``, checked before launch (greenmeter/run/crosscheck.py)."""
    units: tuple[UnitCount, ...] = ()
    """``--units``, in the order given (the first is the run's main unit)."""
    unit_name: str | None = None
    """``--unit-name``: the name of a count given without one."""
    budget: Budget | None = None
    job: JobIdentity | None = None
    """The job, step, node and rank this run belongs to (greenmeter/run/jobs/); None
    outside a launcher or with --no-job."""
    advice: AdviceOptions = AdviceOptions()
    scheduled_start: StartRecord | None = None
    """``--start-within``: the plan the run waited for, and how long it waited."""
    live_export: LiveExport | None = None
    """``--prometheus-port``, ``--pushgateway``, ``--prometheus-textfile``: bound before
    launch, shared by the repetitions (greenmeter/run/live_export.py)."""
