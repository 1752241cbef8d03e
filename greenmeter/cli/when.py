"""``greenmeter when``: the greenest start for a job in a window, and a way to start it then."""

from __future__ import annotations

import time
from pathlib import Path

import click

from greenmeter.cli.params import DURATION, ENERGY

WHEN_EPILOG = """\b
Examples:
  greenmeter when --region DE --duration 3h --within 24h
  greenmeter when --region GB --like greenmeter-runs/run.json --within 12h
  sbatch $(greenmeter when --region FR --duration 6h --format sbatch) train.sh
  greenmeter when --region ES --duration 2h --format at -- python train.py | sh
  greenmeter when --region US-CAL-CISO --duration 4h --forecast forecast.json

\b
The answer goes to stderr (--format text) or stdout (json, sbatch, at, cron).
Exit status: 0; 125 for a bad option, a job longer than the window, or a zone with no
hourly history and no forecast.
"""


def _from(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from greenmeter.carbon.intensity_series import parse_timestamp

    try:
        return parse_timestamp(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None


def _forecast(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    from greenmeter.carbon.intensity_series import IntensityFileError
    from greenmeter.carbon.when.outlook import load_forecast_file

    try:
        return load_forecast_file(value)
    except IntensityFileError as exc:
        raise click.BadParameter(str(exc)) from None


def zone_of(region: str | None, option: str) -> str:
    """The zone a region names; one line and exit 125 when there is none."""
    from greenmeter.carbon.regions import UnknownRegion, resolve_region

    if region is None or not region.strip():
        raise click.UsageError(f"{option} needs --region (or GREENMETER_REGION): where it runs")
    try:
        return resolve_region(region).zone_id
    except UnknownRegion as exc:
        raise click.BadParameter(str(exc), param_hint="--region") from None


@click.command(
    "when",
    short_help="The greenest time to start a job, and a line to start it then.",
    epilog=WHEN_EPILOG,
)
@click.option(
    "--region",
    envvar="GREENMETER_REGION",
    help="Where the job will run (see 'greenmeter regions').",
)
@click.option("--duration", type=DURATION, help="How long the job runs: 3h, 90min, 2d.")
@click.option(
    "--like",
    "like",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A past run's JSON report: its duration, energy and power over time.",
)
@click.option(
    "--within",
    type=DURATION,
    default="24h",
    show_default=True,
    help="The job must end within this time from now (or --from).",
)
@click.option("--energy", type=ENERGY, help="The job's energy (2kWh), for grams of CO2e.")
@click.option(
    "--from",
    "earliest",
    callback=_from,
    metavar="TIME",
    help="Earliest start, ISO 8601 (naive = UTC). Default: now.",
)
@click.option(
    "--forecast",
    callback=_forecast,
    type=click.Path(dir_okay=False),
    help="Forecast file: CSV timestamp,gCO2e/kWh or the Carbon Aware SDK's forecast JSON.",
)
@click.option(
    "--source",
    type=click.Choice(["auto", "file", "ukgrid", "electricitymaps", "profile"]),
    default="auto",
    show_default=True,
    help="Where the hours ahead come from; auto: forecast file, UK API (GB), Electricity "
    "Maps (with a token), then the shipped historic profile.",
)
@click.option("--offline", is_flag=True, help="Ask no provider over the network.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sbatch", "at", "cron"]),
    default="text",
    show_default=True,
    help="text (stderr), json, or a line for sbatch --begin, at or cron (stdout).",
)
@click.option(
    "--alternatives",
    type=click.IntRange(min=0, max=20),
    default=3,
    show_default=True,
    help="How many next best starts to show (each at least an hour from the others).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def when_command(
    region: str | None,
    duration: float | None,
    like: Path | None,
    within: float,
    energy: float | None,
    earliest: float | None,
    forecast,
    source: str,
    offline: bool,
    output_format: str,
    alternatives: int,
    command: tuple[str, ...],
) -> int:
    """The greenest start for a job of --duration (or --like a past run) that must end
    within --within, its expected CO2e against starting now, the next best starts, and
    what the figures rest on. COMMAND (after --) goes into the at and cron lines."""
    from greenmeter.carbon.when.plan import plan_start
    from greenmeter.carbon.when.profiles import NoHourlyHistory
    from greenmeter.carbon.when.window import JobShape, WindowError
    from greenmeter.reports import when_plan

    zone_id = zone_of(region, "greenmeter when")
    if (duration is None) == (like is None):
        raise click.UsageError("give either --duration or --like RUN.json")
    if source == "file" and forecast is None:
        raise click.BadParameter("--source file needs --forecast FILE", param_hint="--source")
    if source in ("ukgrid", "electricitymaps"):
        from greenmeter.carbon.providers import check_provider

        if offline:
            raise click.BadParameter(f"--source {source} asks the network; --offline forbids it")
        try:
            check_provider(source, zone_id)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--source") from None
    notes: list[str] = []
    if like is not None:
        from greenmeter.history.job_profile import RunFileError, job_like

        try:
            job, notes = job_like(like)
        except RunFileError as exc:
            raise click.BadParameter(str(exc), param_hint="--like") from None
        if energy is not None:
            from dataclasses import replace

            job = replace(job, energy_j=energy)
    else:
        job = JobShape.flat(duration, energy)
    start_s = time.time() if earliest is None else earliest
    try:
        plan = plan_start(
            zone_id,
            job,
            start_s,
            start_s + within,
            forecast=forecast,
            source=source,
            offline=offline,
            alternatives=alternatives,
        )
    except (WindowError, NoHourlyHistory) as exc:
        raise click.UsageError(str(exc)) from None
    for note in notes:
        click.echo(f"greenmeter: {note}", err=True)
    if output_format == "text":
        when_plan.print_plan(plan)
        return 0
    if output_format == "json":
        import json

        click.echo(json.dumps(when_plan.plan_to_dict(plan), indent=2))
    else:
        line = {
            "sbatch": lambda: when_plan.sbatch_line(plan),
            "at": lambda: when_plan.at_line(plan, list(command)),
            "cron": lambda: when_plan.cron_line(plan, list(command)),
        }[output_format]()
        click.echo(line)
        ambiguous = when_plan.ambiguity(plan.best.start_s)
        for warning in [*plan.warnings, *([ambiguous] if ambiguous else [])]:
            click.echo(f"greenmeter: warning: {warning}", err=True)
        click.echo(
            f"greenmeter: best start {plan.best.intensity_g_per_kwh:.0f} gCO2e/kWh, "
            f"{plan.saving_pct:.1f} % below starting now; {plan.outlook.rests_on}",
            err=True,
        )
    return 0
