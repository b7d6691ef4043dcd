"""Operations through Flask's test client (issue 11, points 6 and 7): /health, /metrics, proxy headers through
ProxyFix (trusted_proxies), absolute links from public_url or the request's host with Vary, Range on dumps, and a
build without dumps."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from rdflib import Graph
from rdflib.namespace import RDF

from makerkg.config import load
from makerkg.errors import UsageError
from makerkg.graph.vocab import DCAT, SD
from makerkg.pipeline import BuildResult
from makerkg.store import current
from makerkg.web import create_app
from makerkg.web.ops import access_line

EXPLOSIVE = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
NAMED = "/api/queries/provinces-without-regional?edition=8"


def make_app(out: Path, **overrides: object) -> Flask:
    return create_app(load(env={}, out=out, query_workers=1, **overrides))


@pytest.fixture
def apps(built: BuildResult) -> Iterator[list[Flask]]:
    """Apps made by a test over the real build, closed at its end."""
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["makerkg"].close()


def app_with(apps: list[Flask], built: BuildResult, **overrides: object) -> FlaskClient:
    app = make_app(built.build.path.parent.parent, **overrides)
    apps.append(app)
    return app.test_client()


def status(client: FlaskClient, path: str, **headers: str) -> int:
    """GET ``path`` and read the answer whole (a request is counted once its last byte is sent)."""
    with client.get(path, headers=headers) as response:
        response.get_data()
        return response.status_code


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# --- /health and /metrics -----------------------------------------------------------------------------------------


def test_health_names_the_build_served(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built)
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["build"], body["created"]) == ("ok", built.build.info.id, built.build.info.created)
    assert body["age_seconds"] >= 0
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers  # it changes with every answer (the age)
    assert client.head("/health").status_code == 200


def test_metrics_count_requests_by_route_and_status_and_time_the_queries(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built)
    ok = ("makerkg_http_requests_total", (("route", "/api/queries/<name>"), ("status", "200")))
    bad = ("makerkg_http_requests_total", (("route", "/api/queries/<name>"), ("status", "400")))
    queries = ("makerkg_query_duration_seconds_count", ())
    before = samples(client)
    for _ in range(3):
        assert status(client, NAMED) == 200
    assert status(client, "/api/queries/provinces-without-regional?edition=eight") == 400
    after = samples(client)
    assert after[ok] - before.get(ok, 0) == 3
    assert after[bad] - before.get(bad, 0) == 1
    # the first ran a query, the other two were answered from the per-build cache; the refused parameter never
    # reached a query worker
    assert after[queries] - before.get(queries, 0) == 1
    hits = ("makerkg_cache_lookups_total", (("result", "hit"),))
    assert after[hits] - before.get(hits, 0) == 2
    assert after[("makerkg_build_info", (("id", built.build.info.id),))] == 1
    assert after[("makerkg_build_age_seconds", ())] >= 0
    assert ("makerkg_http_request_duration_seconds_count", (("route", "/api/queries/<name>"),)) in after


@pytest.mark.parametrize(
    ("metrics_from", "client", "allowed"),
    [
        (None, "127.0.0.1", True),  # the default: the machine itself
        (None, "::1", True),
        (None, "192.0.2.10", False),
        ("192.0.2.0/24", "192.0.2.10", True),
        ("192.0.2.0/24", "127.0.0.1", False),  # the setting replaces the default
        ("10.1.0.0/16, 2001:db8::/32", "2001:db8::5", True),
        ("", "127.0.0.1", False),  # no one
        ("::ffff:127.0.0.0/104", "127.0.0.1", True),  # an IPv4-mapped network holds the IPv4 clients it maps
    ],
)
def test_metrics_are_read_only_from_the_networks_metrics_from_names(
    apps: list[Flask], built: BuildResult, metrics_from: str | None, client: str, allowed: bool
) -> None:
    overrides = {} if metrics_from is None else {"metrics_from": metrics_from}
    app = app_with(apps, built, **overrides)
    response = app.get("/metrics", environ_base={"REMOTE_ADDR": client}, headers={"Accept": "application/problem+json"})
    if allowed:
        assert response.status_code == 200 and b"makerkg_build_info" in response.data
        return
    assert response.status_code == 403
    document = response.get_json()
    assert document["parameter"] == "metrics_from"
    assert document["detail"] == f"/metrics is read only from the networks metrics_from names, not from {client}"
    assert b"makerkg_" not in response.data
    assert app.get("/health", environ_base={"REMOTE_ADDR": client}).status_code == 200  # liveness stays public


def test_metrics_go_by_the_client_the_trusted_proxies_name(apps: list[Flask], built: BuildResult) -> None:
    """Behind one trusted proxy on this machine, the client is the one it names, not the proxy's own address; an
    entry the client wrote itself before the proxy's is not believed."""
    app = app_with(apps, built, trusted_proxies=1)
    peer = {"REMOTE_ADDR": "127.0.0.1"}
    assert app.get("/metrics", environ_base=peer).status_code == 200  # no X-Forwarded-For: the peer
    for forwarded, expected in (
        ("203.0.113.9", 403),
        ("127.0.0.1, 203.0.113.9", 403),  # the client's own "127.0.0.1", then what the proxy saw
        ("203.0.113.9, 127.0.0.1", 200),
    ):
        response = app.get("/metrics", environ_base=peer, headers={"X-Forwarded-For": forwarded})
        assert response.status_code == expected, forwarded


