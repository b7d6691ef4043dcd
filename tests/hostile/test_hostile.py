"""Hostile input through Flask's test client on the real build: mutated and random SPARQL, random bytes, invalid
UTF-8, very long parameters and headers, deep nesting and path tricks on every route.

The property, for every answer: 2xx, 304, or 4xx with a non-empty message; never 5xx, never a traceback (the one
exception is the documented 503 of the query deadline, for a mutated query that happens to be expensive); and no
file is opened during the request outside the build directory and the package's templates and static files (an
audit hook on the "open" event records every path the request's thread opens).
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import makerkg.web
from makerkg.config import load
from makerkg.link.resolve import unresolved_id
from makerkg.pipeline import BuildResult
from makerkg.queries import load_queries
from makerkg.web import create_app, maps, vendor

WEB = Path(makerkg.web.__file__).resolve().parent
# the query editor's built files, served from node_modules by ui.vendor
YASGUI_BUILD = WEB / "assets" / "node_modules" / "@zazuko" / "yasgui" / "build"
QUERY_TIMEOUT = 3  # seconds: a mutation that makes a query expensive costs the test at most this

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUERIES = sorted(load_queries().values(), key=lambda q: q.name)
QUERY_TEXTS = [q.text for q in QUERIES]
QUERY_NAMES = [q.name for q in QUERIES]
DUMP_NAMES = ["makerkg.nt", "makerkg.ttl.gz", "makerkg.context.jsonld", "SHA256SUMS", "makerkg.nq"]
ACCEPTS = [
    None,
    "*/*",
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
    "text/turtle",
    "application/n-triples",
    "application/ld+json",
    "application/rdf+xml",
    "application/problem+json",
    "text/html",
    "image/png",
    "text/*;q=0, */*;q=0",
    "application/json;q=abc, text/csv;q=2",
    ";;;,,,*/*/*",
]


# --- what every answer must be ------------------------------------------------------------------------------------


class OpenAudit:
    """Records the paths that one thread opens while recording (sys.addaudithook cannot be undone: one per run)."""

    def __init__(self) -> None:
        self._thread: int | None = None
        self.opened: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, name: str, args: tuple[object, ...]) -> None:
        if name != "open" or self._thread != threading.get_ident():
            return
        target = args[0]
        if isinstance(target, int) or target is None or _importing(sys._getframe(1)):
            return  # an already open descriptor; or a module imported for the first time: code, not data
        if isinstance(target, str | bytes | os.PathLike):
            self.opened.append(os.path.realpath(os.fsdecode(target)))

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        self.opened = []
        self._thread = threading.get_ident()
        try:
            yield self.opened
        finally:
            self._thread = None


def _importing(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


@dataclass
class Target:
    """The app under test, the client, the audit and the directories a request may read."""

    app: Flask
    client: FlaskClient
    audit: OpenAudit
    roots: tuple[str, ...]
    service_port: int

    def inside(self, path: str) -> bool:
        return any(path == root or path.startswith(root + os.sep) for root in self.roots)

    def send(self, method: str = "GET", path: str = "/", *, allow_timeout: bool = False, **kwargs: object) -> int:
        """One request; checks the answer and the files opened, and returns the status."""
        with self.audit.recording() as opened:
            response = self.client.open(path, method=method, **kwargs)  # type: ignore[arg-type]
            body = response.get_data()
            response.close()
        status = response.status_code
        outside = [p[:300] for p in opened if not self.inside(p)]
        assert not outside, f"{method} {path[:300]!r} opened {outside}"
        if currently_in_test_context():
            event(f"status {status}")
        assert b"Traceback" not in body, (method, path[:300], body[:500])
        if allow_timeout and status == 503:
            assert b"(query_timeout)" in body, body[:500]
            return status
        assert 200 <= status < 300 or status == 304 or 400 <= status < 500, (status, method, path[:300], body[:500])
        if 400 <= status < 500 and method != "HEAD":
            assert message(body, response.mimetype or ""), (status, method, path[:300], body[:500])
        return status


def message(body: bytes, mimetype: str) -> str:
    """The one-line message of an error answer, text or problem details."""
    text = body.decode("utf-8")
    if mimetype.endswith("json"):
        return str(json.loads(text).get("detail", "")).strip()
    _, _, detail = text.partition(": ")
    assert "\n" not in text.rstrip("\n"), text
    return detail.strip()


@pytest.fixture(scope="module")
def target(built: BuildResult, listener: tuple[int, list[bytes]]) -> Iterator[Target]:
    application = create_app(
        load(env={}, out=built.build.path.parent.parent, query_timeout=QUERY_TIMEOUT, max_rows=200)
    )
    mimetypes.init()  # reads /etc/mime.types once, outside any request
    # and the front-end files of issue 15: those the vendor routes serve, and the package the maps are drawn from
    served = {(directory / name).parent for directory, files in vendor.PACKAGES.values() for name in files}
    readable = (built.build.path, WEB / "templates", WEB / "static", YASGUI_BUILD, maps.ECHARTS, *served)
    roots = tuple(os.path.realpath(p) for p in readable)
    found = Target(application, application.test_client(), OpenAudit(), roots, listener[0])
    for path in ("/", "/query", "/compare", "/ontology", "/dumps/", "/dumps/makerkg.nt", "/org/miit-nisc"):
        found.send("GET", path)  # warm: templates compiled, modules imported
    yield found
    assert found.client.get("/api/queries/provinces-without-regional?edition=8").status_code == 200
    application.extensions["makerkg"].close()


# --- SPARQL, mutated and random -----------------------------------------------------------------------------------

INSERTS = [
    "SERVICE <http://127.0.0.1:PORT/sparql> { ?s ?p ?o }",
    "SERVICE SILENT <http://127.0.0.1:PORT/sparql> { ?s ?p ?o } ",
    "SERVICE ?endpoint { ?s ?p ?o }",
    " FROM <http://127.0.0.1:PORT/g> ",
    " FROM NAMED <http://127.0.0.1:PORT/g> ",
    "LOAD <http://127.0.0.1:PORT/g> ;",
    "INSERT DATA { <urn:a> <urn:b> <urn:c> } ;",
    "{",
    "}",
    "{{{{",
    "}}}}",
    "(",
    ")",
    "FILTER(",
    "OPTIONAL {",
    "GRAPH ?g {",
    '"',
    "'",
    '"""',
    "<",
    ">",
    "\\",
    "\\u0000",
    "\x00",
    "\ufffd",
    "#",
    "\n",
    "?",
    "$",
    "@",
    "^^",
    "*",
    " . ",
    " ; ",
    "PREFIX x: <http://127.0.0.1:PORT/>",
    "x:y",
    "LIMIT -1",
    "OFFSET 99999999999999999999",
    "REGEX(?x, '(a*)*b')",
]
TOKENS = re.compile(r"\s+|[^\s]+")


