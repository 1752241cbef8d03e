"""``greenmeter mark``: phases and units from a shell script or CI step inside
``greenmeter run`` (the protocol it writes: docs/marks.md)."""

from __future__ import annotations

import os
import time

import click

MARK_EPILOG = """\b
Examples (inside 'greenmeter run -- bash ci.sh'):
  greenmeter mark begin build; make; greenmeter mark end build
  greenmeter mark units 120 tests
  printf 'begin test\\n' > "$GREENMETER_CONTROL"   # the same, without greenmeter

\b
Outside 'greenmeter run' (no $GREENMETER_CONTROL) a mark does nothing, and it never
fails the step: exit status 0 either way (125 for a malformed mark).
"""


@click.command(
    "mark", short_help="Mark a phase or units inside 'greenmeter run'.", epilog=MARK_EPILOG
)
@click.argument("what", type=click.Choice(["begin", "end", "units"]))
@click.argument("words", nargs=-1, required=True)
def mark_command(what: str, words: tuple[str, ...]) -> int:
    """Begin or end the phase NAME (begin NAME, end NAME), or count units of work
    (units COUNT [UNIT]) for the phases open and the run.

    Phases begun while another is open nest inside it (marks from shells share one stack,
    as printf's do); an end closes the phase of that name begun last.
    """
    from greenmeter.marks import CONTROL_VAR, clean_name, send

    if what == "units":
        if len(words) > 2:
            raise click.UsageError("give units COUNT [UNIT], e.g. units 120 tests")
        try:
            count = float(words[0])
        except ValueError:
            count = float("nan")
        if not 0 < count < float("inf"):
            raise click.BadParameter(f"{words[0]!r} is not a positive number", param_hint="COUNT")
        body = " ".join([repr(count), *(clean_name(w) for w in words[1:])])
    else:
        if len(words) != 1:
            raise click.UsageError(f"give {what} NAME (one word; spaces become _)")
        body = clean_name(words[0])
    if not os.environ.get(CONTROL_VAR):
        click.echo(
            f"greenmeter: not inside 'greenmeter run' (no ${CONTROL_VAR}): mark ignored", err=True
        )
        return 0
    # No stream (s=): shell marks, greenmeter mark's and printf's alike, share one stack.
    if not send(f"{what} {body} t={time.monotonic():.9f}\n"):
        click.echo("greenmeter: control channel not reachable: mark ignored", err=True)
    return 0
