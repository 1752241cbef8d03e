"""The ``greenmeter`` command line."""

from __future__ import annotations

import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from greenmeter import __version__, exit_codes
from greenmeter.history_commands import compare_command, export_command, report_command
from greenmeter.labels import TAG
from greenmeter.quantities import ENERGY, MASS

DEFAULT_OUTPUT_DIR = Path("greenmeter-runs")

RUN_EPILOG = """\b
Examples:
  greenmeter run -- python train.py --epochs 3
  greenmeter run --region DE --json run.json --csv runs.csv -- pytest -q
  GREENMETER_REGION=FR greenmeter run --quiet -- make test
  greenmeter run --tag model=resnet50 --units 50000 --unit-name images -- python infer.py
  greenmeter run --repeat 5 --warmup 1 --max-energy 50kJ --max-co2 10g -- pytest -q

\b
Exit status: the command's own; 128+N if a signal N killed it; 127 if it was
not found, 126 if it could not be executed; 125 if greenmeter itself failed
(bad option, config, region or output path; or a report that could not be
written after the command succeeded); 121 if the command succeeded but a run
went over --max-energy or --max-co2. With --repeat: the first failing
repetition's code, else 125/121/0 as above.
"""


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from greenmeter.config import load_config

    ctx.default_map = {**(ctx.default_map or {}),
                       **load_config(ctx, Path(value) if value else None)}
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


def _carbon_settings(grid, pue: float | None, series, provider: str | None):
    """Cross-option checks and the PUE a cloud region brings; before launch, one-line errors."""
    if series is not None and provider is not None:
        raise click.BadParameter("give either an intensity file or a live provider, not both",
                                 param_hint="--carbon-provider")
    if provider is not None:
        from greenmeter.carbon.providers import check_provider

        if grid.fallback:
            raise click.BadParameter(f"the {provider} provider needs --region", param_hint="--carbon-provider")
        try:
            check_provider(provider, grid.zone_id)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--carbon-provider") from None
    if pue is not None:
        return pue, None
    if grid.pue is not None:
        return grid.pue, grid.pue_source
    return 1.0, None


class GpuSelection(click.ParamType):
    """``--gpus``: syntax checked here (also for env and config values); whether the
    GPUs exist is checked against NVML when the sensors open, still before launch."""

    name = "all|none|GPUS"

    def convert(self, value, param, ctx):
        from greenmeter.sensors.nvml import parse_gpu_selection

        try:
            return parse_gpu_selection(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan (which passes every range comparison) and,
    where the range is open-ended, infinity."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def writable_file(path: Path, param: str) -> Path:
    """Fail before launch if a report could not be written to ``path``."""
    if path.is_dir():
        raise click.BadParameter(f"{path} is a directory; give a file name", param_hint=param)
    parent = path.parent
    if not parent.is_dir():
        raise click.BadParameter(f"directory {parent} does not exist; create it first",
                                 param_hint=param)
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise click.BadParameter(f"{path} is not writable", param_hint=param)
    return path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="greenmeter")
def cli() -> None:
    """How many joules and grams of CO2e a command cost.

    GPU energy from NVML, CPU and DRAM energy from RAPL, and a labelled estimate
    where no sensor is readable. See 'greenmeter run --help'.
    """


@cli.command(
    "run",
    short_help="Run a command and report its energy and CO2.",
    epilog=RUN_EPILOG,
    context_settings={"allow_interspersed_args": False},
)
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              callback=_load_config, envvar="GREENMETER_CONFIG",
              help="Settings file (TOML). Default: ./greenmeter.toml if present.")
@click.option("--region", callback=_resolve_region, envvar="GREENMETER_REGION",
              help="Where the energy was used: ISO 3166 code (DE, DEU), zone (US-CA, SE-SE3) or "
                   "cloud region (aws:us-east-1); see 'greenmeter regions'. "
                   "Default: the world average, stated in the report.")
@click.option("--pue", type=FiniteFloatRange(min=1.0, max=5.0), envvar="GREENMETER_PUE",
              help="Data-centre power usage effectiveness applied to the measured IT energy. "
                   "Default: 1.0, or the provider's published PUE for a cloud region.")
@click.option("--intensity-file", "intensity_file", type=click.Path(dir_okay=False),
              callback=_load_intensity_file, envvar="GREENMETER_INTENSITY_FILE",
              help="CSV of timestamp,gCO2e/kWh (hourly or finer; naive times are UTC): "
                   "CO2 hour by hour over the run.")
@click.option("--carbon-provider", "carbon_provider",
              type=click.Choice(["electricitymaps", "ukgrid"]), envvar="GREENMETER_CARBON_PROVIDER",
              help="Ask a live provider for the run's hours (network; token for electricitymaps in "
                   "GREENMETER_ELECTRICITYMAPS_TOKEN). Falls back to the shipped figure, and says so.")
@click.option("--interval", type=FiniteFloatRange(min=0.01, max=60.0), default=0.5,
              show_default=True, envvar="GREENMETER_INTERVAL",
              help="Seconds between samples (timeline; sensors may ask for shorter).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), envvar="GREENMETER_JSON",
              help="JSON report path. Default: ./greenmeter-runs/<run_id>.json.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), envvar="GREENMETER_CSV",
              help="CSV history to append a row to. Default: ./greenmeter-runs/runs.csv.")