def _delete(text: str, i: int, n: int, _: str) -> str:
    return text[:i] + text[i + n :]


def _duplicate(text: str, i: int, n: int, _: str) -> str:
    return text[:i] + text[i : i + n] * 2 + text[i + n :]


def _swap_chars(text: str, i: int, n: int, _: str) -> str:
    j = min(len(text) - 1, i + n)
    if i >= j:
        return text
    return text[:i] + text[j] + text[i + 1 : j] + text[i] + text[j + 1 :]


def _swap_tokens(text: str, i: int, n: int, _: str) -> str:
    tokens = TOKENS.findall(text)
    a, b = i % max(1, len(tokens)), (i + n) % max(1, len(tokens))
    if tokens:
        tokens[a], tokens[b] = tokens[b], tokens[a]
    return "".join(tokens)


def _drop_token(text: str, i: int, n: int, _: str) -> str:
    tokens = TOKENS.findall(text)
    return "".join(t for k, t in enumerate(tokens) if k != i % max(1, len(tokens)))


def _repeat_token(text: str, i: int, n: int, _: str) -> str:
    tokens = TOKENS.findall(text)
    k = i % max(1, len(tokens))
    return "".join(tokens[:k] + [tokens[k]] * n + tokens[k:]) if tokens else text


def _insert(text: str, i: int, n: int, piece: str) -> str:
    return text[:i] + piece + text[i:]


