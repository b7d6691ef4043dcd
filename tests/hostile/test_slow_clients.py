"""Slow and silent clients (issue 11, point 4): with slowloris connections, slow request bodies and hundreds of
silent connections open, ordinary requests are still answered, because no client ever holds a request thread
(docs/hardening.md, slow clients). The assertions are that requests were served at all, within deadlines far
longer than any answer takes; the figures are bench/slowclients.py's."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from makerkg.launch import Server, start, stop
from makerkg.pipeline import BuildResult

pytestmark = pytest.mark.e2e

CHEAP = "/api/queries/provinces-without-regional?edition=8"
ANSWERED_WITHIN = 60  # seconds: "was answered at all", not a figure
SLOW_HEADERS = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
SLOW_BODY = (
    b"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sparql-query\r\n"
    b"Content-Length: 1000\r\n\r\nSELECT"
)


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


@contextmanager
def hostile(
    server: Server, slow_headers: int = 0, slow_bodies: int = 0, idle: int = 0
) -> Iterator[list[socket.socket]]:
    """Open the connections, send each its first bytes (a request line and no end of headers; whole headers and the
    start of a body; nothing), and close them all at the end."""
    opened: list[socket.socket] = []
    try:
        for count, first in ((slow_headers, SLOW_HEADERS), (slow_bodies, SLOW_BODY), (idle, b"")):
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
                opened.append(sock)
                if first:
                    sock.sendall(first)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def drip(sockets: list[socket.socket], data: bytes) -> None:
    """One more piece from each slow client (ignoring those the server has closed)."""
    for sock in sockets:
        try:
            sock.sendall(data)
        except OSError:
            continue


def cheap_requests(server: Server, count: int) -> list[int]:
    """``count`` ordinary requests over one keep-alive connection; the statuses."""
    conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=ANSWERED_WITHIN)
    found = []
    for _ in range(count):
        conn.request("GET", CHEAP, headers={"Accept": "application/json"})
        response = conn.getresponse()
        response.read()
        found.append(response.status)
    conn.close()
    return found


@pytest.fixture(scope="module")
def server(built: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`makerkg serve` at its defaults, but for a short header timeout (so that a test sees it close connections)."""
    log = tmp_path_factory.mktemp("slow-clients") / "serve.log"
    running = start(built.build.path.parent.parent, log, {"header_timeout": "3"})
    yield running
    stop(running)
    assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace")


def test_slowloris_and_silent_connections_leave_ordinary_requests_served(server: Server) -> None:
    """Regression (issue 11): 40 connections sending a partial header left 0 of 4 ordinary requests answered within
    30 s, and 200 silent connections timed out a third of them."""
    with hostile(server, slow_headers=40, idle=200) as sockets:
        drip(sockets[:40], b"X-Slow: 1\r\n")
        assert cheap_requests(server, 20) == [200] * 20
        drip(sockets[:40], b"X-Slower: 1\r\n")
        assert cheap_requests(server, 20) == [200] * 20


def test_slow_request_bodies_leave_ordinary_requests_served(server: Server) -> None:
    """A body sent a byte at a time is held by nginx until it is whole; no request thread waits for it."""
    with hostile(server, slow_bodies=40) as sockets:
        drip(sockets, b" ")
        assert cheap_requests(server, 20) == [200] * 20
        drip(sockets, b" ")
        assert cheap_requests(server, 20) == [200] * 20


def test_a_client_that_never_ends_its_headers_is_closed(server: Server) -> None:
    """header_timeout (3 s for this server) ends a connection whose headers never end, and a silent one."""
    with hostile(server, slow_headers=1, idle=1) as sockets:
        for sock in sockets:
            sock.settimeout(ANSWERED_WITHIN)
            deadline = time.monotonic() + ANSWERED_WITHIN
            data = b"-"
            while data and time.monotonic() < deadline:
                try:
                    data = sock.recv(4096)  # b"" once the server has closed it
                except ConnectionResetError:
                    data = b""
            assert data == b""


def test_granian_alone_holds_slow_headers_and_silent_connections_too(
    built: BuildResult, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """proxy = "none" (behind a proxy of one's own): granian reads headers without a request thread as well; slow
    bodies are what it cannot hold (docs/hardening.md), hence nginx in front by default."""
    log = tmp_path_factory.mktemp("granian-alone") / "serve.log"
    alone = start(built.build.path.parent.parent, log, {"proxy": "none"})
    try:
        with hostile(alone, slow_headers=40, idle=200) as sockets:
            drip(sockets[:40], b"X-Slow: 1\r\n")
            assert cheap_requests(alone, 20) == [200] * 20
    finally:
        stop(alone)