def test_a_request_body_in_a_content_coding_is_refused(apps: list[Flask], built: BuildResult) -> None:
    """A gzipped query would be read as if it were not (RFC 9110, 15.5.16: 415); no body, or identity, is fine."""
    client = app_with(apps, built)
    sparql = {"Content-Type": "application/sparql-query"}
    refused = client.post("/sparql", data=b"ASK {}", headers={**sparql, "Content-Encoding": "gzip"})
    assert refused.status_code == 415
    assert refused.get_data(as_text=True) == (
        "415 Unsupported Media Type: Content-Encoding: 'gzip' is not read here; send the body as it is\n"
    )
    assert refused.headers["Accept-Encoding"] == "identity"  # RFC 9110, 15.5.16
    plain = client.post("/sparql", data=b"ASK {}", headers={**sparql, "Content-Encoding": "identity"})
    assert plain.status_code == 200
    assert client.get("/sparql?query=ASK%7B%7D", headers={"Content-Encoding": "gzip"}).status_code == 200


@pytest.mark.parametrize("proto", ["a b", "ws", "javascript"])
def test_a_scheme_no_link_can_be_built_on_is_a_400(apps: list[Flask], built: BuildResult, proto: str) -> None:
    """A trusted proxy's X-Forwarded-Proto that is not http or https: the service description's links were built on
    it, and rdflib's serialiser raised (a 500)."""
    client = app_with(apps, built, trusted_proxies=1)
    response = client.get("/sparql", headers={"X-Forwarded-Proto": proto, "Accept": "text/turtle"})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == f"400 Bad Request: X-Forwarded-Proto: {proto!r} is not http or https\n"
    assert client.get("/sparql", headers={"X-Forwarded-Proto": "https", "Accept": "text/turtle"}).status_code == 200


def test_a_bad_metrics_from_is_refused_naming_the_setting() -> None:
    with pytest.raises(UsageError) as caught:
        load(env={"MAKERKG_METRICS_FROM": "127.0.0.0/8, localhost"})
    assert str(caught.value) == (
        "metrics_from: comma-separated IP networks (CIDR) are needed: 'localhost' is not an IP network "
        "('localhost' does not appear to be an IPv4 or IPv6 network)"
    )


def test_metrics_count_timeouts_and_worker_restarts(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built, query_timeout=1.0)
    timeouts, restarts = ("makerkg_query_timeouts_total", ()), ("makerkg_query_worker_restarts_total", ())
    before = samples(client)
    assert status(client, "/sparql?" + urllib.parse.urlencode({"query": EXPLOSIVE})) == 503
    after = samples(client)
    assert after[timeouts] - before.get(timeouts, 0) == 1
    assert after[restarts] - before.get(restarts, 0) == 1


def test_monitoring_is_not_rate_limited(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built, rate_limit=1, rate_burst=1)
    assert client.get(NAMED).status_code == 200
    assert client.get(NAMED).status_code == 429
    assert [client.get("/health").status_code for _ in range(5)] == [200] * 5
    assert client.get("/metrics").status_code == 200