def _form(text: str, i: int, n: int, _: str) -> str:
    forms = ["SELECT", "CONSTRUCT", "DESCRIBE", "ASK", "SELECT DISTINCT", "SELECT REDUCED *", "CONSTRUCT WHERE"]
    return text.replace("SELECT", forms[n % len(forms)], 1)


MUTATIONS: list[Callable[[str, int, int, str], str]] = [
    _delete,
    _duplicate,
    _swap_chars,
    _swap_tokens,
    _drop_token,
    _repeat_token,
    _insert,
    _form,
]


@st.composite
def mutated_queries(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(QUERY_TEXTS))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=5)):
        i = draw(st.integers(0, max(0, len(text) - 1)))
        n = draw(st.integers(1, 40))
        text = mutation(text, i, n, draw(st.sampled_from(INSERTS)))
    return text


SPARQL_WORDS = [
    "SELECT", "CONSTRUCT", "ASK", "DESCRIBE", "WHERE", "{", "}", "(", ")", "[", "]", "?s", "?p", "?o", "$x", "*",
    ".", ";", ",", "FILTER", "OPTIONAL", "UNION", "MINUS", "GRAPH", "SERVICE", "BIND", "AS", "VALUES", "UNDEF",
    "GROUP BY", "HAVING", "ORDER BY", "LIMIT", "OFFSET", "1", "-1", "1e999", '"x"', '"x"@zh', '"1"^^<urn:t>',
    "<urn:x>", "<>", "a", "^", "|", "/", "+", "?", "!", "&&", "||", "=", "!=", "COUNT(*)", "REGEX", "STR", "LANG",
    "EXISTS", "NOT", "IN", "PREFIX", "BASE", "schema:name", ":", "_:b", "FROM", "NAMED", "LOAD", "INSERT", "DELETE",
    "DATA", "CLEAR", "DROP", "ALL", "#", "\n", "<<", ">>",
]  # fmt: skip


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    return " ".join(draw(st.lists(st.sampled_from(SPARQL_WORDS), max_size=60)))


@st.composite
def how_sent(draw: st.DrawFn, query: str) -> dict[str, Any]:
    """A query sent as GET, form POST or sparql-query POST, with some Accept header."""
    accept = draw(st.sampled_from(ACCEPTS))
    headers = {"Accept": accept} if accept else {}
    way = draw(st.sampled_from(["get", "form", "body"]))
    if way == "get":
        return {"method": "GET", "path": "/sparql", "query_string": {"query": query}, "headers": headers}
    if way == "form":
        return {"method": "POST", "path": "/sparql", "data": {"query": query}, "headers": headers}
    return {
        "method": "POST",
        "path": "/sparql",
        "data": query.encode("utf-8", "surrogatepass"),
        "headers": {**headers, "Content-Type": "application/sparql-query"},
    }


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_mutated_named_queries(target: Target, data: st.DataObject) -> None:
    query = data.draw(mutated_queries()).replace("PORT", str(target.service_port))
    request = data.draw(how_sent(query))
    target.send(allow_timeout=True, **request)  # a SERVICE that ran would connect to the listener: see its fixture


@settings(FUZZ, max_examples=300)
@given(data=st.data(), query=token_soup() | st.text(max_size=300))
def test_random_queries(target: Target, data: st.DataObject, query: str) -> None:
    target.send(allow_timeout=True, **data.draw(how_sent(query)))


# --- bytes, encodings ---------------------------------------------------------------------------------------------

BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xc3"]
CONTENT_TYPES = [
    "application/sparql-query",
    "application/x-www-form-urlencoded",
    "application/sparql-update",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/json",
    "application/sparql-query; charset=latin-1",
    "",
    "\xff/\xfe",
]
ROUTES = [
    "/",
    "/query",
    "/compare",
    "/sparql",
    "/api/queries",
    "/api/queries/region-hosts",
    "/api/openapi.json",
    "/dumps/",
    "/dumps/makerkg.nt",
    "/dumps/SHA256SUMS",
    "/.well-known/void",
    "/store",
    "/graph/edition/11",
    "/dataset",
    "/api/prefixes",
    "/ontology",
    "/ontology.ttl",
    "/source/plan-11.txt",
    "/org/miit-nisc",
    "/edition/11/regional/630000",
    "/static/site.css",
    "/nothing-here",
]


def hostile_bytes() -> st.SearchStrategy[bytes]:
    pieces = st.binary(max_size=40) | st.sampled_from(BAD_UTF8) | st.text(max_size=10).map(str.encode)
    return st.lists(pieces, max_size=8).map(b"".join)


@settings(FUZZ, max_examples=300)
@given(
    payload=hostile_bytes(),
    as_body=st.booleans(),
    content_type=st.sampled_from(CONTENT_TYPES),
    field=st.sampled_from(["query", "update", "default-graph-uri", "format", "query\xff"]),
)
def test_random_bytes_as_query_and_body(
    target: Target, payload: bytes, as_body: bool, content_type: str, field: str
) -> None:
    if as_body:
        body = payload if "form" not in content_type else field.encode("latin-1") + b"=" + payload
        target.send("POST", "/sparql", data=body, headers={"Content-Type": content_type})
    else:
        query = urllib.parse.quote_from_bytes(field.encode("latin-1")) + "=" + urllib.parse.quote_from_bytes(payload)
        target.send("GET", "/sparql", query_string=query)


def latin1(data: bytes) -> str:
    """Bytes as a WSGI environ carries them (PEP 3333: latin-1 decoded)."""
    return data.decode("latin-1")


@settings(FUZZ, max_examples=300)
@given(
    route=st.sampled_from(ROUTES),
    payload=hostile_bytes(),
    where=st.sampled_from(["path", "query string", "Accept", "If-None-Match", "Origin", "Cookie", "Content-Type"]),
    method=st.sampled_from(["GET", "GET", "HEAD", "POST", "OPTIONS"]),
)
def test_invalid_utf8_in_path_query_string_and_headers(
    target: Target, route: str, payload: bytes, where: str, method: str
) -> None:
    overrides: dict[str, str] = {}
    if where == "path":
        overrides["PATH_INFO"] = latin1(route.encode() + payload)  # what a server gives for %-encoded bytes
    elif where == "query string":
        # %-encoded: a server refuses bytes outside ASCII in the request line (tests/hostile/test_raw_http.py)
        encoded = urllib.parse.quote_from_bytes(payload)
        overrides["QUERY_STRING"] = f"query={encoded}&format={encoded}&a={encoded}&{encoded}={encoded}"
    else:
        # a server refuses CR, LF and NUL in a header; any other byte can arrive
        value = latin1(payload.translate(None, b"\r\n\x00"))
        overrides["CONTENT_TYPE" if where == "Content-Type" else "HTTP_" + where.upper().replace("-", "_")] = value
    target.send(method, route, environ_overrides=overrides)


# --- size and depth -----------------------------------------------------------------------------------------------

