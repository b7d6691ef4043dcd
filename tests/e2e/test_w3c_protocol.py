"""The W3C SPARQL 1.1 Protocol tests and the Graph Store Protocol tests (read side) as cases of makerkg's own,
against `makerkg serve` (issue 13).

Written from the test manifests of the W3C's rdf-tests repository (sparql/sparql11/protocol/manifest.ttl and
sparql/sparql11/graph-store-protocol/manifest-{direct,indirect}.ttl): every entry is one case below, named as the
manifest names it. The W3C tests load three small graphs (data1, data2, data3, each typing its own IRI); makerkg's
dataset is its build, so the cases use three of its named graphs in their place, each holding a statement no other
holds: edition 8's graph types the 8th edition, edition 11's the 11th, the ontology's the class mkg:Contest. The graph
the W3C tests name but never load (data0) is an IRI on a local listener, which records any attempt to fetch it.

makerkg is read-only: the W3C's update tests, which expect 2xx, are refused with 403 (the documented status) and
change nothing; the follow-up query of each then answers false. Graph Store writes (PUT, POST, DELETE) answer 405
with Allow; the reads of each Graph Store test run against the graphs of the build.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from dataclasses import dataclass, field

import pyoxigraph as ox
import pytest
from rdflib import Graph
from rdflib.compare import isomorphic

from makerkg.launch import Server
from makerkg.pipeline import BuildResult
from tests.e2e.conftest import http as fetch
from tests.oracle import graph_of

pytestmark = pytest.mark.e2e

BASE = "https://w3id.org/makerkg/"
DATA1, DATA2 = BASE + "edition/8", BASE + "edition/11"  # each typed in its own named graph only
DATA3 = "https://w3id.org/makerkg/ontology#Contest"  # typed (owl:Class) in the ontology graph only
GRAPH1, GRAPH2, GRAPH3 = BASE + "graph/edition/8", BASE + "graph/edition/11", BASE + "graph/ontology"
DATA0 = "{listener}/data0.rdf"  # a graph the dataset lacks, on the local listener
FORM = "application/x-www-form-urlencoded"
QUERY = "application/sparql-query"
UPDATE = "application/sparql-update"
BOOLEAN = ("application/sparql-results+json", "application/sparql-results+xml")
TABULAR = (*BOOLEAN, "text/csv", "text/tab-separated-values")
RDF = ("application/rdf+xml", "text/turtle", "application/n-triples")  # what the W3C test accepts (and RDFa)
READ_ONLY = b"read-only"


@dataclass(frozen=True)
class Request:
    """One HTTP request of a test: method, URL arguments (in order, repeats kept), body and headers."""

    method: str
    args: tuple[tuple[str, str], ...] = ()
    body: str | bytes | None = None
    content_type: str | None = None
    accept: str | None = None

    def send(self, server: Server, listener: int, path: str = "/sparql") -> tuple[int, dict[str, str], bytes]:
        """Send it as written: no header is added but Host and Content-Length (urllib would add a form
        Content-Type to a body without one)."""
        args = [(name, value.replace("{listener}", f"http://127.0.0.1:{listener}")) for name, value in self.args]
        url = path + ("?" + urllib.parse.urlencode(args, quote_via=urllib.parse.quote) if args else "")
        headers = {k: v for k, v in (("Content-Type", self.content_type), ("Accept", self.accept)) if v is not None}
        data = self.body.encode() if isinstance(self.body, str) else self.body
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(server.url).netloc, timeout=30)
        try:
            connection.request(self.method, url, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.headers), response.read()
        finally:
            connection.close()


@dataclass(frozen=True)
class Case:
    """A protocol test: the request, the status (or the first digit of it) and what the answer must hold."""

    request: Request
    status: int
    form: str | None = None  # boolean, tabular, RDF
    boolean: bool | None = None
    then: tuple[Request, bool] | None = None  # a query sent next, and its ASK answer
    triples: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)


def ask(query: str, *args: tuple[str, str]) -> Request:
    return Request("GET", (("query", query), *args))


def posted(query: str, *args: tuple[str, str]) -> Request:
    return Request("POST", args, query, QUERY)


BOTH_TYPED = f"ASK {{ <{DATA1}> a ?type . <{DATA2}> a ?type . }}"
BOTH_NAMED = f"ASK {{ GRAPH ?g1 {{ <{DATA1}> a ?type }} GRAPH ?g2 {{ <{DATA2}> a ?type }} }}"
FULL = f"ASK {{\n  <{DATA3}> a ?class\n  GRAPH ?g1 {{ <{DATA1}> a ?type }}\n  GRAPH ?g2 {{ <{DATA2}> a ?type }}\n}}"
DEFAULT1, DEFAULT2, DEFAULT3 = (("default-graph-uri", g) for g in (GRAPH1, GRAPH2, GRAPH3))
NAMED1, NAMED2 = (("named-graph-uri", g) for g in (GRAPH1, GRAPH2))
ABSENT = ("default-graph-uri", DATA0)
UPDATED = "http://example.org/protocol-update-dataset-test/"
INSERT = f"INSERT DATA {{ GRAPH <{UPDATED}> {{ <{DATA1}> a <http://purl.org/dc/terms/BibliographicResource> }} }}"
WAS_UPDATED = Request("POST", (), f"ASK {{ GRAPH <{UPDATED}> {{ ?s ?p ?o }} }}", QUERY)

# The protocol manifest's 34 entries, in its order.
PROTOCOL = {
    "query_post_form": Case(Request("POST", (ABSENT,), "query=ASK%20%7B%7D", FORM), 2, "boolean", True),
    "query_dataset_default_graphs_get": Case(ask(BOTH_TYPED, DEFAULT1, DEFAULT2), 2, "boolean", True),
    "query_dataset_default_graphs_post": Case(posted(BOTH_TYPED, DEFAULT1, DEFAULT2), 2, "boolean", True),
    "query_dataset_named_graphs_post": Case(posted(BOTH_NAMED, NAMED1, NAMED2), 2, "boolean", True),
    "query_dataset_named_graphs_get": Case(ask(BOTH_NAMED, NAMED1, NAMED2), 2, "boolean", True),
    "query_dataset_full": Case(posted(FULL, DEFAULT3, NAMED1, NAMED2), 2, "boolean", True),
    "query_multiple_dataset": Case(
        posted(BOTH_NAMED.replace("ASK {", f"ASK FROM <{GRAPH3}> {{", 1), NAMED1, NAMED2), 2, "boolean", True
    ),
    "query_get": Case(ask("ASK {}", ABSENT), 2, "boolean", True),
    "query_content_type_select": Case(posted("SELECT (1 AS ?value) {}", ABSENT), 2, "tabular"),
    "query_content_type_ask": Case(posted("ASK {}", ABSENT), 2, "boolean", True),
    "query_content_type_describe": Case(posted("DESCRIBE <http://example.org/>", ABSENT), 2, "RDF"),
    "query_content_type_construct": Case(
        posted("CONSTRUCT { <s> <p> 1 } WHERE {}", ABSENT),
        2,
        "RDF",
        triples=frozenset({(BASE + "s", BASE + "p", "1")}),  # relative IRIs resolve against the build's base
    ),
    "update_dataset_default_graph": Case(
        Request("POST", (("using-graph-uri", GRAPH1),), f"CLEAR ALL ; {INSERT}", UPDATE), 403, then=(WAS_UPDATED, False)
    ),
    "update_dataset_default_graphs": Case(
        Request("POST", (("using-graph-uri", GRAPH1), ("using-graph-uri", GRAPH2)), f"DROP ALL ; {INSERT}", UPDATE),
        403,
        then=(WAS_UPDATED, False),
    ),
    "update_dataset_named_graphs": Case(
        Request("POST", (("using-named-graph-uri", GRAPH1),), f"DROP ALL ; {INSERT}", UPDATE),
        403,
        then=(WAS_UPDATED, False),
    ),
    "update_dataset_full": Case(
        Request("POST", (("using-graph-uri", GRAPH1), ("using-named-graph-uri", GRAPH2)), INSERT, UPDATE),
        403,
        then=(WAS_UPDATED, False),
    ),
    "update_post_form": Case(Request("POST", (), "update=CLEAR+ALL", FORM), 403),
    "update_post_direct": Case(Request("POST", (), "CLEAR ALL", UPDATE), 403),
    # the update half is refused; the query half asks what the service's base makes of a relative IRI
    "update_base_uri": Case(
        Request("POST", (), f"CLEAR SILENT GRAPH <{UPDATED}> ; {INSERT}", UPDATE),
        403,
        then=(posted('ASK { BIND(<test> AS ?o) FILTER(isIRI(?o) && STR(?o) != "test") }'), True),
    ),
    "query_post_direct": Case(posted("ASK {}"), 2, "boolean", True),
    "bad_query_method": Case(Request("PUT", (("query", "ASK {}"), ABSENT), "", FORM), 4),
    "bad_multiple_queries": Case(Request("GET", (("query", "ASK {}"), ("query", "SELECT * {}"))), 4),
    "bad_query_wrong_media_type": Case(Request("POST", (), "ASK {}", "text/plain"), 4),
    "bad_query_missing_form_type": Case(Request("POST", (), "query=ASK%20%7B%7D"), 4),
    "bad_query_missing_direct_type": Case(Request("POST", (), "ASK {}"), 4),
    "bad_query_non_utf8": Case(Request("POST", (), "ASK {}".encode("utf-16"), QUERY + "; charset=UTF-16"), 4),
    "bad_query_syntax": Case(Request("GET", (("query", "ASK {"),)), 4),
    "bad_update_get": Case(Request("GET", (("update", "CLEAR ALL"),)), 4),
    "bad_multiple_updates": Case(Request("POST", (), "update=CLEAR%20NAMED&update=CLEAR%20DEFAULT", FORM), 4),
    "bad_update_wrong_media_type": Case(Request("POST", (), "CLEAR NAMED", "text/plain"), 4),
    "bad_update_missing_form_type": Case(Request("POST", (), "update=CLEAR%20NAMED"), 4),
    "bad_update_non_utf8": Case(Request("POST", (), "CLEAR NAMED".encode("utf-16"), UPDATE + "; charset=UTF-16"), 4),
    "bad_update_syntax": Case(Request("POST", (), "update=CLEAR%20XYZ", FORM), 4),
    "bad_update_dataset_conflict": Case(
        Request(
            "POST",
            (("using-named-graph-uri", "http://example/people"),),
            "WITH <http://example/addresses> DELETE { ?p <urn:x:given> 'Bill' } WHERE { ?p <urn:x:given> 'Bill' }",
            UPDATE,
        ),
        4,
    ),
}

# Each dataset case again with one graph fewer: the answer turns false, so the graphs named are what is queried.
CONTROLS = {
    "default graphs: one of the two": Case(ask(BOTH_TYPED, DEFAULT1), 2, "boolean", False),
    "default graphs: none named is the whole merge": Case(ask(BOTH_TYPED), 2, "boolean", True),
    "named graphs: one of the two": Case(posted(BOTH_NAMED, NAMED1), 2, "boolean", False),
    "full: the default graph lacks DATA3": Case(posted(FULL, DEFAULT1, NAMED1, NAMED2), 2, "boolean", False),
    "FROM alone: no named graphs": Case(
        posted(BOTH_NAMED.replace("ASK {", f"ASK FROM <{GRAPH3}> {{", 1)), 2, "boolean", False
    ),
    "FROM NAMED selects as the protocol does": Case(
        posted(BOTH_NAMED.replace("ASK {", f"ASK FROM NAMED <{GRAPH1}> FROM NAMED <{GRAPH2}> {{", 1)),
        2,
        "boolean",
        True,
    ),
    "an absent graph is empty": Case(ask("ASK { ?s ?p ?o }", ABSENT), 2, "boolean", False),
}


def check(case: Case, status: int, headers: dict[str, str], body: bytes) -> None:
    """The answer is what the case expects: its status (class), its format and its value."""
    assert (status if case.status >= 100 else status // 100) == case.status, body[:300]
    if case.status == 403:
        assert READ_ONLY in body
    media = headers.get("Content-Type", "").split(";", 1)[0]
    if case.form == "boolean":
        assert media in BOOLEAN
        assert boolean(media, body) is case.boolean
    elif case.form == "tabular":
        assert media in TABULAR
        assert b"value" in body and b"1" in body
    elif case.form == "RDF":
        assert media in RDF
        graph = Graph().parse(data=body, format={"text/turtle": "turtle", "application/n-triples": "nt"}.get(media))
        assert {(str(s), str(p), str(o)) for s, p, o in graph} == set(case.triples)


def boolean(media: str, body: bytes) -> bool:
    """An ASK answer in SPARQL JSON or XML, read by pyoxigraph's results parser."""
    result = ox.parse_query_results(body, format=ox.QueryResultsFormat.from_media_type(media))
    assert isinstance(result, ox.QueryBoolean)
    return bool(result)