@click.option("--cpu-tdp", "cpu_tdp", type=FiniteFloatRange(min=1.0, max=2000.0),
              envvar="GREENMETER_CPU_TDP",
              help="CPU package TDP in watts, for the estimate when the model is not in the table.")
@click.option("--gpus", type=GpuSelection(), envvar="GREENMETER_GPUS",
              metavar="all|none|0,2,UUID",
              help="GPUs to measure: all, none, or NVML indexes, GPU- UUIDs and MIG- ids "
                   "separated by commas. Default: those the command may use "
                   "(CUDA_VISIBLE_DEVICES).")
@click.option("--idle-baseline", "idle_baseline", type=FiniteFloatRange(min=0.1, max=3600.0),
              envvar="GREENMETER_IDLE_BASELINE", metavar="SECONDS",
              help="Measure the machine's idle power for SECONDS before starting the command, "
                   "then report energy above idle too (per component).")
@click.option("--checkpoint-interval", "checkpoint_interval",
              type=FiniteFloatRange(min=0.1, max=86400.0), default=10.0, show_default=True,
              envvar="GREENMETER_CHECKPOINT_INTERVAL", metavar="SECONDS",
              help="Seconds between partial reports written to the --json path while the "
                   "command runs (what survives kill -9 of greenmeter).")
@click.option("--cross-check", "cross_check", type=click.Choice(["codecarbon"]),
              envvar="GREENMETER_CROSS_CHECK",
              help="Also run CodeCarbon's offline tracker over the same run and show its "
                   "figures beside greenmeter's (needs: pip install 'greenmeter[codecarbon]').")
@click.option("-q", "--quiet", is_flag=True, envvar="GREENMETER_QUIET",
              help="No summary on stderr (warnings about sensors are still said).")
@click.option("--html", "html_path", type=click.Path(path_type=Path), envvar="GREENMETER_HTML",
              help="Also write a self-contained HTML report of this run (charts, tables).")
@click.option("--tag", "tags", type=TAG, multiple=True, envvar="GREENMETER_TAG",
              help="Label the run, e.g. --tag model=resnet50 (repeatable). CI commit, "
                   "branch, job and runner are recorded without asking.")
@click.option("--units", type=FiniteFloatRange(min=0, min_open=True), envvar="GREENMETER_UNITS",
              help="Units of work the command does (samples, requests...), for energy and "
                   "CO2e per unit. The command may write its own count to $GREENMETER_UNITS_FILE.")
@click.option("--unit-name", envvar="GREENMETER_UNIT_NAME",
              help="What one unit is, e.g. samples. Default: units.")
@click.option("--repeat", type=click.IntRange(min=1, max=10_000), default=1, show_default=True,
              envvar="GREENMETER_REPEAT",
              help="Run the command N times, one report each, and give mean, median, "
                   "standard deviation and 95 % confidence interval.")
@click.option("--warmup", type=click.IntRange(min=0, max=1000), default=0, show_default=True,
              envvar="GREENMETER_WARMUP",
              help="Unmeasured runs before the measured ones (caches, JIT).")
@click.option("--max-energy", type=ENERGY, envvar="GREENMETER_MAX_ENERGY",
              help="Energy budget per run: 50kJ, 1.5Wh, 2kWh (a bare number is J). Over it, "
                   "greenmeter exits 121 when the command succeeded.")
@click.option("--max-co2", type=MASS, envvar="GREENMETER_MAX_CO2",
              help="CO2e budget per run: 10g, 1.5kg, 500mg (a bare number is g). Over it, "
                   "greenmeter exits 121 when the command succeeded.")