SELECT_ALL = "SELECT * WHERE { ?s ?p ?o } LIMIT 1"
LONG_REQUESTS: dict[str, dict[str, Any]] = {
    "query of 1 MB in the URL": {"path": "/sparql", "query_string": {"query": SELECT_ALL + " #" + "x" * 1_000_000}},
    "query of 1 MB in the body": {
        "method": "POST",
        "path": "/sparql",
        "data": (SELECT_ALL + " #" + "x" * 1_000_000).encode(),
        "headers": {"Content-Type": "application/sparql-query"},
    },
    "form of 1 MB": {"method": "POST", "path": "/sparql", "data": {"query": SELECT_ALL, "x": "y" * 1_000_000}},
    "20,000 form fields": {
        "method": "POST",
        "path": "/sparql",
        "data": "a=&" * 20_000 + "query=ASK%7B%7D",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    },
    "20,000 URL parameters": {"path": "/sparql", "query_string": "&".join(f"p{n}=v" for n in range(20_000))},
    "graph parameter 20,000 times": {
        "path": "/sparql",
        "query_string": "query=ASK%7B%7D&" + "&".join(["default-graph-uri=http://a/"] * 20_000),
    },
    "named query parameter of 1 MB": {"path": "/api/queries/region-hosts", "query_string": {"region": "1" * 1_000_000}},
    "named query parameter 20,000 times": {
        "path": "/api/queries/region-hosts",
        "query_string": "&".join(["a=8"] * 20_000),
    },
    "compare parameter of 1 MB": {"path": "/compare", "query_string": {"a": "9" * 1_000_000}},
    "format parameter of 1 MB": {"path": "/org/miit-nisc", "query_string": {"format": "t" * 1_000_000}},
    "Accept of 200 kB": {"path": "/org/miit-nisc", "headers": {"Accept": "text/x-a;q=0.5, " * 12_000}},
    "Accept with 20,000 parameters": {
        "path": "/sparql",
        "query_string": {"query": SELECT_ALL},
        "headers": {"Accept": "application/sparql-results+json" + ";a=b" * 20_000},
    },
    "Accept of one 200 kB type": {"path": "/ontology", "headers": {"Accept": "text/" + "h" * 200_000}},
    "If-None-Match of 200 kB": {"path": "/ontology", "headers": {"If-None-Match": '"x", ' * 40_000}},
    "Origin of 200 kB": {"path": "/api/queries", "headers": {"Origin": "https://" + "a" * 200_000}},
    "Cookie of 200 kB": {"path": "/", "headers": {"Cookie": "a=b; " * 40_000}},
    "Content-Type of 200 kB": {
        "method": "POST",
        "path": "/sparql",
        "data": b"ASK {}",
        "headers": {"Content-Type": "application/sparql-query" + "; a=b" * 40_000},
    },
    "path of 200 kB": {"path": "/org/" + "a" * 200_000},
    "path of 20,000 segments": {"path": "/" + "a/" * 20_000},
    "dump name of 100 kB": {"path": "/dumps/" + "makerkg.nt" * 10_000},
    "query name of 100 kB": {"path": "/api/queries/" + "x" * 100_000},
}


@pytest.mark.parametrize("name", LONG_REQUESTS)
def test_very_long_parameters_and_headers(target: Target, name: str) -> None:
    target.send(**LONG_REQUESTS[name])


@pytest.mark.parametrize("length", [256, 100_000])
def test_an_overlong_source_name_is_404(target: Target, length: int) -> None:
    """Regression: GET /source/<a name longer than 255 bytes> answered 500 (OSError: File name too long)."""
    response = target.client.get("/source/" + "a" * length)
    assert response.status_code == 404


def nested(kind: str, depth: int) -> str:
    """A query nesting one construct ``depth`` times."""
    if kind == "groups":
        return "SELECT * WHERE " + "{" * depth + " ?s ?p ?o " + "}" * depth
    if kind == "unbalanced groups":
        return "SELECT * WHERE " + "{" * depth + " ?s ?p ?o "
    if kind == "FILTER parentheses":
        return "SELECT * WHERE { ?s ?p ?o FILTER(" + "(" * depth + "?o" + ")" * depth + ") }"
    if kind == "nested FILTERs":
        return "ASK { " + "FILTER(EXISTS { " * depth + "?s ?p ?o" + " })" * depth + " }"
    if kind == "function calls":
        return "SELECT * WHERE { BIND(" + "STR(" * depth + "1" + ")" * depth + " AS ?x) }"
    if kind == "OPTIONALs":
        return "SELECT * WHERE { ?s ?p ?o " + "OPTIONAL { ?s ?p ?o " * depth + "}" * depth + " }"
    if kind == "subqueries":
        return "SELECT * WHERE " + "{ SELECT * WHERE " * depth + "{ ?s ?p ?o }" + " }" * depth
    if kind == "property path parentheses":
        return "SELECT * WHERE { ?s " + "(" * depth + "<urn:p>" + ")*" * depth + " ?o }"
    if kind == "blank node property lists":
        return "SELECT * WHERE { ?s <urn:p> " + "[ <urn:p> " * depth + "?o" + " ]" * depth + " }"
    if kind == "collections":
        return "SELECT * WHERE { ?s <urn:p> " + "( " * depth + "?o" + " )" * depth + " }"
    if kind == "unary operators":
        return "SELECT * WHERE { BIND(" + "!" * depth + "true AS ?x) }"
    if kind == "long sum":
        return "SELECT * WHERE { BIND(" + "+".join(["1"] * depth) + " AS ?x) }"
    if kind == "UNION chain":
        return "SELECT * WHERE { " + " UNION ".join(["{ ?s ?p ?o }"] * depth) + " }"
    if kind == "triple pattern list":
        return "SELECT * WHERE { " + " ".join(["?s ?p ?o ."] * depth) + " }"
    raise ValueError(kind)


