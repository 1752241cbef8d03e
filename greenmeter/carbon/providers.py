"""Live grid intensity for the run's own hours, from a provider the user opts into.

- ``electricitymaps``: Electricity Maps API v3 (``auth-token`` header; ``/carbon-intensity/past-range``,
  then ``/carbon-intensity/latest`` for the hour not yet published). Token from
  ``GREENMETER_ELECTRICITYMAPS_TOKEN`` (or the config file), never printed, logged, cached or reported.
- ``ukgrid``: the UK Carbon Intensity API (National Energy System Operator; no auth;
  ``/intensity/{from}/{to}``, half-hourly, Great Britain only).

``fetch_forecast`` asks the same providers for the hours ahead (``greenmeter when``):
``ukgrid`` ``/intensity/{from}/fw48h`` (48 h, half-hourly), ``electricitymaps``
``/carbon-intensity/forecast`` (needs a token whose plan includes forecasts).

Base URLs are overridable (``GREENMETER_ELECTRICITYMAPS_URL``, ``GREENMETER_UKGRID_URL``), which is how
the tests point the clients at a local server. Requests use urllib (no extra dependency) with short
timeouts; responses are cached under ``GREENMETER_CACHE_DIR`` (default ``$XDG_CACHE_HOME/greenmeter`` or
``~/.cache/greenmeter``). Every failure raises ``ProviderError``, a one-line reason; the caller falls back
to the shipped data and says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from greenmeter.carbon.intensity_series import IntensitySeries, parse_timestamp

PROVIDERS = ("electricitymaps", "ukgrid")
TOKEN_ENV = "GREENMETER_ELECTRICITYMAPS_TOKEN"
DEFAULT_URLS = {
    "electricitymaps": "https://api.electricitymaps.com/v3",
    "ukgrid": "https://api.carbonintensity.org.uk",
}
URL_ENVS = {"electricitymaps": "GREENMETER_ELECTRICITYMAPS_URL", "ukgrid": "GREENMETER_UKGRID_URL"}
BASES = {"electricitymaps": "lifecycle", "ukgrid": "direct"}  # NESO counts operational emissions
TIMEOUT_S = 3.0
MAX_RESPONSE_BYTES = 4 << 20
FRESH_TTL_S = 300.0  # a range that includes the last two hours may still be revised
SETTLED_TTL_S = 7 * 24 * 3600.0  # older hours are final
SETTLED_AFTER_S = 2 * 3600.0
UK_ZONES = ("GBR",)


class ProviderError(Exception):
    """A live provider could not give an intensity; str() is one line and never holds a token."""


@dataclass(frozen=True)
class LiveIntensity:
    series: IntensitySeries
    provider: str
    zone: str  # the provider's zone id, e.g. "DE", "US-CAL-CISO", "GB"
    from_cache: bool


def check_provider(provider: str, zone_id: str, env: Mapping[str, str] | None = None) -> None:
    """Before launch: ValueError (one line) when ``provider`` cannot serve ``zone_id`` at all."""
    env = os.environ if env is None else env
    if provider not in PROVIDERS:
        raise ValueError(
            f"unknown carbon provider {provider!r}; choose one of {', '.join(PROVIDERS)}"
        )
    if provider == "electricitymaps" and not env.get(TOKEN_ENV):
        raise ValueError(f"the electricitymaps provider needs an API token in {TOKEN_ENV}")
    if provider == "ukgrid" and zone_id not in UK_ZONES:
        raise ValueError(
            f"the ukgrid provider covers Great Britain only (region GB), not {zone_id}"
        )


def _checked_client(
    provider: str, zone_id: str, env: Mapping[str, str] | None, timeout_s: float
) -> _Client:
    """A client for ``provider``, once it is known to serve ``zone_id`` with what ``env``
    holds (a token), else :class:`ProviderError`."""
    env = os.environ if env is None else env
    try:
        check_provider(provider, zone_id, env)
    except ValueError as exc:
        raise ProviderError(str(exc)) from None
    return _Client(provider, env, timeout_s)


def fetch_intensity(
    provider: str,
    zone_id: str,
    start_s: float,
    end_s: float,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
) -> LiveIntensity:
    """The provider's intensity series covering [start_s, end_s] (epoch seconds) for a greenmeter zone."""
    client = _checked_client(provider, zone_id, env, timeout_s)
    if provider == "electricitymaps":
        return _electricitymaps(client, _electricitymaps_zone(zone_id), start_s, end_s)
    return _ukgrid(client, start_s, end_s)


