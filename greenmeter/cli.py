"""The ``greenmeter`` command line."""

from __future__ import annotations

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
              help="Where the energy was used: ISO 3166 country code (DE, DEU). "
                   "Default: the world average, stated in the report.")
@click.option("--pue", type=click.FloatRange(min=1.0, max=5.0), default=1.0, show_default=True,
              envvar="GREENMETER_PUE",
              help="Data-centre power usage effectiveness applied to the measured IT energy.")
@click.option("--interval", type=click.FloatRange(min=0.01, max=60.0), default=0.5,
              show_default=True, envvar="GREENMETER_INTERVAL",
              help="Seconds between samples (timeline; sensors may ask for shorter).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), envvar="GREENMETER_JSON",
              help="JSON report path. Default: ./greenmeter-runs/<run_id>.json.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), envvar="GREENMETER_CSV",
              help="CSV history to append a row to. Default: ./greenmeter-runs/runs.csv.")
@click.option("--cpu-tdp", "cpu_tdp", type=click.FloatRange(min=1.0, max=2000.0),
              envvar="GREENMETER_CPU_TDP",
              help="CPU package TDP in watts, for the estimate when the model is not in the table.")
@click.option("-q", "--quiet", is_flag=True, envvar="GREENMETER_QUIET",
              help="No summary on stderr (warnings about sensors are still said).")
@click.option("--tag", "tags", type=TAG, multiple=True, envvar="GREENMETER_TAG",
              help="Label the run, e.g. --tag model=resnet50 (repeatable). CI commit, "
                   "branch, job and runner are recorded without asking.")
@click.option("--units", type=click.FloatRange(min=0, min_open=True), envvar="GREENMETER_UNITS",
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
def run_command(region, pue: float, interval: float, json_path: Path | None,
                csv_path: Path | None, cpu_tdp: float | None, quiet: bool,
                tags: tuple[tuple[str, str], ...], units: float | None, unit_name: str | None,
                repeat: int, warmup: int, max_energy: float | None, max_co2: float | None,
                summary_md: Path | None, command: tuple[str, ...]) -> int:
    """Run COMMAND unchanged and measure the energy it used.

    Put greenmeter's options before COMMAND; '--' ends them. Everything after
    the command's name belongs to the command.
    """
    from greenmeter.budget import Budget
    from greenmeter.labels import ci_context, tags_dict
    from greenmeter.measure import RunOptions
    from greenmeter.repeat import repetition_json_path, run_repeated
    from greenmeter.results import new_run_id
    from greenmeter.step_summary import summary_targets

    run_id = new_run_id(datetime.now(timezone.utc))
    if json_path is None or csv_path is None:
        DEFAULT_OUTPUT_DIR.mkdir(exist_ok=True)
    if json_path is not None and repeat > 1:
        for i in range(1, repeat + 1):
            writable_file(repetition_json_path(json_path, i), "--json")
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
        tags=tags_dict(tags),
        ci=ci_context(os.environ),
        units=units,
        unit_name=unit_name,
        budget=Budget(max_energy, max_co2) if max_energy or max_co2 else None,
    )
    if summary_md is not None:
        writable_file(summary_md, "--summary-md")
    return run_repeated(options, repeat, warmup, json_path, DEFAULT_OUTPUT_DIR,
                        summary_targets(summary_md))


cli.add_command(report_command)
cli.add_command(compare_command)
cli.add_command(export_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: greenmeter's own errors exit 125, never with a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="greenmeter", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"greenmeter: {exc.format_message()}{hint}", err=True)
        sys.exit(exit_codes.GREENMETER_ERROR)
    except click.ClickException as exc:
        click.echo(f"greenmeter: {exc.format_message()}", err=True)
        sys.exit(exit_codes.GREENMETER_ERROR)
    except click.Abort:
        sys.exit(exit_codes.GREENMETER_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)