def count(server: Server) -> bytes:
    """The number of quads in the dataset's named graphs, as the endpoint answers it."""
    query = urllib.parse.quote("SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }")
    return fetch(server, f"/sparql?query={query}")[2]


@pytest.mark.parametrize("name", PROTOCOL)
def test_protocol(server: Server, listener: tuple[int, list[bytes]], name: str) -> None:
    port, received = listener
    case = PROTOCOL[name]
    before = count(server)
    check(case, *case.request.send(server, port))
    if case.then is not None:
        request, answer = case.then
        check(Case(request, 2, "boolean", answer), *request.send(server, port))
    assert count(server) == before
    time.sleep(0.05)
    assert received == []  # the graph the tests name and never load was not fetched


@pytest.mark.parametrize("name", CONTROLS)
def test_protocol_dataset_controls(server: Server, listener: tuple[int, list[bytes]], name: str) -> None:
    port, received = listener
    check(CONTROLS[name], *CONTROLS[name].request.send(server, port))
    assert received == []


# --- the Graph Store Protocol, read side ------------------------------------------------------------------------

TURTLE = "text/turtle; charset=utf-8"
PERSON = "<http://www.example/gsp/person/1> a <http://xmlns.com/foaf/0.1/Person> ."  # a body to write (refused)


def store(graph: str | None) -> str:
    return "/store?default" if graph is None else "/store?graph=" + urllib.parse.quote(graph, safe="")


