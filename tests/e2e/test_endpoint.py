"""The running server, from real clients: SPARQLWrapper, rdflib's SPARQLStore and plain HTTP (issue 4)."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, JSONLD, N3, RDFXML, TSV, TURTLE, XML, SPARQLWrapper

from makerkg.launch import Server
from tests.e2e.conftest import REMOTE_STORES, http
from tests.facts import WITHOUT_REGIONAL
from tests.oracle import Oracle, text

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["embedded", *REMOTE_STORES])
def store_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, store_name: str, server: Server) -> Server:
    """Every test here runs against makerkg's embedded store, then against makerkg serving from each remote store
    (Oxigraph's server, Virtuoso), loaded with the same build (issue 16)."""
    if store_name == "embedded":
        return server
    served: Server = request.getfixturevalue(f"served_from_{store_name}")
    return served


SELECT = """PREFIX schema: <https://schema.org/>
PREFIX mkg: <https://w3id.org/makerkg/ontology#>
SELECT ?contest ?name ?place WHERE {
  ?contest mkg:contestKind mkg:ThematicContest ; schema:name ?name ; schema:location ?place .
}"""
CONSTRUCT = """PREFIX schema: <https://schema.org/>
PREFIX mkg: <https://w3id.org/makerkg/ontology#>
CONSTRUCT { ?c schema:name ?n ; schema:location ?p } WHERE {
  ?c mkg:contestKind mkg:RegionalContest ; schema:superEvent/mkg:ordinal 11 ; schema:name ?n ; schema:location ?p }"""


def expected_rows(store: Oracle) -> set[tuple[str, ...]]:
    return {tuple(text(t) for t in row) for row in store.query(SELECT).rows}


def expected_graph(store: Oracle) -> set[tuple[str, str, str]]:
    return {(t.subject.value, t.predicate.value, text(t.object)) for t in store.query(CONSTRUCT).triples}  # type: ignore[union-attr]


def test_sparqlwrapper_json(server: Server, store: Oracle) -> None:
    client = SPARQLWrapper(server.sparql)
    client.setQuery(SELECT)
    client.setReturnFormat(JSON)
    result = client.queryAndConvert()
    rows = {tuple(b[v]["value"] for v in ("contest", "name", "place")) for b in result["results"]["bindings"]}
    assert rows == expected_rows(store)
    assert len(rows) == 30


def test_sparqlwrapper_xml(server: Server, store: Oracle) -> None:
    client = SPARQLWrapper(server.sparql)
    client.setQuery(SELECT)
    client.setReturnFormat(XML)
    document = client.queryAndConvert()
    rows = set()
    for result in document.getElementsByTagName("result"):
        cells = {
            b.getAttribute("name"): b.firstChild.firstChild.nodeValue for b in result.getElementsByTagName("binding")
        }
        rows.add((cells["contest"], cells["name"], cells["place"]))
    assert rows == expected_rows(store)


@pytest.mark.parametrize(("fmt", "delimiter"), [(CSV, ","), (TSV, "\t")])
def test_sparqlwrapper_csv_and_tsv(server: Server, store: Oracle, fmt: str, delimiter: str) -> None:
    client = SPARQLWrapper(server.sparql)
    client.setQuery(SELECT)
    client.setReturnFormat(fmt)
    data = client.queryAndConvert()
    if fmt == TSV:  # TSV carries terms in Turtle syntax, unquoted
        lines = [line.split(delimiter) for line in data.decode("utf-8").splitlines()]
        assert lines[0] == ["?contest", "?name", "?place"]
        rows = {(c.strip("<>"), Literal_value(n), p.strip("<>")) for c, n, p in lines[1:]}
    else:
        lines = list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter=delimiter))
        assert lines[0] == ["contest", "name", "place"]
        rows = {tuple(line) for line in lines[1:]}
    assert rows == expected_rows(store)


def Literal_value(turtle: str) -> str:  # noqa: N802 - reads a Turtle literal such as "…"@zh
    body, _, _ = turtle.rpartition("@")
    return json.loads(body)


@pytest.mark.parametrize("fmt", [TURTLE, RDFXML, JSONLD, XML, N3])
def test_sparqlwrapper_construct(server: Server, store: Oracle, fmt: str) -> None:
    client = SPARQLWrapper(server.sparql)
    client.setQuery(CONSTRUCT)
    client.setReturnFormat(fmt)
    result = client.queryAndConvert()
    graph = result if isinstance(result, Graph) else Graph().parse(data=result, format="turtle")
    triples = {(str(s), str(p), str(o)) for s, p, o in graph}
    assert triples == expected_graph(store)
    assert len(triples) == 70


