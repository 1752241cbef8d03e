"""``greenmeter run``: options checked before launch, then the run pipeline
(``greenmeter.run.repeat.run_repeated``)."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import click

from greenmeter.cli.params import (
    DURATION,
    ENERGY,
    MASS,
    REGEX,
    TAG,
    UNITS,
    FiniteFloatRange,
    GpuSelection,
    writable_file,
)
from greenmeter.run.options import CHECKPOINT_INTERVAL_S
from greenmeter.sensors.estimate import STATIC_WATTS_PER_VCPU

RUN_EPILOG = """\b
Examples:
  greenmeter run -- python train.py --epochs 3
  greenmeter run --region DE --json run.json --csv runs.csv -- pytest -q
  GREENMETER_REGION=FR greenmeter run --quiet -- make test
  greenmeter run --tag model=resnet50 --units 50000 --unit-name images -- python infer.py
  greenmeter run --repeat 5 --warmup 1 --max-energy 50kJ --max-co2 10g -- pytest -q
  greenmeter run --region ES --start-within 8h --expected-duration 2h -- python train.py

\b
Exit status: the command's own; 128+N if a signal N killed it; 127 if it was
not found, 126 if it could not be executed; 125 if greenmeter itself failed
(bad option, config, region or output path; or a report that could not be
written after the command succeeded); 121 if the command succeeded but a run
went over --max-energy or --max-co2; 119 if the command succeeded but the run
has a finding named by --fail-on. With --repeat: the first failing
repetition's code, else 125/121/119/0 as above.
"""


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from greenmeter.cli.config import load_config

    ctx.default_map = {
        **(ctx.default_map or {}),
        **load_config(ctx, Path(value) if value else None),
    }
    return value


def _resolve_region(ctx: click.Context, param: click.Parameter, value: str | None):
    from greenmeter.carbon.regions import UnknownRegion, resolve_region

    try:
        return resolve_region(value)
    except UnknownRegion as exc:
        raise click.BadParameter(str(exc)) from None


def _load_intensity_file(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    from greenmeter.carbon.intensity_series import IntensityFileError, load_intensity_file

    try:
        return load_intensity_file(value)
    except IntensityFileError as exc:
        raise click.BadParameter(str(exc)) from None


def _finding_ids(ctx: click.Context, param: click.Parameter, value: str | None) -> frozenset:
    if not value:
        return frozenset()
    from greenmeter.findings.analyse import FINDING_IDS

    ids = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [i for i in ids if i not in FINDING_IDS]
    if unknown:
        raise click.BadParameter(
            f"unknown finding {', '.join(map(repr, unknown))} (known: {', '.join(FINDING_IDS)})"
        )
    return frozenset(ids)


def _default_output_dir(directory: Path) -> None:
    """``./greenmeter-runs``, made before launch; one line naming the fix if it cannot be."""
    try:
        directory.mkdir(exist_ok=True)
    except FileExistsError:
        raise click.UsageError(
            f"./{directory} is not a directory; remove it, or give --json and --csv"
        ) from None
    except OSError as exc:
        raise click.UsageError(
            f"cannot create ./{directory} here ({exc.strerror}); run from a writable "
            f"directory, or give --json and --csv"
        ) from None


def _distinct(outputs, summary_md: Path | None, prometheus_textfile: Path | None) -> None:
    """Refuse two outputs in one file (the second would destroy the first); a special
    file such as /dev/null may take several."""
    from greenmeter.reports.atomic_write import is_special
    from greenmeter.reports.timeline import timeline_path

    named = [
        ("--json", outputs.json_path),
        ("the --json report's timeline", timeline_path(outputs.json_path)),
        ("--csv", outputs.csv_path),
        ("--html", outputs.html_path),
        ("--summary-md", summary_md),
        ("--prometheus-textfile", prometheus_textfile),
    ]
    seen: dict[str, str] = {}
    for option, path in named:
        if path is None or is_special(path):
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise click.UsageError(
                f"{path} is both {seen[key]} and {option}: give each output its own file"
            )
        seen[key] = option


def _estimate_settings(
    tdp_w: float | None,
    host_threads: int | None,
    watts_per_vcpu: float | None,
    static_w_per_vcpu: float | None,
):
    """The estimate's settings, refused before launch where they cannot apply here (a TDP
    on a VM without the host's thread count)."""
    from greenmeter.sensors.estimate import (
        CpuEstimateSettingsError,
        EstimateSettings,
        cpu_power_model,
        read_cpuinfo,
    )

    if host_threads is not None and tdp_w is None:
        raise click.BadParameter(
            "needs --cpu-tdp (the TDP of that package)", param_hint="'--cpu-host-threads'"
        )
    try:
        cpu_power_model(
            read_cpuinfo(),
            os.cpu_count() or 1,
            tdp_w=tdp_w,
            host_threads=host_threads,
            watts_per_vcpu=watts_per_vcpu,
        )
    except CpuEstimateSettingsError as exc:
        raise click.BadParameter(str(exc), param_hint="'--cpu-tdp'") from None
    return EstimateSettings(tdp_w, host_threads, watts_per_vcpu, static_w_per_vcpu or None)


