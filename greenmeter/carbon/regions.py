"""Region -> grid carbon intensity, from the shipped ``grid_intensity_data/`` files.

A query is an ISO 3166 alpha-2 or alpha-3 code, a zone id (``US-CA``, ``CA-QC``, ``SE-SE3``, ``IN-SO``,
``US-CAL-CISO``), a name (``Germany``, ``Quebec``) or a cloud region (``aws:eu-central-1``,
``gcp:europe-west1``, ``azure:westeurope``); all case-insensitive.

Basis: life-cycle (``lifecycle``) by default, because it is what Ember, Electricity Maps and most
published figures give. A zone with no life-cycle figure (US states: eGRID counts combustion only)
resolves to its direct figure, and the result's ``basis`` says so; callers must print it.

This module is on the ``greenmeter run`` start-up path: csv module only, loaded once, on first use.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from dataclasses import dataclass

from greenmeter.carbon.data_files import read_table

BASES = ("lifecycle", "direct")
DEFAULT_BASIS = "lifecycle"
WORLD_ZONE = "WORLD"
INTENSITY_FILE_PREFIX = "intensity_"


@dataclass(frozen=True)
class GridIntensity:
    region: str | None  # what the user asked for, as given (None: nothing configured)
    zone_id: str  # canonical zone, e.g. "DEU", "US-CA"; a cloud region's grid zone
    name: str  # human name, e.g. "Germany"
    intensity_g_per_kwh: float
    source: str  # source_id from the manifest, e.g. "ember"
    year: int
    basis: str  # "lifecycle" | "direct"
    fallback: bool  # True when no region was configured and the world average is used
    pue: float | None  # the default PUE this region brings (cloud provider), else None
    pue_source: str | None


class UnknownRegion(ValueError):
    """A region no shipped table knows; the message carries "did you mean" suggestions."""


# namedtuples, not dataclasses: each frozen dataclass costs ~2 ms of start-up to generate.
_Row = namedtuple("_Row", "zone_id zone_type name year intensity_g_per_kwh basis source_id")
_Alias = namedtuple("_Alias", "zone_id kind note")
_Tables = namedtuple(
    "_Tables",
    [
        "rows_by_zone",  # zone_id -> [_Row], best first (source precedence, then newest year)
        "zone_by_key",  # casefolded zone_id -> zone_id
        "aliases",  # normalised alias -> _Alias
        "pue",  # provider -> (pue, source)
    ],
)


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    col, manifest = read_table("manifest.csv")
    precedence = {
        m[col["source_id"]]: int(m[col["precedence"]]) for m in manifest if m[col["precedence"]]
    }
    rows_by_zone: dict[str, list[_Row]] = {}
    for entry in manifest:
        if not entry[col["file"]].startswith(INTENSITY_FILE_PREFIX):
            continue
        c, rows = read_table(entry[col["file"]])
        zone, ztype, name, year, value, basis, source = (
            c[k]
            for k in (
                "zone_id",
                "zone_type",
                "name",
                "year",
                "intensity_g_per_kwh",
                "basis",
                "source_id",
            )
        )
        for r in rows:
            rows_by_zone.setdefault(r[zone], []).append(
                _Row(r[zone], r[ztype], r[name], int(r[year]), float(r[value]), r[basis], r[source])
            )
    for zone_rows in rows_by_zone.values():
        zone_rows.sort(key=lambda row: (precedence[row.source_id], -row.year))
    c, rows = read_table("aliases.csv")
    aliases = {r[c["alias"]]: _Alias(r[c["zone_id"]], r[c["kind"]], r[c["note"]]) for r in rows}
    c, rows = read_table("pue.csv")
    pue = {
        r[c["provider"]]: (float(r[c["pue"]]), f"{r[c['source']]} ({r[c['url']]})") for r in rows
    }
    return _Tables(rows_by_zone, {z.casefold(): z for z in rows_by_zone}, aliases, pue)


def _best_row(tables: _Tables, zone_ids: list[str], basis: str) -> _Row:
    """First zone (in order) with a row on ``basis``; else the first row on any basis."""
    for wanted in (basis, None):
        for zone_id in zone_ids:
            for row in tables.rows_by_zone.get(zone_id, ()):
                if wanted is None or row.basis == wanted:
                    return row
    raise LookupError(f"no intensity rows for {zone_ids}")  # the build script guarantees rows


def _check_basis(basis: str) -> None:
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, not {basis!r}")


def resolve_region(query: str | None, basis: str = DEFAULT_BASIS) -> GridIntensity:
    """The grid intensity for ``query``; None (or blank) gives the world average with fallback=True."""
    _check_basis(basis)
    tables = _tables()
    if query is None or not query.strip():
        row = _best_row(tables, [WORLD_ZONE], basis)
        return _result(None, row, fallback=True, pue=None)
    key = _normalise(query)
    alias = tables.aliases.get(key)
    if alias is not None and alias.kind == "cloud_region":
        provider = key.split(":", 1)[0]
        # A cloud region can carry its own figure (Google's, direct); its grid zone covers the rest.
        own_zone = tables.zone_by_key.get(key)
        row = _best_row(tables, [z for z in (own_zone, alias.zone_id) if z], basis)
        return _result(query, row, fallback=False, pue=tables.pue.get(provider))
    zone_id = tables.zone_by_key.get(key) or (alias.zone_id if alias else None)
    if zone_id is None:
        raise UnknownRegion(_unknown_message(query))
    return _result(query, _best_row(tables, [zone_id], basis), fallback=False, pue=None)


def _result(
    query: str | None, row: _Row, *, fallback: bool, pue: tuple[float, str] | None
) -> GridIntensity:
    return GridIntensity(
        region=query,
        zone_id=row.zone_id,
        name=row.name,
        intensity_g_per_kwh=row.intensity_g_per_kwh,
        source=row.source_id,
        year=row.year,
        basis=row.basis,
        fallback=fallback,
        pue=pue[0] if pue else None,
        pue_source=pue[1] if pue else None,
    )


def country_iso2(zone_id: str) -> str | None:
    """ISO 3166 alpha-2 code of a country zone ("DEU" -> "DE"); None for other zones."""
    for alias, entry in _tables().aliases.items():
        if entry.kind == "iso2" and entry.zone_id == zone_id:
            return alias.upper()
    return None


def country_of_zone(zone_id: str) -> tuple[str | None, str | None]:
    """(ISO 3166 alpha-3, name) of the country a grid zone lies in, or (None, None): the
    country zones are alpha-3 already (``DEU``); a sub-national zone starts with its
    country's alpha-2 (``US-CA``, ``US-MIDA-PJM``)."""
    for query in dict.fromkeys((zone_id, zone_id.split("-")[0])):
        try:
            grid = resolve_region(query)
        except UnknownRegion:
            continue
        if len(grid.zone_id) == 3 and grid.zone_id.isalpha():
            return grid.zone_id, grid.name
    return None, None


