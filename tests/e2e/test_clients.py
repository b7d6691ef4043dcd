"""Every common client gets an answer from `makerkg serve`, with the headers it really sends: SPARQLWrapper in each
return format, rdflib's SPARQLStore, Node's fetch, curl, browsers; media-type parameters, charsets, wildcards, the
service's base IRI and predefined prefixes, the URL's bytes (issue 13)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import warnings
from http.client import HTTPConnection

import pytest
from rdflib import Graph, URIRef
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import (
    CSV,
    JSON,
    JSONLD,
    N3,
    POST,
    POSTDIRECTLY,
    RDFXML,
    TSV,
    TURTLE,
    URLENCODED,
    XML,
    SPARQLWrapper,
)

from makerkg.launch import Server
from tests.e2e.conftest import http

pytestmark = pytest.mark.e2e

BASE = "https://w3id.org/makerkg/"
ASK = "ASK { ?e a mkg:Edition ; mkg:ordinal 11 }"  # mkg: is predefined
DESCRIBE = f"DESCRIBE <{BASE}edition/8>"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SELECT_ONE = "SELECT ?n WHERE { <https://w3id.org/makerkg/edition/11> mkg:ordinal ?n }"


def get(server: Server, path: str, accept: str | None = None, **params: str) -> tuple[int, dict[str, str], bytes]:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    return http(server, path + query, headers={"Accept": accept} if accept is not None else {})


@pytest.mark.parametrize("fmt", [JSON, XML, CSV, TSV])
def test_sparqlwrapper_ask_in_each_results_format(server: Server, fmt: str) -> None:
    client = SPARQLWrapper(server.sparql)
    client.setQuery(ASK)
    client.setReturnFormat(fmt)
    result = client.queryAndConvert()
    if fmt == JSON:
        assert result == {"head": {}, "boolean": True}
    elif fmt == XML:
        assert result.getElementsByTagName("boolean")[0].firstChild.nodeValue == "true"
    else:
        assert result.decode().splitlines()[-1] == "true"


@pytest.mark.parametrize("fmt", [TURTLE, N3, XML, RDFXML, JSONLD])
def test_sparqlwrapper_describe_in_each_graph_format(server: Server, fmt: str) -> None:
    client = SPARQLWrapper(server.sparql)
    client.setQuery(DESCRIBE)
    client.setReturnFormat(fmt)
    result = client.queryAndConvert()
    graph = result if isinstance(result, Graph) else Graph().parse(data=result, format="turtle")
    assert (URIRef(BASE + "edition/8"), URIRef("https://w3id.org/makerkg/ontology#ordinal"), None) in graph


def test_sparqlwrapper_json_on_a_graph_query_gets_json_ld(server: Server) -> None:
    """SPARQLWrapper sends Accept: */* and format=json for JSON on DESCRIBE: that is JSON-LD, as application/json
    is (not a 406), which SPARQLWrapper reads by its Content-Type."""
    client = SPARQLWrapper(server.sparql)
    client.setQuery(DESCRIBE)
    client.setReturnFormat(JSON)
    with warnings.catch_warnings():  # SPARQLWrapper warns that JSON is not its format for DESCRIBE
        warnings.simplefilter("ignore", RuntimeWarning)
        response = client.query()
        assert response.info()["content-type"] == "application/ld+json; charset=utf-8"
        graph = response.convert()
    assert isinstance(graph, Graph)
    assert (URIRef(BASE + "edition/8"), URIRef("https://w3id.org/makerkg/ontology#ordinal"), None) in graph


def test_sparqlwrapper_by_post_with_url_encoded_and_direct_bodies(server: Server) -> None:
    for request in (POSTDIRECTLY, URLENCODED):
        client = SPARQLWrapper(server.sparql)
        client.setMethod(POST)
        client.setRequestMethod(request)
        client.setQuery(SELECT_ONE)
        client.setReturnFormat(JSON)
        bindings = client.queryAndConvert()["results"]["bindings"]
        assert bindings == [
            {"n": {"type": "literal", "datatype": "http://www.w3.org/2001/XMLSchema#integer", "value": "11"}}
        ]


@pytest.mark.parametrize("return_format", ["xml", "json"])
def test_rdflib_sparqlstore_select_and_ask(server: Server, return_format: str) -> None:
    graph = Graph(store=SPARQLStore(server.sparql, returnFormat=return_format))
    assert [int(row[0]) for row in graph.query(SELECT_ONE)] == [11]  # type: ignore[index]
    assert graph.query(ASK).askAnswer is True


def test_rdflib_sparqlstore_construct(server: Server) -> None:
    """With its default return format (rdflib asks for SPARQL XML or RDF/XML; with returnFormat="json" it asks a
    graph query for SPARQL JSON, which no graph can be)."""
    graph = Graph(store=SPARQLStore(server.sparql))
    built = graph.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ BIND(<{BASE}edition/8> AS ?s) ?s ?p ?o }}").graph
    assert built is not None and len(built) > 5
    assert all(str(s) == BASE + "edition/8" for s in built.subjects())


NODE_FETCH = """
const [url, accept] = process.argv.slice(1);
fetch(url, { headers: { Accept: accept } }).then(async (response) => {
  console.log(JSON.stringify({ status: response.status, type: response.headers.get("content-type"),
                               body: await response.text() }));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is installed with the editor's assets")
@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/sparql?query=" + urllib.parse.quote(SELECT_ONE), "application/sparql-results+json"),
        ("/sparql?query=" + urllib.parse.quote(DESCRIBE), "application/ld+json"),
        ("/edition/8", "application/ld+json"),
        ("/store?graph=" + urllib.parse.quote(BASE + "graph/ontology", safe=""), "application/ld+json"),
        ("/dataset", "application/ld+json"),
        ("/api/queries/provinces-without-regional?edition=8", "application/json"),
    ],
)
def test_a_plain_fetch_with_accept_application_json_gets_json(server: Server, path: str, media: str) -> None:
    """Node's fetch (undici, the WHATWG fetch a browser also runs) with Accept: application/json."""
    done = subprocess.run(  # noqa: S603 - node, on a script of this test, against 127.0.0.1
        ["node", "-e", NODE_FETCH, server.url + path, "application/json"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["status"] == 200 and answer["type"] == f"{media}; charset=utf-8"
    json.loads(answer["body"])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(
    ("path", "accept", "media"),
    [
        (f"/sparql?query={urllib.parse.quote(SELECT_ONE)}", "application/sparql-results+json; charset=utf-8", None),
        (f"/sparql?query={urllib.parse.quote(SELECT_ONE)}", "application/sparql-results+xml;charset=UTF-8", None),
        (f"/sparql?query={urllib.parse.quote(SELECT_ONE)}", "text/csv; charset=utf-8; header=present", None),
        (f"/sparql?query={urllib.parse.quote(DESCRIBE)}", "text/turtle; charset=utf-8", None),
        (f"/sparql?query={urllib.parse.quote(DESCRIBE)}", "application/n-triples; charset=utf-8", None),
        ("/sparql", "text/turtle;charset=utf-8", None),
        ("/edition/8", "application/ld+json; charset=utf-8", None),
        ("/store?default", "application/trig; charset=utf-8", None),
        ("/edition/8", "application/json; charset=utf-8", "application/ld+json"),
    ],
)
def test_curl_with_a_charset_in_accept(server: Server, path: str, accept: str, media: str | None) -> None:
    """Regression: `Accept: …; charset=utf-8` was a 406 (issue 13)."""
    done = subprocess.run(  # noqa: S603 - curl against 127.0.0.1
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{content_type}", "-H", f"Accept: {accept}",  # noqa: S607
         server.url + path],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    expected = media or accept.split(";", 1)[0]
    assert done.stdout == f"200 {expected}; charset=utf-8"


@pytest.mark.parametrize(
    ("accept", "query", "media"),
    [
        (CHROME, SELECT_ONE, "application/sparql-results+xml"),  # its application/xml;q=0.9, as Oxigraph reads it
        (FIREFOX, DESCRIBE, "application/rdf+xml"),
        (SAFARI, ASK, "application/sparql-results+xml"),
        ("*/*", SELECT_ONE, "application/sparql-results+json"),
        ("*/*", DESCRIBE, "text/turtle"),
        ("application/*", SELECT_ONE, "application/sparql-results+json"),
        ("text/*", SELECT_ONE, "text/csv"),
        ("text/*;q=0.5, */*;q=0.1", DESCRIBE, "text/turtle"),
        ("application/json", SELECT_ONE, "application/sparql-results+json"),
        ("application/json", DESCRIBE, "application/ld+json"),
        ("application/xml", DESCRIBE, "application/rdf+xml"),
        ("text/plain", DESCRIBE, "application/n-triples"),
        ("text/plain", SELECT_ONE, "text/csv"),
        ("", SELECT_ONE, "application/sparql-results+json"),
    ],
)
def test_browsers_wildcards_and_aliases(server: Server, accept: str, query: str, media: str) -> None:
    status, headers, _ = get(server, "/sparql", accept, query=query)
    assert status == 200 and headers["Content-Type"] == f"{media}; charset=utf-8"
    assert headers["Vary"] == "Accept, Accept-Encoding"


