"""The ``greenmeter`` command line: the group, its commands, and the entry point that
turns greenmeter's own errors into one line and exit status 125."""

from __future__ import annotations

import importlib
import sys

import click

from greenmeter import __version__, exit_codes

COMMANDS = {
    "run": ("greenmeter.cli.run", "run_command"),
    "report": ("greenmeter.cli.history", "report_command"),
    "compare": ("greenmeter.cli.history", "compare_command"),
    "export": ("greenmeter.cli.history", "export_command"),
    "html": ("greenmeter.cli.history", "html_command"),
    "regions": ("greenmeter.cli.regions", "regions_command"),
    "doctor": ("greenmeter.cli.doctor", "doctor_command"),
    "mark": ("greenmeter.cli.mark", "mark_command"),
    "when": ("greenmeter.cli.when", "when_command"),
}
"""Command name -> (module, attribute): a command's module is imported only when that
command runs (or the group's help lists them), so ``greenmeter run`` loads no other."""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="greenmeter")
def cli() -> None:
    """How many joules and grams of CO2e a command cost.

    GPU energy from NVML, CPU and DRAM energy from RAPL, and a labelled estimate
    where no sensor is readable. See 'greenmeter run --help'.
    """


def _one_line(message: str) -> str:
    """An error is one line, whatever a file name or value it quotes holds."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: greenmeter's own errors exit 125, never with a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="greenmeter", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare ``greenmeter``: its help
        click.echo(exc.ctx.get_help())
        sys.exit(0)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"greenmeter: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(exit_codes.GREENMETER_ERROR)
    except click.ClickException as exc:
        click.echo(f"greenmeter: {_one_line(exc.format_message())}", err=True)
        sys.exit(exit_codes.GREENMETER_ERROR)
    except click.Abort:
        sys.exit(exit_codes.GREENMETER_ERROR)
    except OSError as exc:  # an output that failed while written (disk full, EIO)
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"greenmeter: cannot write{where}: {exc.strerror or exc}", err=True)
        sys.exit(exit_codes.GREENMETER_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)
