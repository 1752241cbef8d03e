"""A run's energy where fleets already look, while it runs: a Prometheus scrape endpoint
(``--prometheus-port``), pushes to a Pushgateway (``--pushgateway``) and node_exporter's
textfile (``--prometheus-textfile``). The metrics are greenmeter/reports/prometheus.py's.

Values come from the sampler's own reads: the endpoint's are refreshed after the
sampler's timeline points (at most every :data:`REFRESH_S`), in the sampler's thread, so
a scrape never reads a sensor and 16 scrapers cost what one does. The textfile is
rewritten atomically and the Pushgateway pushed at each checkpoint and at the end; the
endpoint serves the final values from the moment the result is known until the server
is closed, after the report is written.

Nothing here may fail or slow the command: pushes run in their own thread with short
timeouts, a failure is said once on stderr and added to the run's warnings, and the
command's exit code never depends on any of it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app, push_to_gateway
from prometheus_client.exposition import ThreadingWSGIServer, basic_auth_handler, default_handler

from greenmeter.reports.atomic_write import write_text_atomic
from greenmeter.reports.prometheus import (
    PUSH_JOB,
    grouping_key,
    registry_of,
    run_metrics,
    text_exposition,
)
from greenmeter.results import RunResult
from greenmeter.run.messages import say

REFRESH_S = 0.5
"""Shortest time between two refreshes of the endpoint's values (``--interval`` may be
far shorter; a scrape interval is rarely under 1 s)."""
PUSH_TIMEOUT_S = 2.0
"""Per push (connect and answer): a gateway that is down or unreachable costs this much
of the pusher's thread, never of the command."""
FINAL_PUSH_WAIT_S = PUSH_TIMEOUT_S
"""Longest wait for the last push after the command ended: what one push may take (a
healthy gateway answers in milliseconds; one that is down is not waited for twice)."""
LISTEN_BACKLOG = 64
"""Connections the endpoint's socket queues: the standard library's 5 makes the 6th of
several simultaneous scrapers wait for a SYN retry (~1 s)."""


class LiveExportUnavailable(Exception):
    """An option that cannot work here (the port is taken, the address is not this
    host's): refused before launch."""


@dataclass(frozen=True)
class PrometheusOptions:
    """``--prometheus-port/-address``, ``--pushgateway`` and ``--prometheus-textfile``,
    checked before launch (greenmeter/cli/run.py)."""

    port: int | None = None
    address: str = "127.0.0.1"
    pushgateway: str | None = None
    textfile: Path | None = None


def shown_url(url: str) -> str:
    """``url`` without a password, for messages and reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def check_pushgateway_url(url: str) -> None:
    """ValueError naming the fix unless ``url`` is an http(s) URL with a host (nothing is
    contacted: a gateway that is down must not stop the command)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown_url(url)!r} is not an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{shown_url(url)!r} has a port that is not a number") from None


class _Latest:
    """What the endpoint serves: the newest result and the power of its latest interval,
    replaced whole (a scrape reads one reference, never a half-updated pair)."""

    def __init__(self) -> None:
        self.figures: tuple[RunResult, list[float | None]] | None = None

    def collect(self):
        figures = self.figures
        try:
            return run_metrics(*figures) if figures is not None else []
        except Exception:  # a scrape gets nothing rather than a traceback on the command's stderr
            return []


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # the command's stderr is not greenmeter's log
        pass


def _server_class(family: socket.AddressFamily) -> type[WSGIServer]:
    class Server(ThreadingWSGIServer):
        address_family = family
        request_queue_size = LISTEN_BACKLOG

        def handle_error(self, request, client_address):  # a scraper that hung up
            pass

    return Server


