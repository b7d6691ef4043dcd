"""The per-build answer cache, compression and caching headers (issue "Answer any query at Oxigraph's own speed")."""

from __future__ import annotations

import base64
import gzip
import hashlib
import urllib.parse
from collections.abc import Iterator

import brotli
import pytest
from flask import Flask
from flask.testing import FlaskClient

from makerkg.config import load
from makerkg.pipeline import BuildResult
from makerkg.web import create_app
from makerkg.web.cache import AnswerCache, Entry

QUERY = "SELECT ?name WHERE { ?c a <https://w3id.org/makerkg/ontology#Contest> ; <https://schema.org/name> ?name } ORDER BY ?name"
JSON = {"Accept": "application/sparql-results+json"}


@pytest.fixture
def app(built: BuildResult) -> Iterator[Flask]:
    """An app of its own for each test: an empty cache, keeping answers of 200 kB at most."""
    application = create_app(load(env={}, out=built.build.path.parent.parent, cache_entry_bytes=200_000))
    yield application
    application.extensions["makerkg"].close()


def get(client: FlaskClient, query: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    response = client.get("/sparql?" + urllib.parse.urlencode({"query": query}), headers=headers)
    return response.status_code, dict(response.headers), response.get_data()


def test_the_same_request_is_answered_from_the_cache(app: Flask) -> None:
    client = app.test_client()
    first = get(client, QUERY, JSON)
    second = get(client, QUERY, JSON)
    assert (first[0], second[0]) == (200, 200)
    assert first[1]["Cache-Status"] == "makerkg; fwd=miss; stored"
    assert second[1]["Cache-Status"] == "makerkg; hit"
    assert second[2] == first[2] and second[1]["ETag"] == first[1]["ETag"]
    assert second[1]["Content-Type"] == first[1]["Content-Type"] == "application/sparql-results+json; charset=utf-8"


def test_another_media_type_or_text_is_another_answer(app: Flask) -> None:
    client = app.test_client()
    get(client, QUERY, JSON)
    assert get(client, QUERY, {"Accept": "text/csv"})[1]["Cache-Status"] == "makerkg; fwd=miss; stored"
    assert get(client, QUERY + " LIMIT 3", JSON)[1]["Cache-Status"] == "makerkg; fwd=miss; stored"


def test_a_posted_query_is_kept_by_its_text(app: Flask) -> None:
    client = app.test_client()
    post = {"data": QUERY.encode(), "headers": {**JSON, "Content-Type": "application/sparql-query"}}
    first = client.post("/sparql", **post)  # type: ignore[arg-type]
    second = client.post("/sparql", **post)  # type: ignore[arg-type]
    assert second.headers["Cache-Status"] == "makerkg; hit" and second.get_data() == first.get_data()


@pytest.mark.parametrize("call", ["NOW()", "RAND()", "UUID()", "struuid()"])
def test_an_answer_of_the_run_s_own_values_is_never_kept(app: Flask, call: str) -> None:
    """NOW() is the run's time, RAND(), UUID() and STRUUID() new at each call (SPARQL 1.1, 17.4): such an answer is
    kept by no cache (``no-store``, no ETag), and the same text asked again is run again."""
    client = app.test_client()
    query = f"SELECT ?v WHERE {{ BIND({call} AS ?v) }}"
    first, second = get(client, query, JSON), get(client, query, JSON)
    for status, headers, _ in (first, second):
        assert status == 200 and headers["Cache-Control"] == "no-store" and "ETag" not in headers
        assert "Cache-Status" not in headers  # neither a hit nor stored
    assert first[2] != second[2]
    post = {"data": query.encode(), "headers": {**JSON, "Content-Type": "application/sparql-query"}}
    assert client.post("/sparql", **post).get_data() != client.post("/sparql", **post).get_data()  # type: ignore[arg-type]


def test_a_conditional_request_on_a_kept_answer_is_a_304(app: Flask) -> None:
    client = app.test_client()
    _, headers, _ = get(client, QUERY, JSON)
    response = client.get(
        "/sparql?" + urllib.parse.urlencode({"query": QUERY}), headers={**JSON, "If-None-Match": headers["ETag"]}
    )
    assert response.status_code == 304


def test_no_cache_asks_for_a_fresh_answer(app: Flask) -> None:
    client = app.test_client()
    get(client, QUERY, JSON)
    assert get(client, QUERY, {**JSON, "Cache-Control": "no-cache"})[1]["Cache-Status"] == "makerkg; fwd=miss; stored"


def test_an_answer_larger_than_an_entry_is_not_kept(app: Flask) -> None:
    client = app.test_client()
    big = "SELECT * WHERE { ?s ?p ?o }"
    first, second = get(client, big, JSON), get(client, big, JSON)
    assert len(first[2]) > 200_000
    assert "Cache-Status" not in first[1] and "Cache-Status" not in second[1]


def test_live_figures_are_never_kept(app: Flask) -> None:
    client = app.test_client()
    client.get("/health")
    assert "Cache-Status" not in client.get("/health").headers


def test_the_cache_is_bounded_in_bytes_and_emptied_by_a_new_build() -> None:
    cache = AnswerCache(max_bytes=1000, max_entry=600)
    cache.put(("build-1", b"/a"), Entry(200, (), b"a" * 400))
    cache.put(("build-1", b"/b"), Entry(200, (), b"b" * 400))
    assert len(cache) == 2 and cache.bytes <= 1000
    cache.put(("build-1", b"/c"), Entry(200, (), b"c" * 400))  # over the bound: the least recently used goes
    assert cache.get(("build-1", b"/a")) is None and len(cache) == 2
    cache.put(("build-1", b"/d"), Entry(200, (), b"d" * 700))  # larger than an entry may be
    assert cache.get(("build-1", b"/d")) is None
    cache.put(("build-2", b"/a"), Entry(200, (), b"a"))
    assert len(cache) == 1 and cache.get(("build-1", b"/b")) is None


@pytest.mark.parametrize("path", ["/api/queries", "/api/openapi.json", "/sparql", "/reconcile"])
def test_an_answer_made_for_one_host_never_reaches_a_client_of_another(app: Flask, path: str) -> None:
    """Links in these answers are built on the request's host (no public_url): an attacker's Host header must not
    put its host into what the cache gives everyone else."""
    client = app.test_client()
    for _ in range(3):
        poisoned = client.get(path, headers={"Host": "evil.example"})
        assert poisoned.status_code == 200 and b"evil.example" in poisoned.get_data()
    honest = client.get(path, headers={"Host": "kg.example.org"})
    assert honest.status_code == 200 and b"evil.example" not in honest.get_data()
    assert b"kg.example.org" in honest.get_data()
    assert client.get(path, headers={"Host": "kg.example.org"}).headers["Cache-Status"] == "makerkg; hit"


def test_distinct_posted_bodies_are_kept_within_the_bound(built: BuildResult) -> None:
    """A key once held the whole POSTed body, outside the byte bound: 100 kB a distinct request, without end."""
    application = create_app(load(env={}, out=built.build.path.parent.parent, cache_bytes=200_000))
    client, cache = application.test_client(), application.extensions["makerkg.cache"]
    padding = "x" * 90_000
    for n in range(12):
        body = f"ASK {{}} # {n} {padding}".encode()
        answered = client.post("/sparql", data=body, headers={**JSON, "Content-Type": "application/sparql-query"})
        assert answered.status_code == 200
    assert len(cache) == 12 and cache.bytes <= 200_000
    assert sum(len(key[1]) for key in cache._entries) == 12 * 20  # fixed-size keys, whatever the bodies
    application.extensions["makerkg"].close()


def test_a_request_saying_no_store_leaves_nothing(app: Flask) -> None:
    client = app.test_client()
    first = get(client, QUERY, {**JSON, "Cache-Control": "no-store"})
    assert first[0] == 200 and "Cache-Status" not in first[1]
    assert get(client, QUERY, JSON)[1]["Cache-Status"] == "makerkg; fwd=miss; stored"


@pytest.mark.parametrize(("coding", "decode"), [("br", brotli.decompress), ("gzip", gzip.decompress)])
def test_answers_are_compressed_when_the_client_asks(app: Flask, coding: str, decode: object) -> None:
    client = app.test_client()
    plain = get(client, QUERY, JSON)[2]
    _, headers, body = get(client, QUERY, {**JSON, "Accept-Encoding": coding})
    assert headers["Content-Encoding"] == coding and "Accept-Encoding" in headers["Vary"]
    assert decode(body) == plain  # type: ignore[operator]
    assert len(body) < len(plain) / 3


@pytest.mark.parametrize("path", ["/org/miit", "/sparql?query=" + urllib.parse.quote(QUERY), "/store?default"])
def test_each_content_coding_is_a_representation_with_its_own_etag(app: Flask, path: str) -> None:
    """RFC 9110 (8.8.3): a strong ETag names one representation, and a compressed answer is another one; each
    answers its own ETag with a 304 (pages and query answers had the same ETag in every coding)."""
    client = app.test_client()
    etags, accept = {}, JSON if path.startswith("/sparql") else {}
    for coding in ("identity", "br", "gzip"):
        with client.get(path, headers={**accept, "Accept-Encoding": coding}) as response:
            assert response.status_code == 200 and response.get_data()
            etags[coding] = response.headers["ETag"]
        with client.get(path, headers={**accept, "Accept-Encoding": coding, "If-None-Match": etags[coding]}) as again:
            assert again.status_code == 304, coding
    assert etags["br"] == etags["identity"][:-1] + ':br"' and etags["gzip"] == etags["identity"][:-1] + ':gzip"'


@pytest.mark.parametrize(
    ("path", "accept"), [("/dumps/makerkg.nt", "*/*"), ("/store?default", "application/n-triples")]
)
def test_a_build_s_file_is_sent_as_it_is_whatever_the_client_accepts(app: Flask, path: str, accept: str) -> None:
    """A dump, and the default graph's N-Triples (the build's union.nt), are sent as their files are, in no content
    coding: their ranges, ETags and Repr-Digest are the file's, a client taking br revalidates them with a 304 (the
    file's ETag with :br, added after the file answer had checked its own, never matched: 200 or 412), and the
    server compresses no dump again for each client (each has its .gz beside it)."""
    client = app.test_client()
    with client.get(path, headers={"Accept": accept}) as plain:
        body, etag, digest = plain.get_data(), plain.headers["ETag"], plain.headers.get("Repr-Digest")
    if digest is not None:
        assert digest == f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"
    packed = {"Accept": accept, "Accept-Encoding": "br, gzip, zstd"}
    with client.get(path, headers=packed) as response:
        assert "Content-Encoding" not in response.headers and response.get_data() == body
        assert response.headers["ETag"] == etag and response.headers.get("Repr-Digest") == digest
    with client.get(path, headers={**packed, "If-None-Match": etag}) as again:
        assert again.status_code == 304
    with client.get(path, headers={**packed, "If-Match": etag, "Range": "bytes=0-9"}) as part:
        assert part.status_code == 206 and part.get_data() == body[:10]


def test_the_editor_script_is_sent_compressed(app: Flask) -> None:
    client = app.test_client()
    plain = client.get("/static/vendor/yasgui/yasgui.min.js").get_data()
    packed = client.get("/static/vendor/yasgui/yasgui.min.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "br" and brotli.decompress(packed.get_data()) == plain
    assert len(packed.get_data()) < len(plain) / 3
    assert packed.headers["Cache-Control"] == "public, max-age=86400"


def test_pages_and_answers_may_be_reused_for_five_minutes(app: Flask) -> None:
    client = app.test_client()
    for path in ("/org/miit", "/api/queries/provinces-without-regional?edition=8", "/"):
        assert client.get(path).headers["Cache-Control"] == "public, max-age=300", path


def test_a_head_request_never_leaves_an_empty_answer_for_get(app: Flask) -> None:
    client = app.test_client()
    url = "/sparql?" + urllib.parse.urlencode({"query": QUERY})
    assert client.head(url, headers=JSON).status_code == 200
    response = client.get(url, headers=JSON)
    assert response.headers["Cache-Status"] == "makerkg; fwd=miss; stored" and len(response.get_data()) > 1000


def test_head_of_a_streamed_answer_says_what_get_says(client: FlaskClient, built: BuildResult) -> None:
    """An answer over 1 MiB streams without a length or an ETag; HEAD's headers are GET's (an outside check found
    Content-Length: 0 and an ETag on HEAD)."""
    url = "/sparql?" + urllib.parse.urlencode({"query": "SELECT * { ?s ?p ?o }"})
    got, head = client.get(url, headers=JSON), client.head(url, headers=JSON)
    assert got.is_streamed and len(got.get_data()) > 1 << 20
    for name in ("Content-Length", "ETag", "Content-Type"):
        assert head.headers.get(name) == got.headers.get(name), name
    assert head.get_data() == b""
