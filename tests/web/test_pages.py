"""Linked-data pages, the ontology, dumps and VoID through Flask's test client (issue 5)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re

import pytest
from flask.testing import FlaskClient
from rdflib import RDF, Dataset, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from tests.facts import ALL_CONTESTS, ORGANIZATIONS
from tests.oracle import Oracle

from makerkg.pipeline import BuildResult

BASE = "https://w3id.org/makerkg/"
VOID = "http://rdfs.org/ns/void#"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)


RESOURCES = [
    "edition/8",
    "edition/11/regional/110000",
    "edition/8/thematic/visual-intelligence",
    "edition/11/final",
    "org/miit-nisc",
    "place/330100",
    "track/visual-intelligence",
    "series",
    "scheme/tracks",
    "org-kind/ministry",
]
FORMATS = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
}
EXTENSIONS = {"ttl": "turtle", "jsonld": "json-ld", "nt": "nt", "rdf": "xml"}


@pytest.mark.parametrize("path", RESOURCES)
@pytest.mark.parametrize("accept", [*FORMATS, "text/html", CHROME])
def test_negotiation_for_each_kind_of_resource(client: FlaskClient, path: str, accept: str) -> None:
    response = client.get(f"/{path}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Vary"] == "Accept, Accept-Encoding"  # compressed when the client asks
    if accept in FORMATS:
        assert response.mimetype == accept
        graph = Graph().parse(data=response.data, format=FORMATS[accept])
        assert (URIRef(BASE + path), None, None) in graph
    else:
        assert response.mimetype == "text/html"
        assert BASE + path in response.get_data(as_text=True)


@pytest.mark.parametrize("extension", sorted(EXTENSIONS))
def test_extensions_give_the_same_graph_as_negotiation(client: FlaskClient, extension: str) -> None:
    by_extension = client.get(f"/org/miit-nisc.{extension}")
    media = {
        "ttl": "text/turtle",
        "jsonld": "application/ld+json",
        "nt": "application/n-triples",
        "rdf": "application/rdf+xml",
    }[extension]
    by_accept = client.get("/org/miit-nisc", headers={"Accept": media})
    assert by_extension.status_code == 200 and by_extension.mimetype == media
    a = Graph().parse(data=by_extension.data, format=EXTENSIONS[extension])
    b = Graph().parse(data=by_accept.data, format=EXTENSIONS[extension])
    assert isomorphic(a, b)


def test_description_has_the_resource_its_parts_and_what_points_to_it(client: FlaskClient) -> None:
    graph = Graph().parse(data=client.get("/edition/11/thematic/visual-intelligence.ttl").data, format="turtle")
    contest = URIRef(BASE + "edition/11/thematic/visual-intelligence")
    lead = URIRef(BASE + "edition/11/thematic/visual-intelligence#lead-1")
    assert (
        contest,
        URIRef("https://schema.org/name"),
        Literal("第十一届“创客中国”视觉智能中小企业创新创业大赛", lang="zh"),
    ) in graph
    assert (lead, URIRef("http://www.w3.org/ns/prov#agent"), URIRef(BASE + "org/miit-nisc")) in graph
    assert (URIRef(BASE + "edition/11"), URIRef("https://schema.org/subEvent"), contest) in graph


def test_a_contest_page_shows_the_plan_lines_it_was_read_from(client: FlaskClient) -> None:
    page = client.get("/edition/8/regional/540000", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Read from plan-08.txt" in page
    for line in (
        "第八届“创客中国”西藏自治区中小企业创新创业大赛",
        "自治区",
        "西藏自治区经济和信息化厅牵头",
        "www.xzsme.cn/mh",
    ):
        assert line in page
    assert '<a href="/source/plan-08.txt#L169"' in page


def test_an_organization_page_shows_its_contests_edition_by_edition(client: FlaskClient) -> None:
    page = client.get("/org/sd-gxt", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<h1>山东省工业和信息化厅</h1>" in page
    eighth, eleventh = page.split("第11届 (edition 11)")[1].split("</td><td>", 1)
    assert "第八届“创客中国”山东省中小企业创新创业大赛" in eighth
    assert "第十一届“创客中国”商业航天中小企业创新创业大赛" in eleventh
    assert "山东省工业和信息厅" in page  # the misprint, kept as a hidden label with its evidence


def test_a_place_page_counts_contests_within_it(client: FlaskClient) -> None:
    page = client.get("/place/110000", headers={"Accept": "text/html"}).get_data(as_text=True)
    for name in ("第十一届“创客中国”工业智能体中小企业创新创业大赛", "第八届“创客中国”智能装备中小企业创新创业大赛"):
        assert name in page


def test_the_source_document_is_served_as_printed(client: FlaskClient, built: BuildResult) -> None:
    plain = client.get("/source/plan-11.txt", headers={"Accept": "text/plain"})
    assert plain.status_code == 200 and plain.mimetype == "text/plain"
    assert plain.data == (built.build.path / "sources" / "plan-11.txt").read_bytes()
    html = client.get("/source/plan-11.txt", headers={"Accept": CHROME}).get_data(as_text=True)
    assert 'id="L82"' in html and "第十一届“创客中国”国际中小企业创新创业大赛 (境外区域赛)" in html
    described = Graph().parse(
        data=client.get("/source/plan-11.txt", headers={"Accept": "text/turtle"}).data, format="turtle"
    )
    digest = hashlib.sha256(plain.data).hexdigest()
    assert (
        URIRef(BASE + "source/plan-11.txt"),
        URIRef("http://purl.org/dc/terms/identifier"),
        Literal(f"sha256:{digest}"),
    ) in described
    negotiated = client.get("/source/plan-11.txt", headers={"Accept": "text/turtle"})
    assert negotiated.headers["Content-Location"] == "/source/plan-11.txt.ttl"
    by_extension = client.get("/source/plan-11.txt.ttl")  # as every resource's description, by an extension
    assert by_extension.status_code == 200 and by_extension.mimetype == "text/turtle"
    assert isomorphic(Graph().parse(data=by_extension.data, format="turtle"), described)
    # its excerpts (#line=a,b), which point at it, are described on its page, as every other #fragment is
    doc = URIRef(BASE + "source/plan-11.txt")
    excerpts = set(described.subjects(URIRef("http://purl.org/dc/terms/isPartOf"), doc))
    assert len(excerpts) == 58 and all(str(e).startswith(f"{doc}#line=") for e in excerpts)
    mkg = "https://w3id.org/makerkg/ontology#"
    for excerpt in excerpts:
        first, last = (
            described.value(excerpt, URIRef(mkg + "firstLine")),
            described.value(excerpt, URIRef(mkg + "lastLine")),
        )
        assert first is not None and last is not None and str(excerpt).endswith(f"#line={int(first) - 1},{last}")
        assert len(set(described.objects(excerpt, RDF.type))) == 2


@pytest.mark.parametrize(
    "path",
    [
        "/org/no-such-body",
        "/edition/99",
        "/source/../../etc/passwd",
        "/source/%2e%2e/x",
        "/place/330100%3E%20%7B",
        "/dumps/../build.json",
        "/dumps/graph.nq",
    ],
)
def test_unknown_resources_are_404(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert b"Traceback" not in response.data
    # what was looked for, and where to find things (Werkzeug's text spoke of spelling)
    text = response.get_data(as_text=True)
    assert text.startswith("404 Not Found: nothing is published at '/") and text.endswith(
        "'; /search finds a resource by its name\n"
    )


def test_ontology_documentation_and_turtle(client: FlaskClient, built: BuildResult) -> None:
    page = client.get("/ontology", headers={"Accept": CHROME}).get_data(as_text=True)
    for term in ("mkg:Contest", "mkg:Edition", "mkg:leadOrganizer", "mkg:registrationPage", "mkg:LeadHost"):
        assert term in page
    assert "承办单位" in page and "undertaker" in page
    turtle = client.get("/ontology", headers={"Accept": "text/turtle"})
    assert turtle.mimetype == "text/turtle" and turtle.headers["Content-Location"] == "/ontology.ttl"
    served = Graph().parse(data=turtle.data, format="turtle")
    ds = Dataset()
    ds.parse(data=built.build.graph_file.read_bytes(), format="nquads")
    assert isomorphic(served, ds.graph(URIRef(BASE + "graph/ontology")))
    assert client.get("/ontology.jsonld").mimetype == "application/ld+json"


def test_dumps_listing_and_files(client: FlaskClient, built: BuildResult) -> None:
    listing = client.get("/dumps/", headers={"Accept": "application/json"}).get_json()
    names = [f["name"] for f in listing["files"]]
    assert len(names) == 13 and "makerkg.trig.gz" in names and "makerkg.context.jsonld" in names
    for entry in listing["files"]:
        with client.get(f"/dumps/{entry['name']}") as response:
            assert hashlib.sha256(response.data).hexdigest() == entry["sha256"]
            assert len(response.data) == entry["bytes"]
            digest = base64.b64encode(hashlib.sha256(response.data).digest()).decode()
            assert response.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    trig = next(f for f in listing["files"] if f["name"] == "makerkg.trig")
    assert trig["statements"] == sum(built.build.info.quads_per_graph.values())
    with client.get("/dumps/makerkg.ttl.gz") as zipped, client.get("/dumps/makerkg.ttl") as plain:
        assert gzip.decompress(zipped.data) == plain.data
    html = client.get("/dumps/", headers={"Accept": CHROME}).get_data(as_text=True)
    assert "makerkg.nq" in html and built.build.info.id in html


def test_jsonld_dump_uses_the_published_context(client: FlaskClient) -> None:
    with client.get("/dumps/makerkg.context.jsonld") as c, client.get("/dumps/makerkg.jsonld") as d:
        context, dump = json.loads(c.data), json.loads(d.data)
    assert dump["@context"] == context["@context"]
    assert context["@context"]["schema"] == "https://schema.org/"


def test_void_counts_equal_the_graphs(client: FlaskClient, store: Oracle) -> None:
    response = client.get("/.well-known/void", headers={"Accept": "text/turtle"})
    assert response.status_code == 200
    void = Graph().parse(data=response.data, format="turtle")
    dataset = URIRef(BASE + "dataset")

    def one(subject: object, predicate: str) -> int:
        return int(void.value(subject, URIRef(VOID + predicate)))  # type: ignore[arg-type]

    def count(sparql: str) -> int:
        return int(store.query(sparql).rows[0][0].value)  # type: ignore[union-attr]

    assert one(dataset, "triples") == count("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert one(dataset, "distinctSubjects") == count("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }")
    assert one(dataset, "distinctObjects") == count("SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }")
    partitions = {
        str(void.value(p, URIRef(VOID + "class"))): int(void.value(p, URIRef(VOID + "entities")))  # type: ignore[arg-type]
        for p in void.objects(dataset, URIRef(VOID + "classPartition"))
    }
    assert partitions["https://w3id.org/makerkg/ontology#Contest"] == ALL_CONTESTS
    assert partitions["http://www.w3.org/ns/org#Organization"] == ORGANIZATIONS
    for cls, entities in partitions.items():
        assert entities == count(f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a <{cls}> }}"), cls
    assert (dataset, URIRef(VOID + "sparqlEndpoint"), URIRef(BASE + "sparql")) in void
    assert (dataset, URIRef(VOID + "dataDump"), URIRef(BASE + "dumps/makerkg.nt")) in void
    assert (
        dataset,
        URIRef("http://purl.org/dc/terms/license"),
        URIRef("https://creativecommons.org/licenses/by/4.0/"),
    ) in void
    assert len(set(void.objects(dataset, URIRef("http://www.w3.org/ns/dcat#distribution")))) == 13
    for example in void.objects(dataset, URIRef(VOID + "exampleResource")):
        assert client.get("/" + str(example)[len(BASE) :], headers={"Accept": "text/turtle"}).status_code == 200


def test_paths_under_a_base_that_is_not_the_servers_address(client: FlaskClient) -> None:
    """The base is https://w3id.org/makerkg/; the test client is http://localhost/: the paths still resolve."""
    assert (
        client.get("/place/330100", headers={"Accept": "text/turtle"}, base_url="http://example.test:8080").status_code
        == 200
    )


