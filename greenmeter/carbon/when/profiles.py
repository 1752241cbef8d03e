"""The shipped hourly profiles: what a zone's grid was like, on average, in this month at
this hour of the day (UTC), and how much that varied. History, not a forecast.

Read from ``grid_intensity_data/profiles_hourly_electricitymaps.csv`` (built by
``scripts/build_grid_data.py`` from Electricity Maps' hourly history; ODbL). A zone without
hourly history has no profile: ``NoHourlyHistory``, never a guess.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timezone

from greenmeter.carbon.data_files import read_table
from greenmeter.carbon.intensity_series import IntensitySeries

PROFILE_FILE = "profiles_hourly_electricitymaps.csv"
HOUR_S = 3600.0


class NoHourlyHistory(LookupError):
    """No profile ships for this zone; str() is one line naming the zones that have one."""


@dataclass(frozen=True)
class Profile:
    zone_id: str
    years: str
    """The years of history behind it, e.g. ``2021-2023``."""
    basis: str
    cells: dict[tuple[int, int], tuple[float, float, float]]
    """(month, UTC hour) -> (mean, 10th percentile, 90th percentile) gCO2e/kWh."""

    def series(self, start_s: float, end_s: float) -> tuple[IntensitySeries, ...]:
        """(mean, low, high) hourly series covering [start_s, end_s]: each hour takes the cell
        of its own month and hour, so a window across midnight or a month's end changes cell
        where the calendar does."""
        first = math.floor(start_s / HOUR_S) * HOUR_S
        hours = [first + i * HOUR_S for i in range(math.ceil((end_s - first) / HOUR_S) or 1)]
        cells = []
        for t in hours:
            moment = datetime.fromtimestamp(t, tz=timezone.utc)
            cells.append(self.cells[(moment.month, moment.hour)])
        source = f"profile:{self.zone_id}"
        return tuple(
            IntensitySeries(hours, [c[i] for c in cells], source=source, basis=self.basis)
            for i in range(3)
        )


@functools.lru_cache(maxsize=1)
def _profiles() -> dict[str, Profile]:
    c, rows = read_table(PROFILE_FILE)
    by_zone: dict[str, dict] = {}
    meta: dict[str, tuple[str, str]] = {}
    for r in rows:
        zone = r[c["zone_id"]]
        by_zone.setdefault(zone, {})[(int(r[c["month"]]), int(r[c["hour_utc"]]))] = (
            float(r[c["mean_g_per_kwh"]]),
            float(r[c["p10_g_per_kwh"]]),
            float(r[c["p90_g_per_kwh"]]),
        )
        meta[zone] = (r[c["years"]], r[c["basis"]])
    return {zone: Profile(zone, *meta[zone], cells) for zone, cells in by_zone.items()}


def profile_zones() -> list[str]:
    return sorted(_profiles())


def profile_for(zone_id: str) -> Profile:
    try:
        return _profiles()[zone_id]
    except KeyError:
        raise NoHourlyHistory(
            f"no hourly history ships for zone {zone_id} (profiles: {', '.join(profile_zones())}); "
            f"give a forecast file (--forecast), or a provider that covers it"
        ) from None