NESTING = [
    "groups",
    "unbalanced groups",
    "FILTER parentheses",
    "nested FILTERs",
    "function calls",
    "OPTIONALs",
    "subqueries",
    "property path parentheses",
    "blank node property lists",
    "collections",
    "unary operators",
]


@pytest.mark.parametrize("depth", [10, 200, 5_000, 30_000])
@pytest.mark.parametrize("kind", NESTING)
def test_deep_nesting(target: Target, kind: str, depth: int) -> None:
    query = nested(kind, depth)
    status = target.send(
        "POST", "/sparql", data=query.encode(), headers={"Content-Type": "application/sparql-query"}, allow_timeout=True
    )
    if depth >= 5_000:
        assert status in (400, 413)


@pytest.mark.parametrize("depth", [10, 500])
@pytest.mark.parametrize("kind", ["long sum", "UNION chain", "triple pattern list"])
def test_long_flat_chains(target: Target, kind: str, depth: int) -> None:
    """Chains the parser reads in a loop, not nested; the parse itself costs time (see docs/hardening.md)."""
    query = nested(kind, depth)
    target.send("GET", "/sparql", query_string={"query": query}, allow_timeout=True)


# --- paths --------------------------------------------------------------------------------------------------------

PREFIXES = [
    "/",
    "/sparql",
    "/sparql/",
    "/api/queries/",
    "/api/queries/region-hosts",
    "/dumps/",
    "/source/",
    "/ontology",
    "/ontology.",
    "/org/",
    "/place/",
    "/edition/8/",
    "/static/",
    "/static/vendor/yasgui/",
    "/.well-known/",
    "/api/",
]
SEGMENTS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%252e%252e",
    "%c0%ae%c0%ae",
    ".",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    "..\\..",
    "%00",
    "%ff",
    "",
    "~",
    "current",
    "builds",
    "store",
    "CURRENT",
    "build.json",
    "graph.nq",
    "SHA256SUMS",
    "plan-11.txt",
    "manifest.toml",
    "makerkg.nt",
    "makerkg.nt.gz",
    "etc",
    "passwd",
    "proc",
    "self",
    "environ",
    "config.py",
    "templates",
    "base.html",
    "node_modules",
    "package.json",
    "yasgui.min.js",
    "miit-nisc",
    "330100",
    "a" * 300,
    "%20",
    ";x=y",
    "?query=ASK{}",
    "#frag",
    "%3f",
    "%23",
    "*",
    "COM1",
    "file:",
    "http:",
]
EXTENSIONS = [
    "",
    ".ttl",
    ".jsonld",
    ".nt",
    ".rdf",
    ".txt",
    ".html",
    ".exe",
    ".php",
    ".gz",
    ".",
    "..",
    ".ttl.ttl",
    "%00.ttl",
]


@st.composite
def tricky_paths(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(PREFIXES))
    segments = draw(st.lists(st.sampled_from(SEGMENTS), max_size=6))
    joiner = draw(st.sampled_from(["/", "/", "%2f", "//", "\\", "/./"]))
    return prefix + joiner.join(segments) + draw(st.sampled_from(EXTENSIONS))