def get_turtle(server: Server, path: str, accept: str = "text/turtle") -> tuple[int, dict[str, str], bytes]:
    return fetch(server, path, headers={"Accept": accept})


def refused_write(server: Server, method: str, path: str, body: bytes = PERSON.encode(), ctype: str = TURTLE) -> None:
    status, headers, text = fetch(server, path, data=body, method=method, headers={"Content-Type": ctype})
    assert status == 405 and set(headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}, text
    assert f"{method} is not allowed".encode() in text


def read(server: Server, built: BuildResult, path: str, graph: str | None) -> None:
    """A GET the Graph Store tests make after each write: 200, Turtle in UTF-8, the graph the build holds."""
    status, headers, body = get_turtle(server, path)
    assert status == 200 and headers["Content-Type"] == TURTLE
    assert isomorphic(Graph().parse(data=body, format="turtle"), graph_of(built.build.graph_file, graph))


MULTIPART = (
    b'--a6fe4cd636164618814be9f8d3d1a0de\r\nContent-Disposition: form-data; name="a.ttl"; filename="a.ttl"\r\n'
    b"Content-Type: text/turtle; charset=utf-8\r\n\r\n"
    + PERSON.encode()
    + b"\r\n--a6fe4cd636164618814be9f8d3d1a0de--\r\n"
)
MULTIPART_TYPE = "multipart/form-data; boundary=a6fe4cd636164618814be9f8d3d1a0de"