def test_n_triples_by_negotiation(server: Server, store: Oracle) -> None:
    query = urllib.parse.urlencode({"query": CONSTRUCT})
    status, headers, body = http(server, f"/sparql?{query}", headers={"Accept": "application/n-triples"})
    assert status == 200 and headers["Content-Type"].startswith("application/n-triples")
    triples = {(str(s), str(p), str(o)) for s, p, o in Graph().parse(data=body, format="nt")}
    assert triples == expected_graph(store)


def test_rdflib_sparqlstore(server: Server, store: Oracle) -> None:
    graph = Graph(store=SPARQLStore(server.sparql, returnFormat="json"))
    rows = {tuple(str(v) for v in row) for row in graph.query(SELECT)}  # type: ignore[union-attr]
    assert rows == expected_rows(store)
    assert (URIRef("https://w3id.org/makerkg/series"), None, None) in graph
    assert graph.query("ASK { ?s a <https://w3id.org/makerkg/ontology#Edition> }").askAnswer is True


@pytest.mark.parametrize(
    ("method", "content_type", "body"),
    [
        ("POST", "application/x-www-form-urlencoded", urllib.parse.urlencode({"query": SELECT}).encode()),
        ("POST", "application/sparql-query", SELECT.encode()),
    ],
)
def test_post_forms(server: Server, store: Oracle, method: str, content_type: str, body: bytes) -> None:
    status, _, data = http(
        server,
        "/sparql",
        data=body,
        method=method,
        headers={"Content-Type": content_type, "Accept": "application/sparql-results+json"},
    )
    assert status == 200
    bindings = json.loads(data)["results"]["bindings"]
    assert {tuple(b[v]["value"] for v in ("contest", "name", "place")) for b in bindings} == expected_rows(store)


def test_named_graphs_select_one_edition(server: Server) -> None:
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?c a <https://w3id.org/makerkg/ontology#Contest> }"
    for graph, expected in (
        ("https://w3id.org/makerkg/graph/edition/8", "50"),
        ("https://w3id.org/makerkg/graph/edition/11", "54"),
    ):
        query = urllib.parse.urlencode({"query": count, "default-graph-uri": graph})
        _, _, body = http(server, f"/sparql?{query}", headers={"Accept": "application/sparql-results+json"})
        assert json.loads(body)["results"]["bindings"][0]["n"]["value"] == expected
    from_query = count.replace("WHERE", "FROM <https://w3id.org/makerkg/graph/edition/8> WHERE")
    _, _, body = http(
        server,
        "/sparql?" + urllib.parse.urlencode({"query": from_query}),
        headers={"Accept": "application/sparql-results+json"},
    )
    assert json.loads(body)["results"]["bindings"][0]["n"]["value"] == "50"


TRIPLES = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def count_triples(server: Server) -> str:
    _, _, body = http(
        server,
        "/sparql?" + urllib.parse.urlencode({"query": TRIPLES}),
        headers={"Accept": "application/sparql-results+json"},
    )
    return str(json.loads(body)["results"]["bindings"][0]["n"]["value"])


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/sparql-update", b"INSERT DATA { <urn:x> <urn:y> <urn:z> }"),
        ("application/x-www-form-urlencoded", b"update=INSERT+DATA+%7B+%3Curn%3Ax%3E+%3Curn%3Ay%3E+%3Curn%3Az%3E+%7D"),
        ("application/x-www-form-urlencoded", b"query=INSERT+DATA+%7B+%3Curn%3Ax%3E+%3Curn%3Ay%3E+%3Curn%3Az%3E+%7D"),
        ("application/x-www-form-urlencoded", b"query=DROP+ALL"),
    ],
    ids=["sparql-update body", "update= form", "update as query=", "DROP ALL"],
)
def test_updates_are_refused_and_change_nothing(server: Server, content_type: str, body: bytes) -> None:
    before = count_triples(server)
    status, _, data = http(server, "/sparql", data=body, headers={"Content-Type": content_type})
    assert status == 403
    assert b"read-only" in data
    assert count_triples(server) == before