@pytest.mark.parametrize(
    "accept", ["image/png", "*/*;q=0", "text/csv;charset=latin-1", "application/sparql-results+json;q=0, text/html"]
)
def test_406_only_when_nothing_fits(server: Server, accept: str) -> None:
    status, _, body = get(server, "/sparql", accept, query=SELECT_ONE)
    assert status == 406
    assert b"application/sparql-results+json, application/sparql-results+xml, text/csv" in body


def test_a_browser_opening_the_endpoint_gets_the_editor(server: Server) -> None:
    connection = HTTPConnection(urllib.parse.urlsplit(server.url).netloc, timeout=30)
    connection.request("GET", "/sparql", headers={"Accept": CHROME})
    response = connection.getresponse()
    assert (response.status, response.getheader("Location")) == (303, "/query")
    connection.close()
    status, headers, body = get(server, "/sparql", CHROME)  # urllib follows it
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"SPARQL query editor" in body


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("SELECT (STR(<rel>) AS ?v) {}", BASE + "rel"),
        ("SELECT (STR(<edition/8>) AS ?v) {}", BASE + "edition/8"),
        ("SELECT (STR(<>) AS ?v) {}", BASE),
        ("SELECT (STR(<../x>) AS ?v) {}", "https://w3id.org/x"),
        ("BASE <http://example.org/a/> SELECT (STR(<rel>) AS ?v) {}", "http://example.org/a/rel"),
        ("SELECT (STR(schema:name) AS ?v) {}", "https://schema.org/name"),
        ("PREFIX schema: <http://schema.org/> SELECT (STR(schema:name) AS ?v) {}", "http://schema.org/name"),
    ],
)
def test_relative_iris_resolve_against_the_builds_base_and_a_querys_own_declarations_win(
    server: Server, query: str, value: str
) -> None:
    status, _, body = get(server, "/sparql", "application/sparql-results+json", query=query)
    assert status == 200, body
    assert json.loads(body)["results"]["bindings"] == [{"v": {"type": "literal", "value": value}}]