def fetch_forecast(
    provider: str,
    zone_id: str,
    from_s: float,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
) -> LiveIntensity:
    """The provider's forecast from ``from_s`` (epoch seconds) on, for a greenmeter zone."""
    client = _checked_client(provider, zone_id, env, timeout_s)
    if provider == "ukgrid":
        half_hour = math.floor(from_s / 1800) * 1800
        body, cached = client.get_json(
            f"/intensity/{_iso(half_hour, '%Y-%m-%dT%H:%MZ')}/fw48h", settled=None
        )
        points = {}
        for item in _items(body, "data", client.provider):
            intensity = item.get("intensity")
            if not isinstance(intensity, dict):
                raise ProviderError(f"{client.provider}: unexpected response shape")
            points[_time(item.get("from"), client.provider)] = _number(
                intensity.get("forecast"), client.provider
            )
        return _live(points, client.provider, "GB", cached)
    zone = _electricitymaps_zone(zone_id)
    query = urllib.parse.urlencode({"zone": zone})
    body, cached = client.get_json(f"/carbon-intensity/forecast?{query}", settled=None)
    points = {}
    for item in _items(body, "forecast", client.provider):
        points[_time(item.get("datetime"), client.provider)] = _number(
            item.get("carbonIntensity"), client.provider
        )
    return _live(points, client.provider, zone, cached)


def _electricitymaps_zone(zone_id: str) -> str:
    """greenmeter zone -> Electricity Maps zone: countries by ISO alpha-2, sub-national ids unchanged."""
    from greenmeter.carbon.regions import country_iso2

    return country_iso2(zone_id) or zone_id