# --- proxies and the Host header ----------------------------------------------------------------------------------


def endpoint_of(client: FlaskClient, headers: dict[str, str]) -> tuple[str, str]:
    """The service description's sd:endpoint, and the answer's Vary."""
    response = client.get("/sparql", headers={"Accept": "text/turtle", **headers})
    assert response.status_code == 200
    g = Graph().parse(data=response.get_data(as_text=True), format="turtle")
    (endpoint,) = set(g.objects(None, SD.endpoint))
    return str(endpoint), response.headers.get("Vary", "")


FORWARDED = {
    "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
    "X-Forwarded-Proto": "http, https",
    "X-Forwarded-Host": "evil.example, kg.example.org",
}


def test_forwarded_headers_are_ignored_without_trusted_proxies(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built)
    endpoint, vary = endpoint_of(client, {**FORWARDED, "Host": "127.0.0.1:8000"})
    assert endpoint == "http://127.0.0.1:8000/sparql"
    assert "Host" in vary and "Accept" in vary


def test_the_trusted_proxy_names_scheme_host_and_client(apps: list[Flask], built: BuildResult) -> None:
    """With trusted_proxies = 1 the rightmost X-Forwarded-* entries are believed, and nothing left of them."""
    client = app_with(apps, built, trusted_proxies=1, rate_limit=1, rate_burst=1)
    endpoint, vary = endpoint_of(client, FORWARDED)
    assert endpoint == "https://kg.example.org/sparql"
    assert {"Host", "X-Forwarded-Host", "X-Forwarded-Proto"} <= {v.strip() for v in vary.split(",")}
    # the client is 203.0.113.9 whatever it wrote further left: its second request is over its burst
    assert client.get(NAMED, headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 429
    assert client.get(NAMED, headers={"X-Forwarded-For": "203.0.113.9, 203.0.113.10"}).status_code == 200


def test_public_url_is_used_and_the_host_never_reflected(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built, public_url="https://data.example.org/kg/", trusted_proxies=1)
    headers = {**FORWARDED, "Host": "attacker.example"}
    endpoint, vary = endpoint_of(client, headers)
    assert endpoint == "https://data.example.org/kg/sparql"
    assert "Host" not in vary
    openapi = client.get("/api/openapi.json", headers=headers)
    assert openapi.get_json()["servers"] == [{"url": "https://data.example.org/kg"}]
    assert "Host" not in openapi.headers.get("Vary", "")
    listing = client.get("/api/queries", headers=headers).get_json()["queries"]
    assert {q["href"].rsplit("/", 1)[0] for q in listing} == {"https://data.example.org/kg/api/queries"}


def test_openapi_servers_follow_the_host_with_vary(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built)
    response = client.get("/api/openapi.json", headers={"Host": "kg.example.net"})
    assert response.get_json()["servers"] == [{"url": "http://kg.example.net"}]
    assert "Host" in response.headers["Vary"]


# --- Range on dumps (RFC 9110) ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dump_bytes(built: BuildResult) -> bytes:
    return (built.build.path / "dumps" / "makerkg.ttl").read_bytes()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("bytes=abc", id="invalid"),
        pytest.param("bytes=5-1", id="last before first"),
        pytest.param("bytes=0-1,5-6", id="two ranges"),
        pytest.param("bytes=0-1, bytes=2-3", id="two Range headers as a server joins them"),
        pytest.param("items=0-1", id="another unit"),
    ],
)
def test_a_range_that_cannot_be_served_gets_the_whole_dump(client: FlaskClient, dump_bytes: bytes, value: str) -> None:
    """Regression (issue 11): invalid or multiple ranges got 416; RFC 9110 (14.2) has the server ignore them."""
    with client.get("/dumps/makerkg.ttl", headers={"Range": value}) as response:
        assert response.status_code == 200
        assert response.data == dump_bytes
        assert "Content-Range" not in response.headers