def test_sha256sums_is_served_and_lists_every_dump(client: FlaskClient, built: BuildResult) -> None:
    with client.get("/dumps/SHA256SUMS") as response:
        text = response.get_data(as_text=True)
        assert response.mimetype == "text/plain"
        digest = base64.b64encode(hashlib.sha256(response.data).digest()).decode()
        assert response.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    lines = dict(reversed(line.split("  ", 1)) for line in text.splitlines())
    listing = client.get("/dumps/", headers={"Accept": "application/json"}).get_json()
    assert lines == {f["name"]: f["sha256"] for f in listing["files"]}
    for name, sha in lines.items():
        assert hashlib.sha256((built.build.path / "dumps" / name).read_bytes()).hexdigest() == sha


@pytest.mark.parametrize("path", ["org/miit-nisc", "edition/11/regional/110000", "place/330100"])
def test_jsonld_pages_are_compacted_with_the_dumps_context(client: FlaskClient, path: str) -> None:
    """Regression: resource pages served expanded JSON-LD without @context (issue 13)."""
    response = client.get(f"/{path}", headers={"Accept": "application/json"})
    assert response.mimetype == "application/ld+json"
    assert response.headers["Content-Location"] == f"/{path}.jsonld"
    document = response.get_json()
    with client.get("/dumps/makerkg.context.jsonld") as published:
        assert document["@context"] == published.get_json()["@context"]
    node = next(n for n in document["@graph"] if n["@id"] == BASE + path)
    assert "rdf:type" in node and not any(key.startswith("http") for key in node)
    as_turtle = Graph().parse(data=client.get(f"/{path}.ttl").data, format="turtle")
    assert isomorphic(Graph().parse(data=response.data, format="json-ld"), as_turtle)


