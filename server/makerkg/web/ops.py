"""Operations: ``/health`` (liveness and the build served), ``/metrics`` (Prometheus), and the middleware that counts
every request for both and writes the optional access log.

The middleware is hand-written rather than taken from prometheus-flask-exporter: that library times a request up
to Flask's ``after_request``, before a streamed body (a dump) is sent, and keeps its own registry per app; here one
measurement, to the last byte sent, feeds the metrics and the access log alike.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, jsonify, request

from makerkg import metrics
from makerkg.config import ip_address, networks
from makerkg.errors import cut
from makerkg.web.engine import get_engine
from makerkg.web.errors import problem

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

bp = Blueprint("ops", __name__)
ACCESS_LOGGER = "makerkg.access"
ROUTE_KEY = "makerkg.route"  # the WSGI environ key the app leaves the matched URL rule in
UNMATCHED = "unmatched"
MAX_TARGET = 2_000  # characters of the request target an access log line keeps
NO_STORE = "no-store"


def _age(created: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()


@bp.route("/health", methods=["GET", "HEAD"])
def health() -> Response:
    """Liveness: answers while the app runs, with the build it serves (the store itself is not queried: a busy
    pool is not a dead server)."""
    info = get_engine().snapshot().build.info
    response = jsonify({"status": "ok", "build": info.id, "created": info.created, "age_seconds": _age(info.created)})
    response.headers["Cache-Control"] = NO_STORE
    return response


@bp.get("/metrics")
def scrape() -> Response:
    """Every web worker's metrics in the Prometheus text format, with the served build's age; to clients of the
    ``metrics_from`` networks only (the machine itself, by default): the figures tell how the server is used and
    how it fares, which is the operator's to know."""
    client = request.remote_addr  # the connection's peer, or the client the trusted proxies named (ProxyFix)
    if not reads_metrics(client, networks(get_engine().settings.metrics_from)):
        who = cut(client) if client else "a client of unknown address"
        return problem(403, f"/metrics is read only from the networks metrics_from names, not from {who}",
                       parameter="metrics_from")  # fmt: skip
    info = get_engine().snapshot().build.info
    body = metrics.exposition(metrics.build_collector(info.id, _age(info.created)))
    return Response(body, content_type=metrics.CONTENT_TYPE, headers={"Cache-Control": NO_STORE})


def reads_metrics(client: str | None, allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """Whether ``client`` (an address) is in one of the ``allowed`` networks; an IPv4 client written as an
    IPv6-mapped address is read as IPv4.

    >>> loopback = networks("127.0.0.0/8, ::1/128")
    >>> [reads_metrics(a, loopback) for a in ("127.0.0.1", "::ffff:127.0.0.5", "::1")]
    [True, True, True]
    >>> reads_metrics("192.0.2.1", loopback), reads_metrics(None, loopback), reads_metrics("unknown", loopback)
    (False, False, False)
    """
    address = ip_address(client)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)


def note_route(response: Response) -> Response:
    """Leave the matched URL rule where the middleware finds it (an ``after_request`` hook)."""
    request.environ[ROUTE_KEY] = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    return response


class Observed:
    """WSGI middleware: times each request to its last byte, counts it by route and status, and writes an access
    log line when a log is configured (``access_log``; ``access_log_format`` text or json)."""

    def __init__(self, app: WSGIApplication, log_format: str | None) -> None:
        self.app = app
        self.log_format = log_format  # None: no access log
        self.log = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        status: list[int] = []

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            status[:] = [int(code.split(" ", 1)[0])]
            return start_response(code, headers, exc_info)

        body = self.app(environ, start)
        return _Counted(body, lambda sent: self._done(environ, status[0] if status else 500, sent, started))

    def _done(self, environ: WSGIEnvironment, status: int, sent: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = environ.get(ROUTE_KEY, UNMATCHED)
        metrics.request_answered(route, status, seconds)
        if self.log_format is not None:
            self.log.info(access_line(environ, status, sent, seconds, route, self.log_format))


class _Counted:
    """A response body passed on unchanged, counting its bytes; ``done`` is called once, when the body has been
    sent whole or is closed, whichever comes first (a client gone mid-way: only closed)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.body = body
        self.done: Callable[[int], None] | None = done
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk
        self._finish()

    def _finish(self) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(self.sent)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


def access_line(environ: WSGIEnvironment, status: int, sent: int, seconds: float, route: str, fmt: str) -> str:
    """One access log line: the Combined Log Format and the time taken, or a JSON object.

    >>> env = {"REMOTE_ADDR": "192.0.2.1", "REQUEST_METHOD": "GET", "PATH_INFO": "/sparql", "QUERY_STRING": "",
    ...        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": "curl/8"}
    >>> line = json.loads(access_line(env, 200, 512, 0.0042, "/sparql", "json"))
    >>> line["remote"], line["target"], line["status"], line["bytes"], line["ms"]
    ('192.0.2.1', '/sparql', 200, 512, 4.2)
    """
    target = environ.get("PATH_INFO", "") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
    target = target.encode("latin-1", "replace").decode("utf-8", "replace")[:MAX_TARGET]  # WSGI's str are latin-1
    now = datetime.now(UTC)
    fields = {
        "remote": environ.get("REMOTE_ADDR", "-"),
        "method": environ.get("REQUEST_METHOD", "-"),
        "target": target,
        "protocol": environ.get("SERVER_PROTOCOL", "-"),
        "status": status,
        "bytes": sent,
        "ms": round(seconds * 1000, 2),
        "route": route,
        "referer": environ.get("HTTP_REFERER", ""),
        "user_agent": environ.get("HTTP_USER_AGENT", ""),
    }
    if fmt == "json":
        return _printable(json.dumps({"time": now.isoformat(timespec="milliseconds"), **fields}, ensure_ascii=False))
    quoted = {k: json.dumps(str(fields[k]), ensure_ascii=False) for k in ("referer", "user_agent")}
    request_line = json.dumps(f"{fields['method']} {target} {fields['protocol']}", ensure_ascii=False)
    remote = str(fields["remote"]) or "-"
    if remote != "-" and ip_address(remote) is None:  # a trusted proxy's X-Forwarded-For entry: quoted, so that it
        # forges no field
        remote = json.dumps(remote, ensure_ascii=False)
    return _printable(
        f"{remote} - - [{now.strftime('%d/%b/%Y:%H:%M:%S %z')}] {request_line} {status} {sent} "
        f"{quoted['referer']} {quoted['user_agent']} {fields['ms']}ms"
    )


# what json.dumps leaves as it is and a terminal may act on: C1 controls (CSI, OSC…), and the line and paragraph
# separators some readers break lines at; only ever inside the JSON strings, where \u escapes read back the same
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029]")


def _printable(line: str) -> str:
    r"""The log line with C1 controls and line separators escaped.

    >>> _printable('"GET /x\x9b31m\u2028 HTTP/1.1"')
    '"GET /x\\u009b31m\\u2028 HTTP/1.1"'
    """
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def install(app: Flask, log_format: str | None) -> None:
    """Register the blueprint and hook on ``app`` and wrap its WSGI callable in the middleware."""
    metrics.prepare()
    app.register_blueprint(bp)
    app.after_request(note_route)
    app.wsgi_app = Observed(app.wsgi_app, log_format)  # type: ignore[method-assign]