def suggestions(query: str, limit: int = 3) -> list[str]:
    """Closest known zone ids and aliases to ``query``, best first."""
    import difflib  # only on the error path

    tables = _tables()
    key = _normalise(query)
    candidates = list(tables.zone_by_key) + list(tables.aliases)
    out: list[str] = []
    for match in difflib.get_close_matches(key, candidates, n=limit * 3, cutoff=0.6):
        alias = tables.aliases.get(match)
        if alias is not None and alias.kind == "cloud_region":
            text = match
        else:
            zone_id = tables.zone_by_key.get(match) or alias.zone_id
            text = f"{zone_id} ({tables.rows_by_zone[zone_id][0].name})"
        if text not in out:
            out.append(text)
    return out[:limit]


def _unknown_message(query: str) -> str:
    found = suggestions(query)
    hint = f"; did you mean {', '.join(found)}?" if found else ""
    return (
        f"unknown region {query!r}{hint} (ISO country code, zone such as US-CA, or cloud region "
        f"such as aws:eu-central-1; `greenmeter regions` lists them)"
    )


def search_regions(query: str | None = None, basis: str = DEFAULT_BASIS) -> list[GridIntensity]:
    """Every zone and cloud region whose id, name or alias contains ``query`` (all when None), resolved.

    With no substring match, falls back to the fuzzy suggestions, so a typo still lists something.
    """
    _check_basis(basis)
    tables = _tables()
    zone_ids = sorted(
        z for z in tables.rows_by_zone if tables.rows_by_zone[z][0].zone_type != "cloud_region"
    )
    clouds = sorted(a for a, alias in tables.aliases.items() if alias.kind == "cloud_region")
    if query:
        key = _normalise(query)
        names = {z: _normalise(tables.rows_by_zone[z][0].name) for z in zone_ids}
        via_alias = {
            a.zone_id for k, a in tables.aliases.items() if key in k and a.kind != "cloud_region"
        }
        hits = [z for z in zone_ids if key in z.casefold() or key in names[z] or z in via_alias]
        cloud_hits = [c for c in clouds if key in c or key in _normalise(tables.aliases[c].note)]
        if not hits and not cloud_hits:
            import difflib

            fuzzy = difflib.get_close_matches(
                key, list(tables.zone_by_key) + list(tables.aliases), n=5, cutoff=0.6
            )
            hits = list(
                dict.fromkeys(
                    tables.zone_by_key.get(m) or tables.aliases[m].zone_id
                    for m in fuzzy
                    if m not in clouds
                )
            )  # best match first
            cloud_hits = [m for m in fuzzy if m in clouds]
        zone_ids, clouds = hits, cloud_hits
    results = [resolve_region(z, basis) for z in zone_ids]
    results += [resolve_region(c, basis) for c in clouds]
    return results
