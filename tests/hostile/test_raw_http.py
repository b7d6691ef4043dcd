"""Hostile bytes on the wire, through nginx and granian as `makerkg serve` runs them: what a test client cannot send
(bytes outside ASCII in the request line, oversized and malformed headers, request smuggling). Every answer is a 4xx
with a message or a normal answer; the server keeps answering and logs no error while handling a request."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from makerkg.launch import Server, start, stop
from makerkg.pipeline import BuildResult

pytestmark = pytest.mark.e2e

CHEAP = b"GET /api/queries/provinces-without-regional?edition=8 HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def server(built: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("raw-http") / "serve.log"
    running = start(built.build.path.parent.parent, log, {"query_timeout": "3"})
    yield running
    stop(running)
    logged = log.read_text(encoding="utf-8", errors="replace")
    # the app's last-resort handler, and granian's for an exception that escaped the app
    assert "unexpected error on" not in logged and "Application callable raised an exception" not in logged


def exchange(server: Server, data: bytes, *, timeout: float = 15) -> bytes:
    """Send raw bytes, half-close, and read the whole answer (the server closes, or the timeout ends it)."""
    port = int(server.url.rsplit(":", 1)[1])
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before reading everything (413)
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
    return answer


def statuses(answer: bytes) -> list[int]:
    return [int(line.split(b" ")[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.")]


RAW = {
    "byte 0xff in the path": b"GET /org/miit\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    "invalid UTF-8 in the query string": b"GET /sparql?query=ASK%7B%7D\xc0\xaf HTTP/1.1\r\nHost: x\r\n\r\n",
    "%-encoded invalid UTF-8 in the query string": b"GET /sparql?query=ASK%7B%7D%c0%af HTTP/1.1\r\nHost: x\r\n\r\n",
    "%-encoded invalid UTF-8 in the path": b"GET /org/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
    "%-encoded NUL in the path": b"GET /source/plan-11.txt%00.ttl HTTP/1.1\r\nHost: x\r\n\r\n",
    "%-encoded traversal": b"GET /source/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
    "bytes 0xff 0xfe in Accept": b"GET /org/miit-nisc HTTP/1.1\r\nHost: x\r\nAccept: text/\xff\xfe\r\n\r\n",
    "NUL in a header": b"GET / HTTP/1.1\r\nHost: x\r\nAccept: a\x00b\r\n\r\n",
    "request line over the limit": b"GET /sparql?query=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header over the limit": b"GET / HTTP/1.1\r\nHost: x\r\nAccept: " + b"a" * 20_000 + b"\r\n\r\n",
    "200 headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n",
    "folded header": b"GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n  , text/plain\r\n\r\n",
    "Content-Length and Transfer-Encoding": (
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nContent-Length: 6\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
    ),
    "two Content-Lengths": (
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nContent-Length: 6\r\n"
        b"Content-Length: 60\r\n\r\nASK {}"
    ),
    "negative Content-Length": b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "Content-Length not a number": b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n",
    "body shorter than its Content-Length": (
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nContent-Length: 500\r\n\r\nASK"
    ),
    "body over max_request_bytes": (
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nContent-Length: 300000\r\n\r\n"
        + b"#" * 300_000
    ),
    "chunked body of invalid UTF-8": (
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n3\r\n\xff\xfe\xfd\r\n0\r\n\r\n"
    ),
    "bad chunk size": (
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nTransfer-Encoding: chunked"
        b"\r\n\r\nzz\r\nASK {}\r\n0\r\n\r\n"
    ),
    "unknown method": b"BREW /sparql HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n\r\n",
    "HTTP/9.9": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "absolute URI elsewhere": b"GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n",
    "CONNECT": b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n",
    "no request at all": b"\r\n\r\n\r\n",
    # an xn-- label that is not punycode: Werkzeug cannot build a URL on it (500 and a traceback on most routes)
    "Host not punycode": b"GET /org/ HTTP/1.1\r\nHost: xn--zz\r\n\r\n",
    "Host not punycode, with a port": b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: XN--ZZ:8080\r\n\r\n",
    "Host not punycode, POST": (
        b"POST /sparql HTTP/1.1\r\nHost: a.xn--.b\r\nContent-Type: application/sparql-query\r\n"
        b"Content-Length: 6\r\n\r\nASK {}"
    ),
    "garbage": bytes(range(256)) * 4,
    "a Transfer-Encoding other than chunked": (
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nTransfer-Encoding: gzip\r\n\r\n"
    ),
    "TRACE": b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n",
    "< and > in the path": b"GET /org/<script> HTTP/1.1\r\nHost: x\r\n\r\n",
    "a backtick in the path": b"GET /org/a`b HTTP/1.1\r\nHost: x\r\n\r\n",
    "a double quote in the query string": b'GET /search?q=a"b HTTP/1.1\r\nHost: x\r\n\r\n',
}


@pytest.mark.parametrize("name", RAW)
def test_raw_requests_get_a_4xx_or_an_answer(server: Server, name: str) -> None:
    answer = exchange(server, RAW[name])
    found = statuses(answer)
    # 505 is the answer RFC 9110 (15.6.6) gives a major version the server does not speak, and 501 (15.6.2) a
    # transfer coding it does not read: not failures
    allowed = {505} if name == "HTTP/9.9" else {501} if "Transfer-Encoding other" in name else set()
    assert all(s < 500 or s in allowed for s in found), (found, answer[:500])
    assert b"Traceback" not in answer
    for status in found:
        if status >= 400:  # whoever refused it (nginx, granian or the app) said why
            assert answer.split(b"\r\n\r\n", 1)[1].strip(), answer[:500]
    if found and found[0] >= 400:  # in a line of text, never sniffed as another type
        assert header_lines(answer, b"x-content-type-options") == [b"nosniff"], answer[:500]
        # a chunked body nginx cannot read is refused in the location that passes requests on, where a 400 of
        # nginx's own cannot be told from the app's (which says why itself): nginx's page is left there
        if name != "bad chunk size":
            assert header_lines(answer, b"content-type")[0].startswith(b"text/plain"), answer[:500]
    assert statuses(exchange(server, CHEAP + b"Connection: close\r\n\r\n")) == [200]


def header_lines(answer: bytes, name: bytes) -> list[bytes]:
    """The values of header ``name`` (lower case) in the first response of a raw answer."""
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return [line.split(b":", 1)[1].strip() for line in head if line.split(b":", 1)[0].strip().lower() == name]


def test_answers_through_nginx_say_nosniff_once(server: Server) -> None:
    """nginx adds the header to what it answers itself, and passes the app's on: one, never two."""
    answer = exchange(server, CHEAP + b"Connection: close\r\n\r\n")
    assert statuses(answer) == [200]
    assert header_lines(answer, b"x-content-type-options") == [b"nosniff"]