def test_gsp_put_get_repeat_indirect(server: Server, built: BuildResult) -> None:
    for _ in range(2):
        refused_write(server, "PUT", store(GRAPH2))
        read(server, built, store(GRAPH2), GRAPH2)


def test_gsp_put_get_default(server: Server, built: BuildResult) -> None:
    refused_write(server, "PUT", store(None))
    read(server, built, store(None), None)


def test_gsp_put_delete_get_delete_indirect(server: Server) -> None:
    absent = BASE + "graph/person/2"
    refused_write(server, "PUT", store(absent))
    refused_write(server, "DELETE", store(absent), b"", "text/plain")
    assert get_turtle(server, store(absent))[0] == 404
    refused_write(server, "DELETE", store(absent), b"", "text/plain")


def test_gsp_post_get_post_get_indirect(server: Server, built: BuildResult) -> None:
    refused_write(server, "POST", store(GRAPH1))
    read(server, built, store(GRAPH1), GRAPH1)
    refused_write(server, "POST", store(GRAPH1), MULTIPART, MULTIPART_TYPE)
    read(server, built, store(GRAPH1), GRAPH1)


def test_gsp_post_get_new_graph(server: Server) -> None:
    """Graph creation by POST to the store is refused; no Location, no new graph."""
    status, headers, _ = fetch(server, "/store", data=PERSON.encode(), method="POST", headers={"Content-Type": TURTLE})
    assert status == 405 and "Location" not in headers
    assert get_turtle(server, "/store?graph=" + urllib.parse.quote(BASE + "graph/1", safe=""))[0] == 404