@click.option("--summary-md", type=click.Path(path_type=Path), envvar="GREENMETER_SUMMARY_MD",
              help="Append a Markdown summary to FILE for CI pages ($GITHUB_STEP_SUMMARY, "
                   "when set, gets one too).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(region, pue: float | None, intensity_file, carbon_provider: str | None,
                interval: float, json_path: Path | None,
                csv_path: Path | None, cpu_tdp: float | None, gpus: str | None,
                idle_baseline: float | None, checkpoint_interval: float,
                cross_check: str | None, quiet: bool, html_path: Path | None,
                tags: tuple[tuple[str, str], ...], units: float | None, unit_name: str | None,
                repeat: int, warmup: int, max_energy: float | None, max_co2: float | None,
                summary_md: Path | None,
                command: tuple[str, ...]) -> int:
    """Run COMMAND unchanged and measure the energy it used.

    Put greenmeter's options before COMMAND; '--' ends them. Everything after
    the command's name belongs to the command.
    """
    from greenmeter.budget import Budget
    from greenmeter.labels import ci_context, tags_dict
    from greenmeter.measure import RunOptions
    from greenmeter.repeat import repetition_path, run_repeated
    from greenmeter.results import new_run_id
    from greenmeter.sensors.nvml import GpuSelectionError
    from greenmeter.step_summary import summary_targets

    pue, pue_source = _carbon_settings(region, pue, intensity_file, carbon_provider)
    if cross_check is not None:
        from greenmeter.crosscheck import CrossCheckUnavailable, prepare

        try:
            cross_check = prepare(cross_check, region, pue)
        except CrossCheckUnavailable as exc:
            raise click.BadParameter(str(exc), param_hint="--cross-check") from None
    run_id = new_run_id(datetime.now(timezone.utc))
    if json_path is None or csv_path is None:
        DEFAULT_OUTPUT_DIR.mkdir(exist_ok=True)
    if repeat > 1:
        for path, option in ((json_path, "--json"), (html_path, "--html")):
            for i in range(1, repeat + 1 if path is not None else 1):
                writable_file(repetition_path(path, i), option)
    options = RunOptions(
        run_id=run_id,
        command=list(command),
        grid=region,
        pue=pue,
        interval_s=interval,
        json_path=writable_file(json_path or DEFAULT_OUTPUT_DIR / f"{run_id}.json",
                                "--json"),
        csv_path=writable_file(csv_path or DEFAULT_OUTPUT_DIR / "runs.csv", "--csv"),
        quiet=quiet,
        cpu_tdp_w=cpu_tdp,
        pue_source=pue_source,
        intensity_series=intensity_file,
        carbon_provider=carbon_provider,
        gpus=gpus,
        html_path=writable_file(html_path, "--html") if html_path else None,
        idle_baseline_s=idle_baseline,
        checkpoint_interval_s=checkpoint_interval,
        cross_check=cross_check,
        tags=tags_dict(tags),
        ci=ci_context(os.environ),
        units=units,
        unit_name=unit_name,
        budget=Budget(max_energy, max_co2) if max_energy or max_co2 else None,
    )
    if summary_md is not None:
        writable_file(summary_md, "--summary-md")
    try:
        return run_repeated(options, repeat, warmup, json_path, DEFAULT_OUTPUT_DIR,
                            summary_targets(summary_md))
    except GpuSelectionError as exc:  # raised while opening the sensors, before launch
        raise click.BadParameter(str(exc), param_hint="'--gpus'") from None


@cli.command("regions", short_help="List the zones and cloud regions --region accepts.")
@click.argument("query", required=False)
@click.option("--basis", type=click.Choice(["lifecycle", "direct"]), default="lifecycle",
              show_default=True, help="Preferred basis (a zone without it shows the other, labelled).")
def regions_command(query: str | None, basis: str) -> int:
    """List grid zones and cloud regions matching QUERY (id, name or location; all when omitted)
    with the intensity --region would use, its year, basis and source."""
    from greenmeter.carbon.regions import search_regions
    from greenmeter.regions_listing import print_regions

    results = search_regions(query, basis)
    if not results:
        click.echo(f"greenmeter: no region matches {query!r}", err=True)
        return 1
    print_regions(results)
    return 0


@cli.command("html", short_help="Write a self-contained HTML report of one or more runs.")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              help="HTML file to write.")
def html_command(runs: tuple[Path, ...], out: Path) -> None:
    """Draw RUNS (JSON reports, or directories of them) as one HTML page: power over
    time, energy per component, carbon and its source, and a comparison of the runs.
    The page loads nothing from the network. Same as 'greenmeter report --html FILE RUNS'.

    \b
    Example:
      greenmeter html greenmeter-runs/ -o runs.html
    """
    from greenmeter.html_report import ReportsNotReadable, write_html_report

    try:
        notes = write_html_report(list(runs), writable_file(out, "--output"))
    except ReportsNotReadable as exc:
        raise click.BadParameter(str(exc), param_hint="RUNS") from None
    for note in notes:
        click.echo(f"greenmeter: {note}", err=True)


@cli.command("doctor", short_help="Show what can be measured here, and how to fix each gap.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the findings as JSON on stdout (for scripts) instead of tables.")
def doctor_command(as_json: bool) -> int:
    """List every sensor candidate (RAPL zones, GPUs, the estimate's inputs), say what
    a run will measure and what it will estimate, and how to close each gap.

    Tables go to stderr, like all of greenmeter's own output; --json goes to stdout.
    Always exits 0: a gap is a finding, not a failure.
    """
    import json

    from greenmeter.doctor import gather, render
    from greenmeter.sensors import powercap_root

    findings = gather(powercap_root())
    if as_json:
        click.echo(json.dumps(findings, indent=2))
    else:
        render(findings, sys.stderr)
    return 0


cli.add_command(report_command)
cli.add_command(compare_command)
cli.add_command(export_command)


def _one_line(message: str) -> str:
    """An error is one line, whatever a file name or value it quotes holds."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: greenmeter's own errors exit 125, never with a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="greenmeter", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"greenmeter: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(exit_codes.GREENMETER_ERROR)
    except click.ClickException as exc:
        click.echo(f"greenmeter: {_one_line(exc.format_message())}", err=True)
        sys.exit(exit_codes.GREENMETER_ERROR)
    except click.Abort:
        sys.exit(exit_codes.GREENMETER_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)