@pytest.mark.parametrize(
    "host",
    ["localhost:", "[::1]:", "a@b", "my_host:8000", "[fe80::1%eth0]", "a" * 64 + ".org",
     "a.com:0", "a.com:65536", "a.com:080", "[1::2::3]", "[::256.1.1.1]", "[::1]:0"],
)  # fmt: skip
def test_a_host_no_link_can_be_built_on_is_named_in_a_400(server: Server, host: str) -> None:
    """Werkzeug drops such a host, and links were built on none (http:///org/), or it raised (a 500)."""
    answer = exchange(
        server, b"GET /org HTTP/1.1\r\nHost: " + host.encode("latin-1") + b"\r\nConnection: close\r\n\r\n"
    )
    assert statuses(answer) == [400]
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert body.startswith(b"400 Bad Request: Host: '"), body
    assert body.endswith(
        b"' is not a host name, nor an IP address in brackets, with an optional port from 1 to 65535\n"
    )


def test_a_host_with_a_comma_is_refused_by_nginx(server: Server) -> None:
    """nginx forwards Host as X-Forwarded-Host, whose entries a comma separates: the app took the last name."""
    answer = exchange(server, b"GET /api/openapi.json HTTP/1.1\r\nHost: a.com,b.com\r\nConnection: close\r\n\r\n")
    assert statuses(answer) == [400]
    assert answer.split(b"\r\n\r\n", 1)[1] == b"400 Bad Request: Host: a host name holds no comma\n"


@pytest.mark.parametrize(
    "host", ["xn--fa-hia.de", "xn--zz:8080", "example.org.", "[::1]:8000", "[::ffff:7f00:1]:65535"]
)
def test_links_are_built_on_the_host_as_sent(server: Server, host: str) -> None:
    """An internationalised name in its xn-- form, valid in IDNA 2008 (faß.de) but not in Python's IDNA 2003 codec,
    which Werkzeug's URL building uses (a 500 before, then a 400), is kept as sent."""
    request = f"GET /org HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    answer = exchange(server, request)
    assert statuses(answer) == [308]
    assert header_lines(answer, b"location") == [f"http://{host}/org/".encode()]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("TRACE", "/", "GET, HEAD, OPTIONS"), ("TRACE", "/sparql", "GET, HEAD, POST, OPTIONS"),
     ("CONNECT", "/reconcile?x=1", "GET, HEAD, POST, OPTIONS")],
)  # fmt: skip
def test_methods_nginx_refuses_itself_are_named_with_what_the_resource_allows(
    server: Server, method: str, path: str, allowed: str
) -> None:
    answer = exchange(server, f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert statuses(answer) == [405]
    assert header_lines(answer, b"allow") == [allowed.encode()]
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert body == f"405 Method Not Allowed: {method} is not answered here (allowed: {allowed})\n".encode()


def test_pipelined_requests_get_no_5xx(server: Server) -> None:
    """Pipelined requests are answered in order (nginx reads them one after the other); none with an error."""
    answer = exchange(server, CHEAP + b"\r\n" + b"GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(answer)[0] == 200 and all(s < 500 for s in statuses(answer))


def test_silent_connections_do_not_stop_others(server: Server) -> None:
    """Connections that send nothing are held by nginx: they hold no request thread (docs/hardening.md, slow
    clients); tests/hostile/test_slow_clients.py sends hundreds."""
    port = int(server.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(10)]
    try:
        assert statuses(exchange(server, CHEAP + b"Connection: close\r\n\r\n", timeout=30)) == [200]
    finally:
        for sock in idle:
            sock.close()


def test_the_server_answers_again_when_slow_clients_leave(server: Server) -> None:
    """Clients that send half a request and leave take nothing with them (docs/hardening.md, slow clients: nginx
    holds a request until it is whole, and no request thread ever waits for a client)."""
    port = int(server.url.rsplit(":", 1)[1])
    slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
    for sock in slow:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # a request line and no end of headers
    for sock in slow:
        sock.close()
    assert statuses(exchange(server, CHEAP + b"Connection: close\r\n\r\n", timeout=30)) == [200]
