"""Operating `makerkg serve` (issue 11, points 6 and 7): a quick, graceful and quiet stop under load, metrics summed
across the web workers, /health, the JSON access log with the client a proxy names, the Host header, two servers
side by side, and Range headers as sent on the wire. Every server here is started by its test and stopped."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from makerkg.launch import Server, start, stop
from makerkg.pipeline import BuildResult
from tests.e2e.test_faults import Load, children, cmdline

pytestmark = pytest.mark.e2e

EXPLOSIVE = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
NAMED = "/api/queries/provinces-without-regional?edition=8"
STOPPED_WITHIN = 60  # seconds: "stopped at all", far above the 3 s query timeout and its 5 s of grace


@pytest.fixture
def serve(built: BuildResult, tmp_path: Path) -> Iterator[Callable[..., tuple[Server, Path]]]:
    """Start servers over the real build for one test (with their logs); each is stopped at the end."""
    running: list[Server] = []

    def make(**env: str) -> tuple[Server, Path]:
        log = tmp_path / f"serve-{len(running)}.log"
        server = start(built.build.path.parent.parent, log, env)
        running.append(server)
        return server, log

    yield make
    for server in running:
        stop(server)


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def get(server: Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=60)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.headers, body


def metric_samples(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, body = get(server, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def runtime_dir(server: Server) -> Path:
    """The private directory of a running server, from its nginx's command line ("nginx: master process … -p DIR")."""
    for pid in children(server.process.pid):
        words = cmdline(pid).split()
        if "nginx:" in words and "-p" in words:
            return Path(words[words.index("-p") + 1]).parent
    raise AssertionError("no nginx under the server")


