"""The Graph Store Protocol's read side, the named graphs' and the dataset's own IRIs, through Flask's test client
(issue 13). What is served is compared with the build's own files, read apart from the code under test."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
from flask.testing import FlaskClient
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic
from tests.oracle import graph_of

from makerkg.pipeline import BuildResult

BASE = "https://w3id.org/makerkg/"
GRAPHS = [BASE + "graph/edition/8", BASE + "graph/edition/11", BASE + "graph/ontology", BASE + "graph/reference"]
# media type: (rdflib's parser, whether the format carries the graph's name)
FORMATS = {
    "text/turtle": ("turtle", False),
    "application/n-triples": ("nt", False),
    "application/n-quads": ("nquads", True),
    "application/trig": ("trig", True),
    "application/ld+json": ("json-ld", False),
    "application/rdf+xml": ("xml", False),
}
SHORT = {"text/turtle": "ttl", "application/n-triples": "nt", "application/n-quads": "nq", "application/trig": "trig"}
SHORT |= {"application/ld+json": "jsonld", "application/rdf+xml": "rdfxml"}
SD = "http://www.w3.org/ns/sparql-service-description#"


def expected(built: BuildResult, graph: str | None) -> Graph:
    return graph_of(built.build.graph_file, graph)


def served(data: bytes, media: str, graph: str | None) -> Graph:
    parser, quads = FORMATS[media]
    if not quads:
        return Graph().parse(data=data, format=parser)
    dataset = Dataset()
    dataset.parse(data=data, format=parser)
    return dataset.graph(URIRef(graph)) if graph else dataset.default_graph


@pytest.mark.parametrize("media", sorted(FORMATS))
@pytest.mark.parametrize("graph", [None, BASE + "graph/edition/11", BASE + "graph/ontology"])
def test_every_graph_in_every_format_is_the_graph_the_build_holds(
    client: FlaskClient, built: BuildResult, media: str, graph: str | None
) -> None:
    query = "default" if graph is None else "graph=" + urllib.parse.quote(graph, safe="")
    with client.get(f"/store?{query}", headers={"Accept": media}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == f"{media}; charset=utf-8"
        as_is = graph is None and media == "application/n-triples"  # the build's union.nt, never compressed
        assert response.headers["Vary"] == ("Accept" if as_is else "Accept, Accept-Encoding")
        assert response.headers["Content-Location"] == f"/store?{query}&format={SHORT[media]}"
        found = served(response.data, media, graph)
    assert len(found) == (built.build.info.triples if graph is None else built.build.info.quads_per_graph[graph])
    assert isomorphic(found, expected(built, graph))


def test_the_content_location_gives_the_same_answer(client: FlaskClient) -> None:
    first = client.get("/store?graph=" + GRAPHS[0], headers={"Accept": "application/trig"})
    again = client.get(first.headers["Content-Location"], headers={"Accept": "text/html"})
    assert again.status_code == 200 and again.data == first.data and "Content-Location" not in again.headers


def test_jsonld_is_compacted_with_the_dumps_context(client: FlaskClient) -> None:
    document = client.get("/store?default", headers={"Accept": "application/ld+json"}).get_json()
    with client.get("/dumps/makerkg.context.jsonld") as published:
        context = published.get_json()
    assert document["@context"] == context["@context"]
    edition = next(node for node in document["@graph"] if node["@id"] == BASE + "edition/11")
    assert edition["mkg:ordinal"] == [{"@type": "xsd:integer", "@value": "11"}]


def test_head_has_the_headers_of_get_and_no_body(client: FlaskClient) -> None:
    """GSP's HEAD on an existing graph: 200 and the Content-Type GET would send."""
    head = client.head("/store?graph=" + GRAPHS[1], headers={"Accept": "text/turtle; charset=utf-8"})
    get = client.get("/store?graph=" + GRAPHS[1], headers={"Accept": "text/turtle; charset=utf-8"})
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "text/turtle; charset=utf-8"
    assert head.headers["ETag"] == get.headers["ETag"]


def test_the_default_graph_in_n_triples_is_the_builds_file(client: FlaskClient, built: BuildResult) -> None:
    with (
        client.get("/store?default", headers={"Accept": "text/plain"}) as response,
        client.get("/store?default&format=nt", headers={"Range": "bytes=0-99"}) as ranged,
        client.get("/store?default&format=nt", headers={"Range": "bytes=0-1,5-6"}) as several,
    ):
        assert several.status_code == 200 and several.data == response.data  # several ranges: the whole file
        assert response.mimetype == "application/n-triples"
        assert response.data == built.build.union_file.read_bytes()
        assert int(response.headers["Content-Length"]) == built.build.union_file.stat().st_size
        assert ranged.status_code == 206 and ranged.data == response.data[:100]


def test_an_etag_answers_304(client: FlaskClient) -> None:
    first = client.get("/store?graph=" + GRAPHS[2])
    again = client.get("/store?graph=" + GRAPHS[2], headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ("", 400, "graph: name one graph: ?default for the default graph or ?graph=IRI for a named graph"),
        (f"default&graph={GRAPHS[0]}", 400, "graph: name one graph: ?default for the default graph or ?graph=IRI"),
        (f"graph={GRAPHS[0]}&graph={GRAPHS[1]}", 400, "graph: given more than once"),
        ("graph=urn:x:g", 404, "graph: no graph urn:x:g in this dataset"),
        ("graph=graph/edition/8", 400, "graph: 'graph/edition/8' is not an absolute IRI"),
        (f"graph={BASE}graph/edition/12", 404, f"graph: no graph {BASE}graph/edition/12 in this dataset"),
        (f"graph={BASE}graph/edition/%38%38", 404, f"graph: no graph {BASE}graph/edition/88 in this dataset"),
        ("default&graph=%FF", 400, "graph: not valid UTF-8 at byte 0 of the percent-decoded value"),
        ("default&format=csv", 406, "none of the requested media types can be produced"),
    ],
)
def test_requests_the_store_cannot_answer(client: FlaskClient, query: str, status: int, detail: str) -> None:
    response = client.get(f"/store?{query}", headers={"Accept": "application/problem+json"})
    assert response.status_code == status
    assert response.get_json()["detail"].startswith(detail)