def test_gsp_head_existing_indirect(server: Server) -> None:
    refused_write(server, "PUT", store(GRAPH3))
    status, headers, body = fetch(server, store(GRAPH3), method="HEAD", headers={"Accept": TURTLE})
    assert (status, headers["Content-Type"], body) == (200, TURTLE, b"")


def test_gsp_head_non_existing_indirect(server: Server) -> None:
    status, _, body = fetch(server, store(BASE + "graph/person/4"), method="HEAD", headers={"Accept": TURTLE})
    assert (status, body) == (404, b"")


def test_gsp_put_get_uri_pct_encoded_indirect(server: Server, built: BuildResult) -> None:
    refused_write(server, "PUT", store(GRAPH2))
    read(server, built, "/store?graph=" + GRAPH2, GRAPH2)  # the same IRI, not percent-encoded


def test_gsp_put_get_uri_pct_encoded_twice(server: Server, built: BuildResult) -> None:
    """The graph parameter is percent-decoded once: %31 is '1', %2531 is the three characters '%31'."""
    once, twice = "/store?graph=" + GRAPH2.replace("/11", "/%31%31"), "/store?graph=" + GRAPH2.replace("/11", "/%2531")
    refused_write(server, "PUT", once)
    refused_write(server, "PUT", twice)
    read(server, built, once, GRAPH2)
    assert get_turtle(server, twice)[0] == 404


def test_gsp_put_get_repeat_direct(server: Server, built: BuildResult) -> None:
    path = "/" + GRAPH2.removeprefix(BASE)
    for _ in range(2):
        refused_write(server, "PUT", path)
        read(server, built, path, GRAPH2)


def test_gsp_put_delete_get_delete_direct(server: Server) -> None:
    path = "/graph/person/2"
    refused_write(server, "PUT", path)
    refused_write(server, "DELETE", path, b"", "text/plain")
    assert get_turtle(server, path)[0] == 404
    refused_write(server, "DELETE", path, b"", "text/plain")


def test_gsp_post_get_post_get_direct(server: Server, built: BuildResult) -> None:
    path = "/" + GRAPH1.removeprefix(BASE)
    refused_write(server, "POST", path)
    read(server, built, path, GRAPH1)
    refused_write(server, "POST", path, MULTIPART, MULTIPART_TYPE)
    read(server, built, path, GRAPH1)


def test_gsp_head_existing_direct(server: Server) -> None:
    path = "/" + GRAPH3.removeprefix(BASE)
    refused_write(server, "PUT", path)
    status, headers, body = fetch(server, path, method="HEAD", headers={"Accept": TURTLE})
    assert (status, headers["Content-Type"], body) == (200, TURTLE, b"")


def test_gsp_head_non_existing_direct(server: Server) -> None:
    status, _, body = fetch(server, "/graph/person/4", method="HEAD", headers={"Accept": TURTLE})
    assert (status, body) == (404, b"")