def _prometheus_options(
    port: int | None, address: str, pushgateway: str | None, textfile: str | None
):
    """``--prometheus-*`` and ``--pushgateway`` checked before launch; None if none given."""
    if port is None:
        source = click.get_current_context().get_parameter_source("prometheus_address")
        # Only when typed: a settings file or the environment may set it for the runs that
        # give a port.
        if source is click.core.ParameterSource.COMMANDLINE:
            raise click.BadParameter(
                "is where the endpoint listens: give --prometheus-port too",
                param_hint="--prometheus-address",
            )
    if port is None and pushgateway is None and textfile is None:
        return None
    from greenmeter.run.live_export import PrometheusOptions, check_pushgateway_url

    if pushgateway is not None:
        try:
            check_pushgateway_url(pushgateway)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--pushgateway") from None
    path = None
    if textfile is not None:
        if not textfile.endswith(".prom"):
            raise click.BadParameter(
                f"{textfile} does not end in .prom (node_exporter's textfile collector reads "
                f"only *.prom files)",
                param_hint="--prometheus-textfile",
            )
        path = writable_file(textfile, "--prometheus-textfile")
    return PrometheusOptions(port=port, address=address, pushgateway=pushgateway, textfile=path)


def _carbon_options(grid, pue: float | None, series, provider: str | None):
    """Cross-option checks and the PUE a cloud region brings; before launch, one-line errors."""
    from greenmeter.carbon.footprint import CarbonOptions

    if series is not None and provider is not None:
        raise click.BadParameter(
            "give either an intensity file or a live provider, not both",
            param_hint="--carbon-provider",
        )
    if provider is not None:
        from greenmeter.carbon.providers import check_provider

        if grid.fallback:
            raise click.BadParameter(
                f"the {provider} provider needs --region", param_hint="--carbon-provider"
            )
        try:
            check_provider(provider, grid.zone_id)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--carbon-provider") from None
    return CarbonOptions.for_grid(grid, pue, series=series, provider=provider)


def _start_plan(carbon, start_within: float | None, expected_duration: float):
    """``--start-within``: the plan, made before launch (one-line errors)."""
    if start_within is None:
        return None
    if carbon.grid.fallback:
        raise click.BadParameter("--start-within needs --region", param_hint="--start-within")
    from greenmeter.carbon.when.profiles import NoHourlyHistory
    from greenmeter.carbon.when.window import WindowError
    from greenmeter.run.start_time import plan_run_start

    try:
        return plan_run_start(carbon, start_within, expected_duration)
    except (WindowError, NoHourlyHistory) as exc:
        raise click.BadParameter(str(exc), param_hint="--start-within") from None