def test_no_outbound_requests(server: Server, listener: tuple[int, list[bytes]]) -> None:
    """SERVICE and updates are refused; graphs named by FROM, FROM NAMED or the protocol's parameters are selected
    from the dataset, never fetched: one it lacks is an empty graph (issue: every client works)."""
    port, received = listener
    outside = f"http://127.0.0.1:{port}/data"
    refused = [
        f"SELECT * WHERE {{ SERVICE <{outside}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ BIND(<{outside}> AS ?x) SERVICE ?x {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ OPTIONAL {{ SERVICE SILENT <{outside}> {{ ?s ?p ?o }} }} }}",
        f"LOAD <{outside}>",
    ]
    selected = [
        f"SELECT * FROM <{outside}> WHERE {{ ?s ?p ?o }}",
        f"SELECT * FROM NAMED <{outside}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}",
    ]
    statuses = []
    for query in refused:
        status, _, _ = http(server, "/sparql?" + urllib.parse.urlencode({"query": query}))
        statuses.append(status)
    answers = []
    for query in selected:
        status, _, body = http(server, "/sparql?" + urllib.parse.urlencode({"query": query}))
        answers.append((status, json.loads(body)["results"]["bindings"]))
    for param in ("default-graph-uri", "named-graph-uri"):
        query = (
            "SELECT * WHERE { ?s ?p ?o }"
            if param == "default-graph-uri"
            else "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }"
        )
        status, _, body = http(server, "/sparql?" + urllib.parse.urlencode({"query": query, param: outside}))
        answers.append((status, json.loads(body)["results"]["bindings"]))
    time.sleep(0.5)
    assert received == []
    assert statuses == [403, 403, 403, 403]
    assert answers == [(200, [])] * 4


# A remote store's own message, passed on as the store gives it (with the line the query has it on)
SYNTAX_ERRORS = {
    "embedded": (
        "query: SPARQL syntax error at line 4, column 2: found the end of the text, "
        "expected ABS, AVG, DAY, IRI, MAX, MIN, NOT, NOW, STR, SUM or more text"
    ),
    "oxigraph": (
        "query: the store says: error at 4:2: expected one of ABS, AVG, DAY, IRI, MAX, MD5, MIN, NOT, NOW, STR, SUM, "
        "URI, [_]"
    ),
    "virtuoso": "query: the store says: Virtuoso 37000 Error SP030: SPARQL compiler, line 0: Parentheses are not "
    "balanced at '}'",
}


def test_malformed_query_gets_400_with_message_and_position(server: Server, store_name: str) -> None:
    query = "SELECT ?s WHERE {\n  ?s ?p ?o\n  FILTER(\n}"
    status, headers, body = http(
        server, "/sparql?" + urllib.parse.urlencode({"query": query}), headers={"Accept": "application/problem+json"}
    )
    assert status == 400
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["parameter"] == "query"
    assert problem["detail"].split("\n")[0] == SYNTAX_ERRORS[store_name]
    assert b"Traceback" not in body


def test_406_lists_the_types_on_offer(server: Server) -> None:
    status, _, body = http(
        server, "/sparql?" + urllib.parse.urlencode({"query": SELECT}), headers={"Accept": "image/png"}
    )
    assert status == 406
    for media in (
        "application/sparql-results+json",
        "application/sparql-results+xml",
        "text/csv",
        "text/tab-separated-values",
    ):
        assert media.encode() in body


def test_oversized_request_gets_413(server: Server) -> None:
    query = "SELECT * WHERE { ?s ?p ?o } #" + "x" * 200_000
    status, _, body = http(server, "/sparql", data=query.encode(), headers={"Content-Type": "application/sparql-query"})
    assert status == 413
    assert body == b"413 Content Too Large: the request is larger than the limit of 100000 bytes (max_request_bytes)\n"


