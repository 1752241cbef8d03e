"""``greenmeter doctor``: what can be measured here, and how to fix each gap."""

from __future__ import annotations

import sys

import click


@click.command("doctor", short_help="Show what can be measured here, and how to fix each gap.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the findings as JSON on stdout (for scripts) instead of tables.",
)
def doctor_command(as_json: bool) -> int:
    """List every sensor candidate (RAPL zones, GPUs, the estimate's inputs), say what
    a run will measure and what it will estimate, and how to close each gap.

    Tables go to stderr, like all of greenmeter's own output; --json goes to stdout.
    Always exits 0: a gap is a finding, not a failure.
    """
    import json

    from greenmeter.reports.doctor import render
    from greenmeter.sensors.diagnose import gather
    from greenmeter.sensors.rapl import powercap_root

    findings = gather(powercap_root())
    if as_json:
        click.echo(json.dumps(findings, indent=2))
    else:
        render(findings, sys.stderr)
    return 0