class _Pusher:
    """Pushes the newest metrics to a Pushgateway from its own thread; a push waiting when
    a newer one comes is dropped (only the latest values matter)."""

    def __init__(self, url: str, on_failure: Callable[[str], None]):
        parts = urlsplit(url)
        self.shown = shown_url(url)
        # Without the credentials (sent as basic auth) or a trailing '/' (the gateway
        # redirects '//metrics', which a PUT does not follow).
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self._url = url.rstrip("/")
        self._auth = (parts.username, parts.password) if parts.password is not None else None
        self._on_failure = on_failure
        self._cv = threading.Condition()
        self._pending: tuple[list, dict[str, str]] | None = None
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="greenmeter-push", daemon=True)
        self._thread.start()

    def push(self, result: RunResult, power_w: Sequence[float | None]) -> None:
        pending = (run_metrics(result, power_w), grouping_key(result))
        with self._cv:
            self._pending = pending
            self._cv.notify_all()

    def wait(self, timeout_s: float) -> bool:
        """Until nothing is waiting or in flight, at most ``timeout_s``; True if done."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self._pending is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def _handler(self, url, method, timeout, headers, data):
        if self._auth is None:
            return default_handler(url, method, timeout, headers, data)
        return basic_auth_handler(url, method, timeout, headers, data, *self._auth)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    self._cv.wait()
                if self._pending is None:
                    return
                (families, key), self._pending = self._pending, None
                self._busy = True
            try:
                push_to_gateway(
                    self._url,
                    job=PUSH_JOB,
                    registry=registry_of(families),
                    grouping_key=key,
                    timeout=PUSH_TIMEOUT_S,
                    handler=self._handler,
                )
            except HTTPError as exc:  # it answered, but not 2xx
                self._on_failure(f"HTTP {exc.code} {exc.reason}")
            except URLError as exc:  # down, refused, no such host
                self._on_failure(str(exc.reason))
            except Exception as exc:  # timed out, or anything else on the way
                self._on_failure(str(exc) or type(exc).__name__)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()


class LiveExport:
    """The scrape endpoint (bound before launch), the pusher and the textfile of one
    ``greenmeter run``; it outlives repetitions (one port for all of them)."""

    def __init__(
        self,
        options: PrometheusOptions,
        latest: _Latest,
        server: WSGIServer | None,
        announce: bool = False,
    ):
        self.options = options
        self._announce = announce
        self._latest = latest
        self._server = server
        self._pusher = (
            _Pusher(options.pushgateway, self._push_failed) if options.pushgateway else None
        )
        self._said: set[str] = set()
        """Problems said on stderr, once per greenmeter process."""
        self._noted: set[str] = set()
        """Problems in this run's warnings, once per run."""
        self._notes: list[str] = []
        self._previous: tuple[float, list[float | None]] | None = None
        self._power_w: list[float | None] = []
        self._refreshed_s = -float("inf")
        self._lock = threading.Lock()
        if server is not None:
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.5},
                name="greenmeter-metrics",
                daemon=True,
            ).start()

    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/metrics"

    def begin_run(self, notes: list[str]) -> None:
        """A run (repetition) starts: its problems are appended to ``notes``, which become
        the run's warnings (and are not repeated by the summary). The first one says where
        the endpoint is, after the sensors' notes and before the command's output."""
        if self._announce and self.url is not None:
            self._announce = False
            say(f"Prometheus metrics at {self.url}")
        with self._lock:
            self._notes = notes
            self._noted = set()
            self._previous = None
            self._power_w = []
            self._refreshed_s = -float("inf")

    def update(self, build: Callable[[], RunResult]) -> None:
        """From the sampler's thread after a timeline point: ``build()`` (a checkpoint
        result of the sampler's latest reads) is called at most every :data:`REFRESH_S`."""
        now = time.monotonic()
        if now - self._refreshed_s < REFRESH_S:
            return
        self._refreshed_s = now
        try:
            self._serve(build())
        except Exception as exc:  # the endpoint keeps its last values; the run goes on
            self._problem(
                "refresh", f"Prometheus metrics not refreshed: {type(exc).__name__}: {exc}"
            )

    def checkpoint(self, result: RunResult) -> None:
        """At each checkpoint: served, written to the textfile, pushed."""
        try:
            power_w = self._serve(result)
            self._write_textfile(result, power_w)
            if self._pusher is not None:
                self._pusher.push(result, power_w)
        except Exception as exc:  # a bug here must not cost the checkpoint or the run
            self._problem("export", f"Prometheus export failed: {type(exc).__name__}: {exc}")

    def finish(self, result: RunResult) -> list[str]:
        """The command has ended: its final figures everywhere (the last push waited for,
        at most :data:`FINAL_PUSH_WAIT_S`). Returns the problems met that ``result``'s
        warnings do not carry yet."""
        try:
            power_w = self._serve(result)
            self._write_textfile(result, power_w)
            if self._pusher is not None:
                self._pusher.push(result, power_w)
                if not self._pusher.wait(FINAL_PUSH_WAIT_S):
                    self._problem(
                        "push",
                        f"Pushgateway {self._pusher.shown}: the last push did not finish "
                        f"within {FINAL_PUSH_WAIT_S:g} s; it may hold older values",
                    )
        except Exception as exc:
            self._problem("export", f"Prometheus export failed: {type(exc).__name__}: {exc}")
        return [n for n in self._notes if n not in result.warnings]

    def close(self) -> None:
        """Stop serving (after the last report is written) and stop the pusher."""
        if self._server is not None:
            # shutdown() waits for the serving loop to wake from its poll: a connection
            # wakes it now rather than at the end of the poll interval.
            stopping = threading.Thread(target=self._server.shutdown)
            stopping.start()
            while stopping.is_alive():
                try:
                    socket.create_connection(self._server.server_address[:2], 0.5).close()
                except OSError:
                    pass
                stopping.join(0.01)
            self._server.server_close()
        if self._pusher is not None:
            self._pusher.close()

    def _serve(self, result: RunResult) -> list[float | None]:
        """Make ``result`` the endpoint's values; the power of each component over the
        interval since the previous refresh (kept from before if that is too short)."""
        with self._lock:
            if result.timeline:
                t_s, cumulative_j = result.timeline[-1]
                previous = self._previous
                if previous is None or t_s - previous[0] >= REFRESH_S / 2:
                    if previous is not None:
                        dt_s = t_s - previous[0]
                        self._power_w = [
                            (now_j - then_j) / dt_s
                            if now_j is not None and then_j is not None
                            else None
                            for now_j, then_j in zip(cumulative_j, previous[1])
                        ]
                    self._previous = (t_s, cumulative_j)
            power_w = self._power_w or [None] * len(result.components)
            self._latest.figures = (result, power_w)
            return power_w

    def _write_textfile(self, result: RunResult, power_w: list[float | None]) -> None:
        path = self.options.textfile
        if path is None:
            return
        try:
            write_text_atomic(path, text_exposition(run_metrics(result, power_w)))
        except OSError as exc:
            self._problem(
                "textfile",
                f"Prometheus textfile not written to {path} (will keep trying): "
                f"{exc.strerror or exc}",
            )

    def _push_failed(self, reason: str) -> None:
        assert self._pusher is not None
        self._problem(
            "push",
            f"Pushgateway {self._pusher.shown} unavailable ({reason}); "
            f"the metrics were not pushed (will keep trying)",
        )

    def _problem(self, kind: str, message: str) -> None:
        """Said on stderr once per kind of problem, and in each run's warnings once."""
        with self._lock:
            if kind not in self._noted:
                self._noted.add(kind)
                self._notes.append(message)
            if kind in self._said:
                return
            self._said.add(kind)
        say(message)


def open_live_export(options: PrometheusOptions, quiet: bool) -> LiveExport:
    """Bind the endpoint (before launch: a taken port is refused now, not after the
    command). Where it is will be said when the port is picked here or without -q."""
    latest = _Latest()
    server = None
    if options.port is not None:
        try:
            infos = socket.getaddrinfo(
                options.address, options.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            registry = CollectorRegistry(auto_describe=False)
            registry.register(latest)
            server = make_server(
                options.address,
                options.port,
                make_wsgi_app(registry),
                _server_class(infos[0][0]),
                handler_class=_QuietHandler,
            )
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise LiveExportUnavailable(
                f"cannot listen on {options.address} port {options.port}: {reason}"
            ) from None
    return LiveExport(options, latest, server, announce=options.port == 0 or not quiet)