def test_a_relative_iri_names_the_builds_resources(server: Server) -> None:
    status, _, body = get(server, "/sparql", "application/sparql-results+json", query="ASK { <place/330100> ?p ?o }")
    assert status == 200 and json.loads(body)["boolean"] is True


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("query=ASK%7B%22%FF%22%7D", "query: not valid UTF-8 at byte 5 of the percent-decoded value"),
        ("query=ASK%7B%7D&default-graph-uri=http://a/%E6%9D", "default-graph-uri: not valid UTF-8 at byte 9"),
        ("query=ASK%7B%7D&format=%C0%AF", "format: not valid UTF-8 at byte 0"),
    ],
)
def test_invalid_utf8_in_the_query_string_is_400_naming_the_parameter(server: Server, raw: str, detail: str) -> None:
    """Regression: such bytes were decoded as U+FFFD and the query run (issue 13)."""
    status, _, body = http(server, f"/sparql?{raw}", headers={"Accept": "application/problem+json"})
    assert status == 400
    assert json.loads(body)["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("params", "accept", "media"),
    [
        ({"format": "json"}, "text/csv", "application/sparql-results+json"),
        ({"format": "application/sparql-results+json"}, "text/csv", "application/sparql-results+json"),
        ({"format": "csv", "output": "csv", "results": "csv"}, None, "text/csv"),
        ({"format": "tsv"}, "*/*;q=0", "text/tab-separated-values"),
        ({"format": ""}, "text/csv", "text/csv"),
    ],
)
def test_the_format_parameter_overrides_accept(
    server: Server, params: dict[str, str], accept: str | None, media: str
) -> None:
    status, headers, _ = get(server, "/sparql", accept, query=SELECT_ONE, **params)
    assert status == 200 and headers["Content-Type"] == f"{media}; charset=utf-8"
    assert ("Content-Location" in headers) == (not params["format"])


def test_content_location_names_the_url_of_the_negotiated_answer(server: Server) -> None:
    status, headers, body = get(server, "/sparql", "text/tab-separated-values", query=SELECT_ONE)
    assert status == 200
    location = headers["Content-Location"]
    assert location.startswith("/sparql?query=") and location.endswith("&format=tsv")
    assert http(server, location, headers={"Accept": "application/json"})[2] == body


def test_a_graph_store_request_for_an_outside_graph_fetches_nothing(
    server: Server, listener: tuple[int, list[bytes]]
) -> None:
    port, received = listener
    outside = urllib.parse.quote(f"http://127.0.0.1:{port}/graph", safe="")
    assert http(server, f"/store?graph={outside}")[0] == 404
    query = f"ASK {{ GRAPH <http://127.0.0.1:{port}/graph> {{ ?s ?p ?o }} }}"
    assert json.loads(get(server, "/sparql", None, query=query)[2])["boolean"] is False
    assert received == []
