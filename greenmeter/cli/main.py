"""The ``greenmeter`` command line: the group, its commands, and the entry point that
turns greenmeter's own errors into one line and exit status 125."""

from __future__ import annotations

import sys

import click

from greenmeter import __version__, exit_codes
from greenmeter.cli.doctor import doctor_command
from greenmeter.cli.history import compare_command, export_command, html_command, report_command
from greenmeter.cli.regions import regions_command
from greenmeter.cli.run import run_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="greenmeter")
def cli() -> None:
    """How many joules and grams of CO2e a command cost.

    GPU energy from NVML, CPU and DRAM energy from RAPL, and a labelled estimate
    where no sensor is readable. See 'greenmeter run --help'.
    """


for command in (
    run_command,
    report_command,
    compare_command,
    export_command,
    html_command,
    regions_command,
    doctor_command,
):
    cli.add_command(command)


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
