"""The ``greenmeter`` command line."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from greenmeter import __version__, exit_codes

DEFAULT_OUTPUT_DIR = Path("greenmeter-runs")

RUN_EPILOG = """\b
Examples:
  greenmeter run -- python train.py --epochs 3
  greenmeter run --region DE --json run.json --csv runs.csv -- pytest -q
  GREENMETER_REGION=FR greenmeter run --quiet -- make test

\b
Exit status: the command's own; 128+N if a signal N killed it; 127 if it was
not found, 126 if it could not be executed; 125 if greenmeter itself failed
(bad option, config, region or output path; or a report that could not be
written after the command succeeded).
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
@click.option("--html", "html_path", type=click.Path(path_type=Path), envvar="GREENMETER_HTML",
              help="Also write a self-contained HTML report of this run (charts, tables).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(region, pue: float, interval: float, json_path: Path | None,
                csv_path: Path | None, cpu_tdp: float | None, quiet: bool,
                html_path: Path | None, command: tuple[str, ...]) -> int:
    """Run COMMAND unchanged and measure the energy it used.

    Put greenmeter's options before COMMAND; '--' ends them. Everything after
    the command's name belongs to the command.
    """
    from greenmeter.measure import RunOptions, measure_command
    from greenmeter.results import new_run_id

    run_id = new_run_id(datetime.now(timezone.utc))
    if json_path is None or csv_path is None:
        DEFAULT_OUTPUT_DIR.mkdir(exist_ok=True)
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
        html_path=writable_file(html_path, "--html") if html_path else None,
    )
    return measure_command(options)


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