def test_a_graph_the_dataset_lacks_is_404_naming_the_graphs_it_has(client: FlaskClient) -> None:
    response = client.get(f"/store?graph={BASE}graph/edition/12")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == (
        f"404 Not Found: graph: no graph {BASE}graph/edition/12 in this dataset; its named graphs are "
        f"{', '.join(sorted(GRAPHS))}\n"
    )
    assert client.head(f"/store?graph={BASE}graph/edition/12").status_code == 404


def test_the_graph_iri_is_percent_decoded_once(client: FlaskClient) -> None:
    """A graph IRI holding %31 ('1' encoded) names another IRI than one holding '1' (GSP test
    put_get_uri_pct_encoded_twice, read side)."""
    plain = client.get("/store?graph=" + urllib.parse.quote(GRAPHS[1], safe=""))
    escaped = client.get("/store?graph=" + GRAPHS[1].replace("11", "%31%31"))
    twice = client.get("/store?graph=" + GRAPHS[1].replace("11", "%2531%2531"))
    assert plain.status_code == escaped.status_code == 200 and plain.data == escaped.data
    assert twice.status_code == 404


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH"])
def test_writes_are_405_with_allow(client: FlaskClient, method: str) -> None:
    response = client.open(
        "/store?graph=" + GRAPHS[0], method=method, data=b"<urn:a> <urn:b> <urn:c> .", content_type="text/turtle"
    )
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert response.get_data(as_text=True).startswith(f"405 Method Not Allowed: {method} is not allowed on /store")


@pytest.mark.parametrize("graph", GRAPHS)
def test_a_named_graph_iri_dereferences_to_the_graph_or_a_page(
    client: FlaskClient, built: BuildResult, graph: str
) -> None:
    path = "/" + graph.removeprefix(BASE)
    rdf = client.get(path, headers={"Accept": "text/turtle"})
    assert rdf.status_code == 200 and rdf.mimetype == "text/turtle"
    assert isomorphic(Graph().parse(data=rdf.data, format="turtle"), expected(built, graph))
    assert rdf.headers["Content-Location"] == f"/store?graph={urllib.parse.quote(graph, safe='')}&format=ttl"
    assert client.get(f"{path}.nt").data == client.get(path, headers={"Accept": "application/n-triples"}).data
    page = client.get(path, headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and graph in html
    assert f"holding {built.build.info.quads_per_graph[graph]} statements" in html
    schema = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)[1])  # type: ignore[index]
    assert (schema["@type"], schema["@id"], schema["isPartOf"]) == ("Dataset", graph, {"@id": BASE + "dataset"})
    assert len(schema["distribution"]) == 6


def test_the_dataset_iri_dereferences_to_its_description_or_a_page(client: FlaskClient, built: BuildResult) -> None:
    rdf = client.get("/dataset", headers={"Accept": "application/json"})
    assert rdf.mimetype == "application/ld+json" and rdf.headers["Content-Location"] == "/dataset.jsonld"
    void = Graph().parse(data=rdf.data, format="json-ld")
    subsets = {str(o) for o in void.objects(URIRef(BASE + "dataset"), URIRef("http://rdfs.org/ns/void#subset"))}
    assert subsets == set(GRAPHS)
    assert isomorphic(void, Graph().parse(data=client.get("/.well-known/void").data, format="turtle"))
    html = client.get("/dataset", headers={"Accept": "text/html"}).get_data(as_text=True)
    for graph in GRAPHS:
        assert f'href="/{graph.removeprefix(BASE)}"' in html
    assert '<a href="/dumps/makerkg.ttl"' in html
    schema = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)[1])  # type: ignore[index]
    assert schema["@type"] == "Dataset" and schema["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert schema["identifier"] == built.build.info.id
    assert {d["contentUrl"] for d in schema["distribution"]} == {
        f"{BASE}dumps/makerkg.{ext}" for ext in ("ttl", "nt", "nq", "trig", "jsonld", "rdf")
    }


def test_the_service_description_declares_the_union_graph_graphs_and_prefixes(client: FlaskClient) -> None:
    sd = Graph().parse(data=client.get("/sparql", headers={"Accept": "text/turtle"}).data, format="turtle")
    service = next(sd.subjects(URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), URIRef(SD + "Service")))
    assert URIRef(SD + "UnionDefaultGraph") in set(sd.objects(service, URIRef(SD + "feature")))
    assert {str(o) for o in sd.objects(None, URIRef(SD + "name"))} == set(GRAPHS)
    assert sd.value(service, URIRef(SD + "defaultDataset")) == URIRef(BASE + "dataset")
    sh = "http://www.w3.org/ns/shacl#"
    declared = {
        str(sd.value(d, URIRef(sh + "prefix"))): str(sd.value(d, URIRef(sh + "namespace")))
        for d in sd.objects(service, URIRef(sh + "declare"))
    }
    assert declared == client.get("/api/prefixes").get_json()
    assert declared["mkg"] == "https://w3id.org/makerkg/ontology#" and declared["schema"] == "https://schema.org/"