# --- stopping -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["process", "process group"])
def test_sigterm_under_load_stops_quickly_gracefully_and_quietly(
    serve: Callable[..., tuple[Server, Path]], target: str
) -> None:
    """Regression (issue 11): after SIGTERM, new requests hung 14 s and were then reset, and the shutdown printed
    tracebacks. Now new connections are refused at once, the requests under way get their answers, and the server
    exits 0 with nothing alarming in its log. The process group is what the tests' stop() and a terminal's ^C
    signal; the process alone is what a service manager signals (docs/deployment.md)."""
    server, log = serve(query_timeout="3")
    slow: list[tuple[int, bytes]] = []

    def long_query() -> None:
        status, _, body = get(server, "/sparql?" + urllib.parse.urlencode({"query": EXPLOSIVE}))
        slow.append((status, body))

    with Load(server, threads=4, seconds=120) as load:
        load.wait_for(100)
        under_way = threading.Thread(target=long_query)
        under_way.start()
        time.sleep(1.0)  # the long query is running in a query worker
        signalled = time.monotonic()
        if target == "process":
            os.kill(server.process.pid, signal.SIGTERM)
        else:
            os.killpg(server.process.pid, signal.SIGTERM)
        time.sleep(0.5)
        refused = 0
        for _ in range(5):  # new connections: refused, never left waiting
            try:
                with socket.create_connection(("127.0.0.1", port_of(server)), timeout=STOPPED_WITHIN) as sock:
                    sock.sendall(f"GET {NAMED} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    sock.settimeout(STOPPED_WITHIN)
                    assert sock.recv(12).startswith(b"HTTP/1.1 200")  # accepted before the socket closed
            except ConnectionRefusedError:
                refused += 1
        under_way.join(timeout=STOPPED_WITHIN)
        assert server.process.wait(timeout=STOPPED_WITHIN) == 0
    assert refused == 5
    assert time.monotonic() - signalled < STOPPED_WITHIN
    # the query under way got its answer: the 503 of its deadline, not a reset
    assert [(status, b"(query_timeout)" in body) for status, body in slow] == [(503, True)], slow
    statuses = Counter(o.status for o in load.outcomes)
    assert set(statuses) <= {200, 0}, statuses  # answered, or a connection closed or refused once stopping
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in logged and "Error" not in logged and "[error]" not in logged, logged[-3000:]
    assert not any(alive_child for alive_child in children(server.process.pid))


def test_a_second_server_takes_nothing_from_the_first(serve: Callable[..., tuple[Server, Path]]) -> None:
    """Regression (issue 11): gunicorn's control socket sat at one fixed path, which a second server took over.
    Each server keeps its sockets and files in a private directory of its own, removed when it stops."""
    first, _ = serve()
    second, _ = serve()
    first_dir, second_dir = runtime_dir(first), runtime_dir(second)
    assert first_dir != second_dir
    assert oct(first_dir.stat().st_mode & 0o777) == "0o700"
    stop(second)
    assert not second_dir.exists()
    assert get(first, NAMED)[0] == 200
    assert first_dir.exists()


# --- metrics, health, access log ----------------------------------------------------------------------------------


def test_metrics_are_summed_across_web_workers(serve: Callable[..., tuple[Server, Path]], built: BuildResult) -> None:
    """One registry across the processes: requests spread over both web workers all count, whichever worker
    answers the scrape."""
    server, _ = serve(query_timeout="3")
    route = ("makerkg_http_requests_total", (("route", "/api/queries/<name>"), ("status", "200")))
    timeouts = ("makerkg_query_timeouts_total", ())
    before = metric_samples(server)
    with Load(server, threads=4, limit=25, paths=[NAMED]) as load:
        load.wait_for(100)
    assert Counter(o.status for o in load.outcomes) == Counter({200: 100})
    assert get(server, "/sparql?" + urllib.parse.urlencode({"query": EXPLOSIVE}))[0] == 503
    scrapes = [metric_samples(server) for _ in range(6)]  # answered by either worker
    assert {s[route] - before.get(route, 0) for s in scrapes} == {100}
    assert {s[timeouts] - before.get(timeouts, 0) for s in scrapes} == {1}
    assert all(s[("makerkg_build_info", (("id", built.build.info.id),))] == 1 for s in scrapes)
    # the same named query 100 times: run once per web worker at least, the rest answered from its cache
    queries, hits = ("makerkg_query_duration_seconds_count", ()), ("makerkg_cache_lookups_total", (("result", "hit"),))
    assert all(s[queries] >= 1 and s[queries] + s.get(hits, 0) >= 100 for s in scrapes)
    assert all(s[("makerkg_query_worker_restarts_total", ())] >= 1 for s in scrapes)


def test_health_answers_with_the_build(serve: Callable[..., tuple[Server, Path]], built: BuildResult) -> None:
    server, _ = serve()
    status, headers, body = get(server, "/health")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    document = json.loads(body)
    assert (document["status"], document["build"]) == ("ok", built.build.info.id)


def test_metrics_are_refused_to_a_client_a_trusted_proxy_names_from_elsewhere(
    serve: Callable[..., tuple[Server, Path]],
) -> None:
    """Behind a proxy of the operator's (trusted_proxies = 1) and makerkg's own nginx: /metrics to the machine
    itself, a 403 naming the setting to a client the proxy names from elsewhere, whatever it wrote itself before."""
    server, _ = serve(trusted_proxies="1")
    assert get(server, "/metrics")[0] == 200
    assert get(server, "/metrics", {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})[0] == 200
    status, headers, body = get(server, "/metrics", {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
    assert (status, headers["Content-Type"]) == (403, "text/plain; charset=utf-8")
    assert body == b"403 Forbidden: /metrics is read only from the networks metrics_from names, not from 203.0.113.9\n"
    assert get(server, "/health", {"X-Forwarded-For": "203.0.113.9"})[0] == 200


def test_the_start_is_told_without_granians_note_on_threads(serve: Callable[..., tuple[Server, Path]]) -> None:
    """granian warns at every start when its threads are more than twice the cores and one; makerkg's are meant to
    be (docs/deployment.md), and its log says how it serves without that note."""
    threads = 2 * (os.cpu_count() or 1) + 2
    server, log = serve(threads=str(threads))
    assert get(server, NAMED)[0] == 200
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert f"2 workers of {threads} threads" in logged
    assert "Configuration allows spawning" not in logged and "Python threads" not in logged, logged[-3000:]


def test_json_access_log_names_the_client_nginx_saw(serve: Callable[..., tuple[Server, Path]], tmp_path: Path) -> None:
    """A client's own X-Forwarded-For is not believed (trusted_proxies = 0): the log names the peer nginx saw."""
    access = tmp_path / "access.log"
    server, _ = serve(access_log=str(access), access_log_format="json")
    assert get(server, NAMED, {"X-Forwarded-For": "198.51.100.1", "User-Agent": "probe/1"})[0] == 200
    assert get(server, "/no/such/thing")[0] == 404
    deadline = time.monotonic() + STOPPED_WITHIN
    wanted = {NAMED, "/no/such/thing"}  # each worker writes its own lines, whenever it has answered
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in access.read_text(encoding="utf-8").splitlines()]
        if wanted <= {line["target"] for line in lines}:
            break
        time.sleep(0.1)
    first = next(line for line in lines if line["target"] == NAMED)
    assert (first["remote"], first["method"], first["status"], first["route"]) == (
        "127.0.0.1",
        "GET",
        200,
        "/api/queries/<name>",
    )
    assert first["user_agent"] == "probe/1" and first["bytes"] > 0 and first["ms"] > 0
    missing = next(line for line in lines if line["target"] == "/no/such/thing")
    assert missing["status"] == 404


def test_the_host_header_is_reflected_only_with_vary(serve: Callable[..., tuple[Server, Path]]) -> None:
    server, _ = serve()
    status, headers, body = get(server, "/api/openapi.json", {"Host": "elsewhere.example"})
    assert status == 200 and json.loads(body)["servers"] == [{"url": "http://elsewhere.example"}]
    assert "Host" in headers["Vary"]
    public, _ = serve(public_url="https://kg.example.org/")
    status, headers, body = get(public, "/api/openapi.json", {"Host": "elsewhere.example"})
    assert json.loads(body)["servers"] == [{"url": "https://kg.example.org"}]
    assert "Host" not in (headers["Vary"] or "")


# --- Range on the wire --------------------------------------------------------------------------------------------


def test_two_range_headers_get_the_whole_dump(serve: Callable[..., tuple[Server, Path]], built: BuildResult) -> None:
    """Regression (issue 11): multiple Range headers got 416; RFC 9110 lets the server ignore them (200)."""
    server, _ = serve()
    whole = (built.build.path / "dumps" / "makerkg.nt").read_bytes()
    request = (
        b"GET /dumps/makerkg.nt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nRange: bytes=20-29\r\n"
        b"Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=60) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == whole


STOPPED_WHILE_STARTING = """
import os, signal, sys
import makerkg.web.engine as engine

made = engine.Engine.__init__

def made_while_told_to_stop(self, settings):  # the signal comes while the app is being made
    os.kill(os.getpid(), signal.SIGTERM)
    made(self, settings)

engine.Engine.__init__ = made_while_told_to_stop
# what granian's worker inherits from its main process: a handler under which the signal would be lost
signal.signal(signal.SIGTERM, lambda signum, frame: None)
from makerkg.web.wsgi import application
application()
print("served on", flush=True)
"""


def test_a_web_worker_told_to_stop_while_it_starts_ends(built: BuildResult) -> None:
    """granian installs its own stop handlers only once the app is made: a worker that got SIGTERM before (the
    server stopped right after its first answer, its second worker still starting) served on until it was killed
    15 s later. It now ends as soon as the app is made, and its query workers with it."""
    env = {**os.environ, "MAKERKG_OUT": str(built.build.path.parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_WHILE_STARTING], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "served on" not in done.stdout