def _iso(t_s: float, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    return datetime.fromtimestamp(t_s, tz=timezone.utc).strftime(fmt)


def _electricitymaps(client: _Client, zone: str, start_s: float, end_s: float) -> LiveIntensity:
    hour_start = math.floor(start_s / 3600) * 3600
    hour_end = math.ceil(end_s / 3600) * 3600
    query = urllib.parse.urlencode({"zone": zone, "start": _iso(hour_start), "end": _iso(hour_end)})
    body, cached = client.get_json(f"/carbon-intensity/past-range?{query}", settled=end_s)
    points = {}
    for item in _items(body, "data", client.provider):
        points[_time(item.get("datetime"), client.provider)] = _number(
            item.get("carbonIntensity"), client.provider
        )
    if not points or max(points) < math.floor(end_s / 3600) * 3600:
        # The run's last hour is not in the history yet: /latest gives the hour now being published.
        latest, latest_cached = client.get_json(
            f"/carbon-intensity/latest?{urllib.parse.urlencode({'zone': zone})}", settled=None
        )
        if not isinstance(latest, dict):
            raise ProviderError(f"{client.provider}: unexpected response shape")
        points[_time(latest.get("datetime"), client.provider)] = _number(
            latest.get("carbonIntensity"), client.provider
        )
        cached = cached and latest_cached
    return _live(points, client.provider, zone, cached)


def _ukgrid(client: _Client, start_s: float, end_s: float) -> LiveIntensity:
    half_hour_start = math.floor(start_s / 1800) * 1800
    half_hour_end = math.ceil(end_s / 1800) * 1800
    path = f"/intensity/{_iso(half_hour_start, '%Y-%m-%dT%H:%MZ')}/{_iso(half_hour_end, '%Y-%m-%dT%H:%MZ')}"
    body, cached = client.get_json(path, settled=end_s)
    points = {}
    for item in _items(body, "data", client.provider):
        intensity = item.get("intensity")
        if not isinstance(intensity, dict):
            raise ProviderError(f"{client.provider}: unexpected response shape")
        # "actual" is filled in after the half hour; until then the forecast is the best figure.
        value = (
            intensity.get("actual")
            if intensity.get("actual") is not None
            else intensity.get("forecast")
        )
        if value is not None:
            points[_time(item.get("from"), client.provider)] = _number(value, client.provider)
    return _live(points, client.provider, "GB", cached)


def _live(points: dict[float, float], provider: str, zone: str, cached: bool) -> LiveIntensity:
    if not points:
        raise ProviderError(f"{provider}: no intensity data for zone {zone} over the hours asked")
    times = sorted(points)
    series = IntensitySeries(
        times, [points[t] for t in times], source=provider, basis=BASES[provider]
    )
    return LiveIntensity(series, provider, zone, cached)


def _items(body: object, key: str, provider: str) -> list[dict]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProviderError(f"{provider}: unexpected response shape (no {key!r} list)")
    return items


def _time(value: object, provider: str) -> float:
    try:
        if isinstance(value, str):
            return parse_timestamp(value)
    except ValueError:
        pass
    raise ProviderError(f"{provider}: bad timestamp {value!r} in response")


def _number(value: object, provider: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ProviderError(f"{provider}: bad intensity {value!r} in response")
    return float(value)


def cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("GREENMETER_CACHE_DIR"):
        return Path(env["GREENMETER_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no HOME and no passwd entry (many containers)
            base = str(Path(tempfile.gettempdir()) / f"greenmeter-cache-{os.getuid()}")
    return Path(base) / "greenmeter"


class _Client:
    """GET + JSON with a short timeout and a small file cache keyed by URL (the token is a header,
    so it is neither in the key nor in the cached file)."""

    def __init__(self, provider: str, env: Mapping[str, str], timeout_s: float):
        self.provider = provider
        self.base_url = (env.get(URL_ENVS[provider]) or DEFAULT_URLS[provider]).rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "greenmeter"}
        if provider == "electricitymaps":
            self.headers["auth-token"] = env[TOKEN_ENV]
        self.timeout_s = timeout_s
        self.cache = cache_dir(env) / "intensity"

    def get_json(self, path: str, *, settled: float | None) -> tuple[object, bool]:
        """(parsed body, came from cache). ``settled``: the data's end time, for the cache lifetime."""
        url = self.base_url + path
        cache_file = self.cache / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".json")
        now = time.time()
        ttl = (
            SETTLED_TTL_S
            if settled is not None and now - settled > SETTLED_AFTER_S
            else FRESH_TTL_S
        )
        cached = self._read_cache(cache_file, now, ttl)
        if cached is not None:
            return cached, True
        body = self._fetch(url)
        self._write_cache(cache_file, url, now, body)
        return body, False

    def _fetch(self, url: str) -> object:
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ProviderError(f"{self.provider}: HTTP {exc.code} {exc.reason}") from None
        except TimeoutError:
            raise ProviderError(f"{self.provider}: no answer within {self.timeout_s:g} s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise ProviderError(
                    f"{self.provider}: no answer within {self.timeout_s:g} s"
                ) from None
            raise ProviderError(f"{self.provider}: cannot connect ({reason})") from None
        except (OSError, ValueError) as exc:  # connection reset, bad URL in the override, ...
            raise ProviderError(
                f"{self.provider}: request failed ({exc.__class__.__name__})"
            ) from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ProviderError(f"{self.provider}: response larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ProviderError(f"{self.provider}: malformed JSON in response") from None

    @staticmethod
    def _read_cache(path: Path, now: float, ttl: float) -> object | None:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if now - float(entry["fetched_at"]) <= ttl:
                return entry["body"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing, stale or damaged: fetch again
        return None

    @staticmethod
    def _write_cache(path: Path, url: str, now: float, body: object) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"url": url, "fetched_at": now, "body": body}, f)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache we cannot write only costs a request next time
