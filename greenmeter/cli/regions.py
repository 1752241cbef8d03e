"""``greenmeter regions``: the zones and cloud regions ``--region`` accepts."""

from __future__ import annotations

import click


@click.command("regions", short_help="List the zones and cloud regions --region accepts.")
@click.argument("query", required=False)
@click.option(
    "--basis",
    type=click.Choice(["lifecycle", "direct"]),
    default="lifecycle",
    show_default=True,
    help="Preferred basis (a zone without it shows the other, labelled).",
)
def regions_command(query: str | None, basis: str) -> int:
    """List grid zones and cloud regions matching QUERY (id, name or location; all when omitted)
    with the intensity --region would use, its year, basis and source."""
    from greenmeter.carbon.regions import search_regions
    from greenmeter.reports.regions_table import print_regions

    results = search_regions(query, basis)
    if not results:
        click.echo(f"greenmeter: no region matches {query!r}", err=True)
        return 1
    print_regions(results)
    return 0