def test_a_reconciliation_batch_over_its_size_is_told_so(server: Server) -> None:
    """The app's own 413 passes nginx with what it is about (nginx's, naming the request's bytes, took its place)."""
    batch = {f"q{i}": {"query": "工信部"} for i in range(101)}
    form = urllib.parse.urlencode({"queries": json.dumps(batch)}).encode()
    status, _, body = http(
        server, "/reconcile", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert len(form) < 10_000 and status == 413
    assert b"batch" in body and b"batchSize" in body and b"max_request_bytes" not in body
    fields = "query=ASK%7B%7D&" + "&".join(f"default-graph-uri=urn:g:{n}" for n in range(1001))  # 25 kB
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # the app's other 413, within nginx's bytes
    status, _, body = http(server, "/sparql", data=fields.encode(), headers=form)
    assert status == 413 and b"1000" in body and b"max_request_bytes" not in body


def test_row_cap_says_the_result_was_cut(server: Server) -> None:
    status, headers, body = http(
        server,
        "/sparql?" + urllib.parse.urlencode({"query": "SELECT * WHERE { ?s ?p ?o }"}),
        headers={"Accept": "application/sparql-results+json"},
    )
    assert status == 200
    assert headers["Makerkg-Result-Truncated"] == "max_rows=500"
    document = json.loads(body)
    assert len(document["results"]["bindings"]) == 500
    assert document["head"]["link"] == ["urn:makerkg:result-truncated"]


def test_service_description(server: Server) -> None:
    status, headers, body = http(server, "/sparql", headers={"Accept": "text/turtle"})
    assert status == 200 and headers["Content-Type"].startswith("text/turtle")
    sd = Graph().parse(data=body, format="turtle")
    SD = "http://www.w3.org/ns/sparql-service-description#"
    assert (None, URIRef(SD + "endpoint"), URIRef(server.sparql)) in sd
    names = {str(o) for o in sd.objects(None, URIRef(SD + "name"))}
    assert "https://w3id.org/makerkg/graph/edition/8" in names and len(names) == 4


def test_cors_and_etag(server: Server) -> None:
    status, headers, _ = http(
        server,
        "/sparql",
        method="OPTIONS",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    # the resource's own methods, as its Allow says; no body, so no media type and no content coding
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS, POST"
    assert "Content-Type" not in headers and "Content-Encoding" not in headers
    preflight = {"Origin": "https://example.org", "Access-Control-Request-Method": "PUT", "Accept-Encoding": "br"}
    status, headers, body = http(server, "/store?default", method="OPTIONS", headers=preflight)
    assert (status, body) == (200, b"") and headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert "Content-Type" not in headers and "Content-Encoding" not in headers
    path = "/api/queries/provinces-without-regional?edition=8"
    status, headers, _ = http(server, path, headers={"Origin": "https://example.org"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    status, _, body = http(server, path, headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


def test_timeout_stops_the_query_while_others_are_served(server: Server) -> None:
    explosive = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    cheap = "/api/queries/provinces-without-regional?edition=11"
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        slow = pool.submit(http, server, "/sparql?" + urllib.parse.urlencode({"query": explosive}))
        time.sleep(0.5)
        fast = pool.submit(http, server, cheap)
        status, _, body = fast.result()
        cheap_done = time.monotonic() - started
        assert status == 200 and "宁夏回族自治区" in body.decode()
        status, _, body = slow.result()
        elapsed = time.monotonic() - started
    assert cheap_done < elapsed
    assert status == 503
    assert body.decode().startswith(
        "503 Service Unavailable: the query ran longer than the limit of 3 s (query_timeout)"
    )
    assert 2.5 < elapsed < 15
    status, _, _ = http(server, cheap)  # the stopped worker was replaced
    assert status == 200


def test_openapi_describes_every_named_query(server: Server) -> None:
    _, _, body = http(server, "/api/openapi.json")
    document = json.loads(body)
    assert document["openapi"].startswith("3.")
    _, _, listing = http(server, "/api/queries")
    names = [q["name"] for q in json.loads(listing)["queries"]]
    assert sorted(p.rsplit("/", 1)[1] for p in document["paths"] if p.startswith("/api/queries/")) == sorted(names)
    region = document["paths"]["/api/queries/region-hosts"]["get"]
    assert [p["name"] for p in region["parameters"]] == ["a", "b", "region", "format", "bom"]  # bom: issue 15
    assert region["parameters"][0]["schema"] == {"type": "integer", "minimum": 1, "maximum": 999999, "default": 8}


def test_named_query_csv(server: Server) -> None:
    status, headers, body = http(
        server, "/api/queries/provinces-without-regional?edition=8", headers={"Accept": "text/csv"}
    )
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.decode().splitlines() == [
        "province,name",
        *(f"https://w3id.org/makerkg/place/{code},{name}" for code, name in WITHOUT_REGIONAL.items()),
    ]


def test_unknown_route_and_method(server: Server) -> None:
    status, _, body = http(server, "/nothing-here")
    assert status == 404 and b"Traceback" not in body
    status, headers, _ = http(server, "/sparql", method="DELETE")
    assert status == 405 and "GET" in headers["Allow"]


def test_literals_in_results_keep_language(server: Server) -> None:
    query = (
        "SELECT ?n WHERE { <https://w3id.org/makerkg/place/330100> <http://www.w3.org/2004/02/skos/core#prefLabel> ?n }"
    )
    graph = Graph(store=SPARQLStore(server.sparql))
    labels = {(str(n), n.language) for (n,) in graph.query(query)}  # type: ignore[union-attr]
    assert labels == {("杭州市", "zh"), ("Hangzhou", "en")}
    assert Literal("杭州市", lang="zh") in {n for (n,) in graph.query(query)}  # type: ignore[union-attr]