@pytest.mark.parametrize(
    ("path", "kind", "name"),
    [
        ("edition/11/regional/110000", "Event", "第十一届“创客中国”北京市中小企业创新创业大赛"),
        ("org/miit-nisc", "Organization", "工业和信息化部网络安全产业发展中心"),
        ("place/330100", "AdministrativeArea", "杭州市"),
    ],
)
def test_every_page_embeds_the_schema_org_view_of_its_resource(
    client: FlaskClient, store: Oracle, path: str, kind: str, name: str
) -> None:
    html = client.get(f"/{path}", headers={"Accept": CHROME}).get_data(as_text=True)
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(found) == 1
    view = json.loads(found[0])
    assert (view["@context"], view["@id"], view["@type"]) == ("https://schema.org/", BASE + path, kind)
    names = view["name"] if isinstance(view["name"], list) else [view["name"]]
    assert {"@language": "zh", "@value": name} in names
    schema_statements = store.query(
        f"SELECT ?p ?o WHERE {{ <{BASE + path}> ?p ?o FILTER(STRSTARTS(STR(?p), 'https://schema.org/')) }}"
    ).rows
    assert sum(len(v) if isinstance(v, list) else 1 for k, v in view.items() if not k.startswith("@")) == len(
        schema_statements
    )


@pytest.mark.parametrize("path", ["ontology", "source/plan-08.txt", "graph/edition/8", "dataset"])
def test_other_linked_data_pages_embed_schema_org_too(client: FlaskClient, path: str) -> None:
    html = client.get(f"/{path}", headers={"Accept": "text/html"}).get_data(as_text=True)
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(found) == 1 and json.loads(found[0])["@context"] == "https://schema.org/"


def test_a_browser_opening_the_endpoint_gets_the_query_editor(client: FlaskClient) -> None:
    response = client.get("/sparql", headers={"Accept": CHROME})
    assert response.status_code == 303 and response.headers["Location"] == "/query"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    editor = client.get("/sparql", headers={"Accept": CHROME}, follow_redirects=True).get_data(as_text=True)
    assert "SPARQL query editor" in editor and 'id="predefined-prefixes"' in editor
    for accept in ("*/*", "text/turtle", "application/xml"):
        assert client.get("/sparql", headers={"Accept": accept}).status_code == 200


def test_answers_are_never_sniffed_and_pages_never_framed_by_other_sites(client: FlaskClient) -> None:
    page = client.get("/org/miit", headers={"Accept": "text/html"})
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"
    error = client.get("/reconcile/preview?id=<script>")
    assert error.status_code == 400 and error.mimetype == "text/plain"
    assert error.headers["X-Content-Type-Options"] == "nosniff"
    preview = client.get("/reconcile/preview?id=org/miit")  # made to be framed by OpenRefine
    assert preview.status_code == 200 and preview.mimetype == "text/html"
    assert "X-Frame-Options" not in preview.headers and "Content-Security-Policy" not in preview.headers