@click.command(
    "run",
    short_help="Run a command and report its energy and CO2.",
    epilog=RUN_EPILOG,
    context_settings={"allow_interspersed_args": False},
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_load_config,
    envvar="GREENMETER_CONFIG",
    help="Settings file (TOML). Default: ./greenmeter.toml if present.",
)
@click.option(
    "--region",
    callback=_resolve_region,
    envvar="GREENMETER_REGION",
    help="Where the energy was used: ISO 3166 code (DE, DEU), zone (US-CA, SE-SE3) or "
    "cloud region (aws:us-east-1); see 'greenmeter regions'. "
    "Default: the world average, stated in the report.",
)
@click.option(
    "--pue",
    type=FiniteFloatRange(min=1.0, max=5.0),
    envvar="GREENMETER_PUE",
    help="Data-centre power usage effectiveness applied to the measured IT energy. "
    "Default: 1.0, or the provider's published PUE for a cloud region.",
)
@click.option(
    "--intensity-file",
    "intensity_file",
    type=click.Path(dir_okay=False),
    callback=_load_intensity_file,
    envvar="GREENMETER_INTENSITY_FILE",
    help="CSV of timestamp,gCO2e/kWh (hourly or finer; naive times are UTC): "
    "CO2 hour by hour over the run.",
)
@click.option(
    "--carbon-provider",
    "carbon_provider",
    type=click.Choice(["electricitymaps", "ukgrid"]),
    envvar="GREENMETER_CARBON_PROVIDER",
    help="Ask a live provider for the run's hours (network; token for electricitymaps in "
    "GREENMETER_ELECTRICITYMAPS_TOKEN). Falls back to the shipped figure, and says so.",
)
@click.option(
    "--interval",
    type=FiniteFloatRange(min=0.01, max=60.0),
    default=0.5,
    show_default=True,
    envvar="GREENMETER_INTERVAL",
    help="Seconds between samples (timeline; sensors may ask for shorter).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(),  # kept as typed: a trailing '/' means a directory
    envvar="GREENMETER_JSON",
    help="JSON report path. Default: ./greenmeter-runs/<run_id>.json.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(),  # kept as typed: a trailing '/' means a directory
    envvar="GREENMETER_CSV",
    help="CSV history to append a row to. Default: ./greenmeter-runs/runs.csv.",
)
@click.option(
    "--cpu-tdp",
    "cpu_tdp",
    type=FiniteFloatRange(min=1.0, max=2000.0),
    envvar="GREENMETER_CPU_TDP",
    help="CPU package TDP in watts, for the estimate when the model is not in the table "
    "(on a VM, with --cpu-host-threads).",
)
@click.option(
    "--cpu-host-threads",
    "cpu_host_threads",
    type=click.IntRange(min=1, max=4096),
    envvar="GREENMETER_CPU_HOST_THREADS",
    help="Logical CPUs of the package that --cpu-tdp belongs to (on a VM: the host's).",
)
@click.option(
    "--cpu-watts-per-vcpu",
    "cpu_watts_per_vcpu",
    type=FiniteFloatRange(min=0.01, max=500.0),
    envvar="GREENMETER_CPU_WATTS_PER_VCPU",
    help="Power of one busy vCPU in watts, for the estimate (what a cloud provider "
    "publishes; overrides --cpu-tdp).",
)
@click.option(
    "--static-share",
    "static_share",
    type=FiniteFloatRange(min=0.0, max=100.0),
    is_flag=False,
    flag_value=STATIC_WATTS_PER_VCPU,
    envvar="GREENMETER_STATIC_SHARE",
    metavar="[W_PER_VCPU]",
    help=f"Also charge the machine's idle share to an estimated run: watts per vCPU the "
    f"command may use (alone: {STATIC_WATTS_PER_VCPU} W, Cloud Carbon Footprint).",
)
@click.option(
    "--gpus",
    type=GpuSelection(),
    envvar="GREENMETER_GPUS",
    metavar="all|none|0,2,UUID",
    help="GPUs to measure: all, none, or NVML indexes, GPU- UUIDs and MIG- ids "
    "separated by commas. Default: those the command may use "
    "(CUDA_VISIBLE_DEVICES).",
)
@click.option(
    "--idle-baseline",
    "idle_baseline",
    type=FiniteFloatRange(min=0.1, max=3600.0),
    envvar="GREENMETER_IDLE_BASELINE",
    metavar="SECONDS",
    help="Measure the machine's idle power for SECONDS before starting the command, "
    "then report energy above idle too (per component).",
)
@click.option(
    "--checkpoint-interval",
    "checkpoint_interval",
    type=FiniteFloatRange(min=0.1, max=86400.0),
    default=CHECKPOINT_INTERVAL_S,
    show_default=True,
    envvar="GREENMETER_CHECKPOINT_INTERVAL",
    metavar="SECONDS",
    help="Seconds between partial reports written to the --json path while the "
    "command runs (what survives kill -9 of greenmeter).",
)
@click.option(
    "--cross-check",
    "cross_check",
    type=click.Choice(["codecarbon"]),
    envvar="GREENMETER_CROSS_CHECK",
    help="Also run CodeCarbon's offline tracker over the same run and show its "
    "figures beside greenmeter's (needs: pip install 'greenmeter[codecarbon]').",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    envvar="GREENMETER_QUIET",
    help="No summary on stderr (warnings about sensors are still said).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(),  # kept as typed: a trailing '/' means a directory
    envvar="GREENMETER_HTML",
    help="Also write a self-contained HTML report of this run (charts, tables); with "
    "--repeat, one page for the group.",
)
@click.option(
    "--tag",
    "tags",
    type=TAG,
    multiple=True,
    envvar="GREENMETER_TAG",
    help="Label the run, e.g. --tag model=resnet50 (repeatable). CI commit, "
    "branch, job and runner are recorded without asking.",
)
@click.option(
    "--units",
    type=UNITS,
    multiple=True,
    envvar="GREENMETER_UNITS",
    help="Units of work the command does, e.g. 512:samples (repeatable: 2e6:tokens "
    "too), for energy and CO2e per unit. The command may write its own counts to "
    "$GREENMETER_UNITS_FILE.",
)
@click.option(
    "--unit-name",
    envvar="GREENMETER_UNIT_NAME",
    help="The name of a count given without one, e.g. samples. Default: units.",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1, max=10_000),
    default=1,
    show_default=True,
    envvar="GREENMETER_REPEAT",
    help="Run the command N times, one report each, and give mean, median, "
    "standard deviation and 95 % confidence interval.",
)
@click.option(
    "--warmup",
    type=click.IntRange(min=0, max=1000),
    default=0,
    show_default=True,
    envvar="GREENMETER_WARMUP",
    help="Unmeasured runs before the measured ones (caches, JIT).",
)
@click.option(
    "--max-energy",
    type=ENERGY,
    envvar="GREENMETER_MAX_ENERGY",
    help="Energy budget per run: 50kJ, 1.5Wh, 2kWh (a bare number is J). Over it, "
    "greenmeter exits 121 when the command succeeded.",
)
@click.option(
    "--max-co2",
    type=MASS,
    envvar="GREENMETER_MAX_CO2",
    help="CO2e budget per run: 10g, 1.5kg, 500mg (a bare number is g). Over it, "
    "greenmeter exits 121 when the command succeeded.",
)
@click.option(
    "--summary-md",
    type=click.Path(),  # kept as typed: a trailing '/' means a directory
    envvar="GREENMETER_SUMMARY_MD",
    help="Append a Markdown summary to FILE for CI pages ($GITHUB_STEP_SUMMARY, "
    "when set, gets one too).",
)
@click.option(
    "--redact",
    "redact",
    type=REGEX,
    multiple=True,
    metavar="REGEX",
    envvar="GREENMETER_REDACT",
    help="Replace what REGEX matches in each argument of the recorded command with *** "
    "(repeatable); the command itself runs unchanged.",
)
@click.option(
    "--redact-value-of",
    "redact_value_of",
    multiple=True,
    metavar="FLAG",
    envvar="GREENMETER_REDACT_VALUE_OF",
    help="Record the value after FLAG (FLAG VALUE or FLAG=VALUE) as *** (repeatable), "
    "e.g. --redact-value-of --password.",
)
@click.option(
    "--job",
    "job_id",
    envvar="GREENMETER_JOB",
    metavar="ID",
    help="The job this run is a rank of (default: from SLURM, torchrun or MPI); its "
    "ranks on one node measure the node once. See docs/clusters.md.",
)
@click.option(
    "--node",
    "node_name",
    envvar="GREENMETER_NODE",
    metavar="NAME",
    help="This rank's node in the job. Default: SLURMD_NODENAME, else the host name.",
)
@click.option(
    "--no-job",
    "no_job",
    is_flag=True,
    envvar="GREENMETER_NO_JOB",
    help="Ignore launchers: measure every device this run sees, as if alone on the node.",
)
@click.option(
    "--no-advice",
    "no_advice",
    is_flag=True,
    envvar="GREENMETER_NO_ADVICE",
    help="No findings (where energy went to waste) in the summaries; the report keeps them.",
)
@click.option(
    "--fail-on",
    "fail_on",
    callback=_finding_ids,
    metavar="FINDING[,FINDING...]",
    envvar="GREENMETER_FAIL_ON",
    help="Exit 119 when the command succeeded but the run has one of these findings, "
    "e.g. idle-gpu,unused-gpu (docs/advice.md).",
)
@click.option(
    "--advice-threshold",
    "advice_thresholds",
    type=TAG,
    multiple=True,
    metavar="NAME=VALUE",
    envvar="GREENMETER_ADVICE_THRESHOLD",
    help="Change a finding's threshold, e.g. idle_util_pct=5 (repeatable; docs/advice.md).",
)
@click.option(
    "--start-within",
    "start_within",
    type=DURATION,
    envvar="GREENMETER_START_WITHIN",
    help="Wait (interruptibly) for the greenest start in the next DURATION (8h), then run; "
    "see 'greenmeter when'. Never waits without it.",
)
@click.option(
    "--expected-duration",
    "expected_duration",
    type=DURATION,
    default="1h",
    show_default=True,
    envvar="GREENMETER_EXPECTED_DURATION",
    help="How long the command is expected to run, for --start-within.",
)
@click.option(
    "--prometheus-port",
    type=click.IntRange(min=0, max=65535),
    envvar="GREENMETER_PROMETHEUS_PORT",
    metavar="PORT",
    help="Serve live metrics at http://ADDRESS:PORT/metrics for Prometheus while the "
    "command runs, until the report is written (0: a free port, said on stderr).",
)
@click.option(
    "--prometheus-address",
    default="127.0.0.1",
    show_default=True,
    envvar="GREENMETER_PROMETHEUS_ADDRESS",
    help="Address the metrics endpoint listens on (0.0.0.0 or :: lets other hosts scrape).",
)
@click.option(
    "--pushgateway",
    metavar="URL",
    envvar="GREENMETER_PUSHGATEWAY",
    help="Push the metrics to this Prometheus Pushgateway at each checkpoint and at the "
    "end (http[s]://[user:password@]host:port; a gateway that is down never stops the run).",
)
@click.option(
    "--prometheus-textfile",
    type=click.Path(),  # kept as typed: a trailing '/' means a directory
    envvar="GREENMETER_PROMETHEUS_TEXTFILE",
    metavar="PATH.prom",
    help="Write the metrics to PATH.prom for node_exporter's textfile collector at each "
    "checkpoint and at the end (atomically).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(
    region,
    pue: float | None,
    intensity_file,
    carbon_provider: str | None,
    interval: float,
    json_path: str | None,
    csv_path: str | None,
    cpu_tdp: float | None,
    cpu_host_threads: int | None,
    cpu_watts_per_vcpu: float | None,
    static_share: float | None,
    gpus: str | None,
    idle_baseline: float | None,
    checkpoint_interval: float,
    cross_check: str | None,
    quiet: bool,
    html_path: str | None,
    tags: tuple[tuple[str, str], ...],
    units: tuple[tuple[float, str | None], ...],
    unit_name: str | None,
    repeat: int,
    warmup: int,
    max_energy: float | None,
    max_co2: float | None,
    summary_md: str | None,
    redact: tuple,
    redact_value_of: tuple[str, ...],
    job_id: str | None,
    node_name: str | None,
    no_job: bool,
    no_advice: bool,
    fail_on: frozenset,
    advice_thresholds: tuple[tuple[str, str], ...],
    start_within: float | None,
    expected_duration: float,
    prometheus_port: int | None,
    prometheus_address: str,
    pushgateway: str | None,
    prometheus_textfile: str | None,
    command: tuple[str, ...],
) -> int:
    """Run COMMAND unchanged and measure the energy it used.

    Put greenmeter's options before COMMAND; '--' ends them. Everything after
    the command's name belongs to the command.
    """
    from greenmeter.reports.run_files import (
        DEFAULT_CSV_NAME,
        DEFAULT_OUTPUT_DIR,
        default_json_path,
        repetition_path,
    )
    from greenmeter.reports.step_summary import summary_targets
    from greenmeter.results import DEFAULT_UNIT_NAME, Budget, RunLabels, UnitCount, new_run_id
    from greenmeter.run.ci_context import ci_context
    from greenmeter.run.jobs.launcher import detect_job
    from greenmeter.run.options import AdviceOptions, Outputs, RunOptions
    from greenmeter.run.redaction import redacted
    from greenmeter.run.repeat import run_repeated
    from greenmeter.sensors.gpu_selection import GpuSelectionError

    estimate = _estimate_settings(cpu_tdp, cpu_host_threads, cpu_watts_per_vcpu, static_share)
    carbon = _carbon_options(region, pue, intensity_file, carbon_provider)
    thresholds = None
    if advice_thresholds:
        from greenmeter.findings.thresholds import with_overrides

        try:
            thresholds = with_overrides(list(advice_thresholds))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--advice-threshold'") from None
    start_plan = _start_plan(carbon, start_within, expected_duration)
    if cross_check is not None:
        from greenmeter.run.crosscheck import CrossCheckUnavailable, prepare

        try:
            cross_check = prepare(cross_check, carbon.grid, carbon.pue)
        except CrossCheckUnavailable as exc:
            raise click.BadParameter(str(exc), param_hint="--cross-check") from None
    run_id = new_run_id(datetime.now(timezone.utc))
    if json_path is None or csv_path is None:
        _default_output_dir(DEFAULT_OUTPUT_DIR)
    if repeat > 1 and json_path is not None:  # --html: one page for the group, at its path
        for i in range(1, repeat + 1):
            writable_file(repetition_path(Path(json_path), i), "--json")
    outputs = Outputs(
        json_path=writable_file(
            json_path or default_json_path(run_id), "--json", suffixes=(".timeline.csv",)
        ),
        csv_path=writable_file(csv_path or DEFAULT_OUTPUT_DIR / DEFAULT_CSV_NAME, "--csv"),
        html_path=writable_file(html_path, "--html") if html_path else None,
    )
    if summary_md is not None:
        summary_md = writable_file(summary_md, "--summary-md")
    prometheus = _prometheus_options(
        prometheus_port, prometheus_address, pushgateway, prometheus_textfile
    )
    _distinct(outputs, summary_md, prometheus.textfile if prometheus else None)
    options = RunOptions(
        labels=RunLabels(
            run_id=run_id,
            command=redacted(list(command), redact, redact_value_of),
            tags=dict(tags),
            ci=ci_context(os.environ),
        ),
        argv=list(command),
        carbon=carbon,
        outputs=outputs,
        interval_s=interval,
        quiet=quiet,
        estimate=estimate,
        gpus=gpus,
        idle_baseline_s=idle_baseline,
        checkpoint_interval_s=checkpoint_interval,
        cross_check=cross_check,
        units=tuple(UnitCount(n, name or unit_name or DEFAULT_UNIT_NAME) for n, name in units),
        unit_name=unit_name,
        budget=Budget(max_energy, max_co2) if max_energy or max_co2 else None,
        job=None
        if no_job
        else detect_job(os.environ, socket.gethostname(), job=job_id, node=node_name),
        advice=AdviceOptions(thresholds=thresholds, fail_on=fail_on, show=not no_advice),
    )
    if prometheus is not None:  # last: the endpoint is bound once every other check passed
        from greenmeter.run.live_export import LiveExportUnavailable, open_live_export

        try:
            options = replace(options, live_export=open_live_export(prometheus, quiet))
        except LiveExportUnavailable as exc:
            raise click.BadParameter(str(exc), param_hint="--prometheus-port") from None
    try:
        if start_plan is not None:
            from greenmeter.run.start_time import check_sensors, wait_for_start

            check_sensors(options)  # --gpus refused now, not after the wait
            record = wait_for_start(start_plan, quiet=quiet)
            if isinstance(record, int):  # a signal: the command was not started
                return record
            options = replace(options, scheduled_start=record)
        return run_repeated(
            options, repeat, warmup, json_path is not None, summary_targets(summary_md)
        )
    except GpuSelectionError as exc:  # raised while opening the sensors, before launch
        raise click.BadParameter(str(exc), param_hint="'--gpus'") from None
    finally:
        if options.live_export is not None:
            options.live_export.close()
