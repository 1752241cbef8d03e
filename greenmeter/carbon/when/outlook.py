"""What the hours ahead will look like, and what that rests on: a forecast, or history.

Sources, first that answers wins (``SOURCES``; ``source=`` picks one, still falling back):

1. ``file``: a forecast file the user gives: CSV ``timestamp,gCO2e/kWh`` (as ``--intensity-file``)
   or the Green Software Foundation Carbon Aware SDK's forecast JSON (``/emissions/forecasts/current``:
   a list of ``{"forecastData": [{"timestamp", "duration", "value"}, ...]}``).
2. ``ukgrid``: the UK Carbon Intensity API's 48 h forecast (Great Britain; no key).
3. ``electricitymaps``: Electricity Maps' forecast, with a token in ``GREENMETER_ELECTRICITYMAPS_TOKEN``.
4. ``profile``: the shipped hourly profile, "historic average for this month and hour, not a forecast".

A provider that fails (no answer, malformed answer, not covering the job) adds a warning and the
next source is asked. A zone with no profile and no forecast has no outlook (``NoHourlyHistory``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from greenmeter.carbon.intensity_series import (
    MAX_INTENSITY_G_PER_KWH,
    IntensityFileError,
    IntensitySeries,
    load_intensity_file,
    parse_timestamp,
)
from greenmeter.carbon.when.profiles import profile_for

SOURCES = ("auto", "file", "ukgrid", "electricitymaps", "profile")
PROVIDER_NAMES = {
    "ukgrid": "the UK Carbon Intensity API (NESO)",
    "electricitymaps": "Electricity Maps",
}


@dataclass(frozen=True)
class Outlook:
    series: IntensitySeries
    kind: str
    """``forecast`` or ``historic``."""
    source: str
    """``file:NAME``, ``ukgrid``, ``electricitymaps`` or ``profile``."""
    rests_on: str
    """In words, for every answer: ``forecast from ...`` or ``historic average ..., not a forecast``."""
    low: IntensitySeries | None = None
    high: IntensitySeries | None = None
    warnings: list[str] = field(default_factory=list)


def load_forecast_file(path: str | Path) -> IntensitySeries:
    """A forecast file: CSV (``timestamp,gCO2e/kWh``) or Carbon Aware SDK JSON, told apart by
    the first character. IntensityFileError (one line) on malformed input."""
    path = Path(path)
    try:
        head = path.read_text(encoding="utf-8-sig").lstrip()[:1]
    except (OSError, UnicodeDecodeError) as exc:
        raise IntensityFileError(f"{path}: cannot read forecast file: {exc}") from None
    if head not in ("[", "{"):
        return load_intensity_file(path)
    return _carbon_aware_sdk(path)


def _carbon_aware_sdk(path: Path) -> IntensitySeries:
    try:
        body = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise IntensityFileError(f"{path}: not JSON: {exc}") from None
    forecasts = body if isinstance(body, list) else [body]
    points: dict[float, float] = {}
    for forecast in forecasts:
        data = forecast.get("forecastData") if isinstance(forecast, dict) else None
        if not isinstance(data, list):
            raise IntensityFileError(
                f"{path}: expected the Carbon Aware SDK forecast shape "
                f'([{{"forecastData": [{{"timestamp", "value"}}, ...]}}])'
            )
        for item in data:
            try:
                t_s = parse_timestamp(item["timestamp"])
                value = float(item["value"])
            except (TypeError, KeyError, ValueError):
                raise IntensityFileError(
                    f"{path}: forecastData entry without a timestamp and a number value: {item!r}"
                ) from None
            if not 0 <= value <= MAX_INTENSITY_G_PER_KWH:  # also refuses nan
                raise IntensityFileError(
                    f"{path}: intensity must be between 0 and "
                    f"{MAX_INTENSITY_G_PER_KWH:g} gCO2e/kWh, got {value!r}"
                )
            points[t_s] = value
    if not points:
        raise IntensityFileError(f"{path}: no forecastData points")
    times = sorted(points)
    # The SDK's values are gCO2e/kWh of WattTime or Electricity Maps data: its basis is not stated.
    return IntensitySeries(times, [points[t] for t in times], source=f"file:{path.name}")


def covers(series: IntensitySeries, earliest_s: float, duration_s: float) -> bool:
    """The series holds at least one whole job starting at ``earliest_s`` (a forecast begins
    at the current half hour or hour, so it holds ``earliest_s`` itself)."""
    return series.start_s <= earliest_s and series.end_s >= earliest_s + duration_s


def outlook(
    zone_id: str,
    earliest_s: float,
    deadline_s: float,
    duration_s: float,
    *,
    forecast: IntensitySeries | None = None,
    source: str = "auto",
    offline: bool = False,
    env: Mapping[str, str] | None = None,
) -> Outlook:
    """The first source, in order, that covers a job starting at ``earliest_s``."""
    from greenmeter.carbon.providers import TOKEN_ENV, UK_ZONES, ProviderError, fetch_forecast

    env = os.environ if env is None else env
    warnings: list[str] = []
    wanted = SOURCES[1:] if source == "auto" else (source, "profile")
    for name in wanted:
        if name == "file" and forecast is not None:
            if covers(forecast, earliest_s, duration_s):
                return Outlook(
                    forecast,
                    "forecast",
                    forecast.source,
                    f"forecast from {forecast.source}",
                    warnings=warnings,
                )
            warnings.append(
                f"the forecast file ({forecast.source}) does not cover a job starting now; not used"
            )
        elif name in PROVIDER_NAMES and not offline:
            if source == "auto" and (
                (name == "ukgrid" and zone_id not in UK_ZONES)
                or (name == "electricitymaps" and not env.get(TOKEN_ENV))
            ):
                continue  # not a source for this zone, or not set up: nothing to say
            try:
                live = fetch_forecast(name, zone_id, earliest_s, env=env)
            except ProviderError as exc:
                warnings.append(f"forecast unavailable ({exc})")
                continue
            if not covers(live.series, earliest_s, duration_s):
                warnings.append(f"{name}: the forecast does not cover a job starting now")
                continue
            return Outlook(
                live.series,
                "forecast",
                name,
                f"forecast from {PROVIDER_NAMES[name]} ({name})",
                warnings=warnings,
            )
        elif name == "profile":
            profile = profile_for(zone_id)
            mean, low, high = profile.series(earliest_s, deadline_s)
            if warnings:
                warnings.append("using the historic profile instead")
            return Outlook(
                mean,
                "historic",
                "profile",
                f"historic average for this month and hour (Electricity Maps {profile.years}, "
                f"{profile.zone_id}), not a forecast",
                low,
                high,
                warnings,
            )
    raise AssertionError("the profile is always last")  # pragma: no cover