def test_one_byte_range_gets_206_and_one_past_the_end_416(client: FlaskClient, dump_bytes: bytes) -> None:
    with client.get("/dumps/makerkg.ttl", headers={"Range": "bytes=10-19"}) as response:
        assert response.status_code == 206
        assert response.data == dump_bytes[10:20]
        assert response.headers["Content-Range"] == f"bytes 10-19/{len(dump_bytes)}"
    with client.get("/dumps/makerkg.ttl", headers={"Range": f"bytes={len(dump_bytes) + 10}-"}) as past:
        assert past.status_code == 416
        assert past.headers["Content-Range"] == f"bytes */{len(dump_bytes)}"
    # a suffix longer than the file is the whole file (RFC 9110, 14.1.2), which werkzeug alone read as a 416
    with client.get("/dumps/makerkg.ttl", headers={"Range": f"bytes=-{len(dump_bytes) + 10}"}) as whole:
        assert whole.status_code == 206 and whole.get_data() == dump_bytes
        assert whole.headers["Content-Range"] == f"bytes 0-{len(dump_bytes) - 1}/{len(dump_bytes)}"
    # the last 0 bytes: valid, and unsatisfiable (RFC 9110, 14.1.2); werkzeug alone reads it as invalid (200)
    for path in ("/dumps/makerkg.ttl", "/store?default"):
        with client.get(path, headers={"Range": "bytes=-0", "Accept": "application/n-triples"}) as nothing:
            assert nothing.status_code == 416 and nothing.headers["Content-Range"].startswith("bytes */")
            assert nothing.get_data(as_text=True).startswith(
                "416 Requested Range Not Satisfiable: Range: bytes=-0 asks for the last 0 bytes, which no range holds"
            )
            assert nothing.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/dumps/makerkg.ttl", "/org/miit", "/sparql?query=ASK%7B%7D"])
def test_if_match_answers_when_the_etag_matches_and_412s_otherwise(client: FlaskClient, path: str) -> None:
    """RFC 9110 (13.1.1), strong comparison: Werkzeug's file answers read If-Match the other way round (``*`` got a
    412 carrying the whole file), and the other answers ignored it."""
    with client.get(path) as plain:
        etag, body = plain.headers["ETag"], plain.data
    for condition in ("*", etag, f'"other", {etag}'):
        with client.get(path, headers={"If-Match": condition}) as matched:
            assert (matched.status_code, matched.data) == (200, body), condition
    for condition in ('"other"', f"W/{etag}"):
        with client.get(path, headers={"If-Match": condition}) as refused:
            assert refused.status_code == 412, condition
            assert refused.get_data(as_text=True) == (
                "412 Precondition Failed: If-Match: the representation here has another ETag (or none)\n"
            )


def test_if_unmodified_since_earlier_than_a_dump_is_a_412(client: FlaskClient) -> None:
    """RFC 9110 (13.1.4): without If-Match, a date before the dump's Last-Modified fails the request, with a range
    too (a client resuming a download never joins parts of two files); a later or unreadable date, or If-Match,
    leaves it to the rest; a page, with no Last-Modified, ignores it."""
    with client.get("/dumps/makerkg.ttl") as plain:
        modified, etag, body = plain.headers["Last-Modified"], plain.headers["ETag"], plain.data
    earlier = "Sat, 01 Jan 2000 00:00:00 GMT"
    for headers in ({"If-Unmodified-Since": earlier}, {"If-Unmodified-Since": earlier, "Range": "bytes=0-9"}):
        with client.get("/dumps/makerkg.ttl", headers=headers) as refused:
            assert refused.status_code == 412, headers
            assert refused.get_data(as_text=True) == (
                "412 Precondition Failed: If-Unmodified-Since: this representation was last modified later, at "
                f"{modified}\n"
            )
    for since in (modified, "Sat, 01 Jan 2050 00:00:00 GMT", "yesterday"):
        with client.get("/dumps/makerkg.ttl", headers={"If-Unmodified-Since": since}) as kept:
            assert (kept.status_code, kept.data) == (200, body), since
    with client.get("/dumps/makerkg.ttl", headers={"If-Unmodified-Since": earlier, "If-Match": etag}) as matched:
        assert (matched.status_code, matched.data) == (200, body)
    with client.get("/org/miit", headers={"If-Unmodified-Since": earlier}) as page:
        assert page.status_code == 200 and "Last-Modified" not in page.headers