@settings(FUZZ, max_examples=800)
@given(path=tricky_paths(), method=st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE"]))
def test_path_tricks_on_every_route(target: Target, path: str, method: str) -> None:
    if path.startswith("//"):  # the test client would take what follows for a host; a server hands it over as a path
        target.send(method, "/", environ_overrides={"PATH_INFO": latin1(urllib.parse.unquote_to_bytes(path))})
    else:
        target.send(method, path)


@pytest.mark.parametrize(
    "raw",
    [
        b"/source/../build.json",
        b"/source/../../../../etc/passwd",
        b"/dumps/../build.json",
        b"/dumps/../../builds",
        b"/source/plan-11.txt\x00.ttl",
        b"/source/\x00",
        b"/static/../config.py",
        b"/static/../../config.py",
        b"/static/vendor/yasgui/../../../../config.py",
        b"/static/vendor/yasgui/../package.json",
        b"/org/../../../etc/passwd",
        b"/ontology/../store/CURRENT",
        b"/" + b"../" * 50 + b"etc/passwd",
        b"/source/" + os.fsencode(os.path.realpath("/etc/passwd")),
        b"/source//etc/passwd",
        b"/dumps//etc/passwd",
        b"/static//etc/passwd",
        b"/source/..\\build.json",
        b"/source/\xc0\xae\xc0\xae/build.json",
        b"/api/queries/../../../etc/passwd",
    ],
)
def test_decoded_traversal_never_leaves_the_build(target: Target, raw: bytes) -> None:
    """The path as a server hands it over after %-decoding, dots, slashes and NUL included."""
    status = target.send("GET", "/", environ_overrides={"PATH_INFO": latin1(raw)})
    assert status in (301, 308, 404, 400), status


# --- named query parameters ---------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=300)
@given(
    name=st.sampled_from([*QUERY_NAMES, "x", "", "..", "%2e%2e", "region-hosts.rq", "region-hosts/../orgs-new"]),
    params=st.dictionaries(
        st.sampled_from(["a", "b", "edition", "region", "format", "kind", "limit", "x", "a\x00", "ä"]),
        st.text(max_size=40) | st.sampled_from(["8", "11", "-1", "0", "1e9", "999999999999999999999", "330100"]),
        max_size=4,
    ),
    accept=st.sampled_from(ACCEPTS),
)
def test_named_query_parameters(target: Target, name: str, params: dict[str, str], accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    target.send("GET", f"/api/queries/{urllib.parse.quote(name)}", query_string=params, headers=headers)


# --- markup in the data -------------------------------------------------------------------------------------------

HOSTILE = "<img src=x onerror=alert(1)>局"


def test_a_label_with_markup_is_escaped_on_its_resource_page(renamed_host: Callable[[str], FlaskClient]) -> None:
    """An organization named with markup in a plan gets its own page, where the name is text, never markup."""
    client = renamed_host(HOSTILE)
    org = f"/org/{unresolved_id(HOSTILE)}"
    html = client.get(org, headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<img" not in html and "onerror=alert(1)>" not in html
    escaped = "&lt;img src=x onerror=alert(1)&gt;局"
    assert f"<title>{escaped} · makerkg</title>" in html
    assert html.count(escaped) >= 2  # the title and the name, at least
    contest = client.get("/edition/11/regional/630000", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert escaped in contest and "<img" not in contest
    turtle = client.get(f"{org}.ttl").get_data(as_text=True)
    assert f'"{HOSTILE}"@zh' in turtle


def test_the_audit_sees_what_the_request_thread_opens(target: Target, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x", encoding="utf-8")
    other = tmp_path / "other-thread.txt"
    other.write_text("x", encoding="utf-8")
    with target.audit.recording() as opened:
        outside.read_text(encoding="utf-8")
        thread = threading.Thread(target=other.read_text, kwargs={"encoding": "utf-8"})
        thread.start()
        thread.join(timeout=10)
    assert opened == [os.path.realpath(outside)]
    assert not target.inside(opened[0])