@pytest.mark.parametrize("path", ["/dumps/makerkg.ttl", "/org/miit"])
def test_if_none_match_is_read_once_if_match_has_passed(client: FlaskClient, path: str) -> None:
    """RFC 9110 (13.2.2): both matching is a 304 (Werkzeug's reading made it a 412, then a 200 with the whole file)."""
    with client.get(path) as plain:
        etag = plain.headers["ETag"]
    for if_match, if_none_match in ((etag, etag), ("*", "*"), ("*", etag)):
        with client.get(path, headers={"If-Match": if_match, "If-None-Match": if_none_match}) as both:
            assert (both.status_code, both.data) == (304, b""), (if_match, if_none_match)
    with client.get(path, headers={"If-Match": etag, "If-None-Match": '"other"'}) as changed:
        assert changed.status_code == 200 and changed.data


def test_an_upper_case_forwarded_scheme_is_read_as_its_lower_case(apps: list[Flask], built: BuildResult) -> None:
    client = app_with(apps, built, trusted_proxies=1)
    response = client.get("/api/openapi.json", headers={"X-Forwarded-Proto": "HTTPS", "X-Forwarded-Host": "kg.test"})
    assert response.status_code == 200
    assert response.get_json()["servers"] == [{"url": "https://kg.test"}]


def test_the_access_log_escapes_what_a_terminal_would_act_on() -> None:
    """C1 controls (CSI, OSC) and line separators in the target or a header, and a trusted proxy's
    X-Forwarded-For entry that is no address (which would forge the line's first fields)."""
    path = "/x\u009b31m\u2028\u0085".encode().decode("latin-1")  # WSGI's reading of the bytes sent
    environ = {"REMOTE_ADDR": '6.6.6.6 - - [x] "GET /admin"', "REQUEST_METHOD": "GET", "PATH_INFO": path,
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": "a\u009db"}  # fmt: skip
    text = access_line(environ, 200, 1, 0.001, "/x", "text")
    assert text.startswith('"6.6.6.6 - - [x] \\"GET /admin\\"" - - [')
    assert '"GET /x\\u009b31m\\u2028\\u0085 HTTP/1.1" 200 1 "" "a\\u009db"' in text
    line = access_line(environ, 200, 1, 0.001, "/x", "json")
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", line + text)
    assert json.loads(line)["target"] == "/x\u009b31m\u2028\u0085"


# --- a build without dumps ----------------------------------------------------------------------------------------


@pytest.fixture
def without_dumps(built: BuildResult, tmp_path: Path) -> Iterator[FlaskClient]:
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    shutil.rmtree(current(out).path / "dumps")
    app = make_app(out)
    yield app.test_client()
    app.extensions["makerkg"].close()


def test_a_build_without_dumps_lists_none_and_serves_the_rest(without_dumps: FlaskClient) -> None:
    """Regression (issue 11): a build without dumps/ answered 500 on /dumps/."""
    listing = without_dumps.get("/dumps/", headers={"Accept": "application/json"})
    assert listing.status_code == 200
    assert listing.get_json()["files"] == []
    page = without_dumps.get("/dumps/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "This build has no dumps." in page.get_data(as_text=True)
    assert without_dumps.get("/dumps/makerkg.ttl").status_code == 404
    void = without_dumps.get("/.well-known/void", headers={"Accept": "text/turtle"})
    assert void.status_code == 200
    g = Graph().parse(data=void.get_data(as_text=True), format="turtle")
    assert list(g.subjects(RDF.type, DCAT.Distribution)) == []
    assert (None, DCAT.accessService, None) in g
    assert without_dumps.get(NAMED).status_code == 200


def test_a_dump_listed_but_gone_is_left_out(built: BuildResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    (current(out).path / "dumps" / "makerkg.nt.gz").unlink()
    app = make_app(out)
    try:
        client = app.test_client()
        names = {f["name"] for f in client.get("/dumps/", headers={"Accept": "application/json"}).get_json()["files"]}
        assert "makerkg.nt.gz" not in names and "makerkg.nt" in names and len(names) == 12
        assert client.get("/dumps/makerkg.nt.gz").status_code == 404
        with client.get("/dumps/makerkg.ttl.gz") as zipped:
            assert gzip.decompress(zipped.data).startswith(b"@prefix")
    finally:
        app.extensions["makerkg"].close()
