"""`makerkg load` and `makerkg serve --store URL` against real SPARQL servers started on 127.0.0.1: Oxigraph's
server and Debian's Virtuoso (issues 6 and 16). tests/e2e/test_endpoint.py runs the endpoint's tests against both
too; here are loading, the named queries, and what Virtuoso does differently, pinned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from makerkg.launch import Server
from makerkg.pipeline import BuildResult
from makerkg.store.query import Job
from makerkg.store.remote import NOT_A_QUERY, RemotePool, load
from makerkg.web.ui import COMPARE_TABLES
from tests.e2e.conftest import http, load_into
from tests.e2e.stores import DEFAULT_GRAPH, Store

pytestmark = pytest.mark.e2e
NAMED = [
    "orgs-in-both",
    "region-hosts",
    "tracks-compared",
    "places-in-both",
    "provinces-without-regional",
    "registration-changes",
    "orgs-ranked",
    "contests-per-province",
    "orgs-new",
    "orgs-gone",
]
JSON = {"Accept": "application/sparql-results+json"}


def rows(server: Server, query: str, **params: str) -> list[dict[str, str]]:
    status, _, body = http(server, "/sparql?" + urllib.parse.urlencode({"query": query, **params}), headers=JSON)
    assert status == 200, body
    return [{k: v["value"] for k, v in b.items()} for b in json.loads(body)["results"]["bindings"]]


@pytest.mark.parametrize("name", NAMED)
def test_named_queries_answer_the_same_from_the_remote_store(server: Server, remote: Server, name: str) -> None:
    """Every named query, Virtuoso's too (region-hosts, registration-changes and tracks-compared are written so
    that Virtuoso 7.2.5 compiles them: docs/scale.md); the lists a row joins may come in another order."""
    _, _, local = http(server, f"/api/queries/{name}")
    status, _, far = http(remote, f"/api/queries/{name}")
    assert status == 200, far
    a, b = json.loads(local), json.loads(far)
    assert a["columns"] == b["columns"]
    key = [c for c in a["columns"] if not c.endswith(("InA", "InB", "Names"))]
    assert sorted(tuple(r[c] for c in key) for r in a["rows"]) == sorted(tuple(r[c] for c in key) for r in b["rows"])
    assert len(a["rows"]) > 0


@pytest.mark.parametrize("table", COMPARE_TABLES)
def test_compare_answers_the_same_from_the_remote_store(server: Server, remote: Server, table: str) -> None:
    """/compare, which runs seven named queries, works from either store (Virtuoso could not compile three of
    them): the page answers, and each of its tables has the embedded engine's rows, hosts, sites and places too."""
    status, _, page = http(remote, "/compare?a=8&b=11")
    assert status == 200 and "江苏省中小企业发展中心" in page.decode()
    local = http(server, f"/compare.csv?a=8&b=11&table={table}")
    far = http(remote, f"/compare.csv?a=8&b=11&table={table}")
    assert (far[0], far[2].decode()) == (local[0], local[2].decode())
    assert len(local[2].decode().splitlines()) > 1


def test_pages_and_formats_from_the_remote_store(remote: Server) -> None:
    status, headers, body = http(remote, "/org/miit-nisc", headers={"Accept": "text/turtle"})
    assert status == 200 and "工业和信息化部网络安全产业发展中心" in body.decode()
    query = urllib.parse.urlencode({"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 3"})
    for accept in ("application/sparql-results+xml", "text/csv", "text/tab-separated-values"):
        status, headers, _ = http(remote, f"/sparql?{query}", headers={"Accept": accept})
        assert status == 200 and headers["Content-Type"].startswith(accept)


def test_the_same_safety_rules_hold(remote: Server) -> None:
    status, _, _ = http(
        remote,
        "/sparql",
        data=b"INSERT DATA { <urn:a> <urn:b> <urn:c> }",
        headers={"Content-Type": "application/sparql-update"},
    )
    assert status == 403
    service = urllib.parse.urlencode({"query": "SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"})
    assert http(remote, f"/sparql?{service}")[0] == 403
    explosive = urllib.parse.urlencode({"query": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"})
    status, _, body = http(remote, f"/sparql?{explosive}")
    assert status == 503 and b"query_timeout" in body
    assert http(remote, "/api/queries/provinces-without-regional")[0] == 200


def test_the_dataset_is_the_builds_whatever_else_the_store_holds(remote: Server, built: BuildResult) -> None:
    """A query that names no dataset reads the build's merge and its named graphs only: Virtuoso's default graph
    is every graph it holds (its own system graphs, and the merge beside the graphs merged), so makerkg names them."""
    graphs = sorted(built.build.info.quads_per_graph)
    assert rows(remote, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }") == [{"n": str(built.build.info.triples)}]
    found = rows(remote, "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g")
    assert found == [{"g": g, "n": str(built.build.info.quads_per_graph[g])} for g in graphs]
    edition8 = "https://w3id.org/makerkg/graph/edition/8"
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    assert rows(remote, count, **{"default-graph-uri": edition8}) == [
        {"n": str(built.build.info.quads_per_graph[edition8])}
    ]
    assert rows(remote, count.replace("WHERE", f"FROM <{edition8}> WHERE")) == rows(
        remote, count, **{"default-graph-uri": edition8}
    )
    named = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    assert rows(remote, named, **{"named-graph-uri": edition8}) == [{"g": edition8}]


def test_base_and_predefined_prefixes_are_the_builds(server: Server, remote: Server) -> None:
    """Relative IRIs resolve against the build's base and the graph's prefixes need no PREFIX, as with the embedded
    store; a query's own BASE and PREFIX win."""
    relative = "SELECT ?name WHERE { <place/330100> skos:prefLabel ?name }"
    names = sorted(r["name"] for r in rows(remote, relative))
    assert names == sorted(r["name"] for r in rows(server, relative)) == ["Hangzhou", "杭州市"]
    own = (
        "BASE <https://w3id.org/makerkg/place/>\nPREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
        "SELECT ?name WHERE { <330100> skos:prefLabel ?name FILTER(LANG(?name) = 'zh') }"
    )
    assert rows(remote, own) == rows(server, own) == [{"name": "杭州市"}]
    redefined = "PREFIX schema: <http://example.org/not-schema/> ASK { ?s schema:name ?n }"
    status, _, body = http(remote, "/sparql?" + urllib.parse.urlencode({"query": redefined}), headers=JSON)
    assert (status, json.loads(body)["boolean"]) == (200, False)


def test_loading_again_replaces_every_graph(remote_store: Store, remote: Server, built: BuildResult) -> None:
    """`makerkg load` PUTs each graph: loading the same build again leaves one copy of each."""
    loaded = load_into(remote_store, built.build.path.parent.parent)
    assert loaded.returncode == 0, loaded.stderr
    remote_store.after_load()
    merge = f"{remote_store.default_graph} (the merge)" if remote_store.default_graph else "(default graph: the merge)"
    lines = loaded.stdout.splitlines()
    assert f"{built.build.info.triples:>9} triples → {merge}" in lines
    for graph, quads in built.build.info.quads_per_graph.items():
        assert f"{quads:>9} triples → {graph}" in lines
    assert rows(remote, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }") == [{"n": str(built.build.info.triples)}]


def test_a_graph_loaded_in_parts_keeps_its_blank_nodes(remote_store: Store, remote: Server, built: BuildResult) -> None:
    """A graph goes in parts (a PUT, then POSTs) and a blank node is one only within a request: every line naming
    one goes in the first part, so the ontology's owl:unionOf lists stay whole; load() checks every graph's count."""
    domain = "SELECT (COUNT(*) AS ?n) WHERE { mkg:contestKind rdfs:domain ?d . ?d owl:unionOf ?l . ?l rdf:first ?f }"
    before = rows(remote, domain)
    sent = load(
        built.build,
        remote_store.graphs,
        remote_store.query,
        remote_store.default_graph,
        remote_store.user,
        remote_store.password,
        part_triples=500,
    )
    remote_store.after_load()
    assert sent == {
        **built.build.info.quads_per_graph,
        f"{remote_store.default_graph} (the merge)"
        if remote_store.default_graph
        else "(default graph: the merge)": built.build.info.triples,
    }
    assert rows(remote, domain) == before == [{"n": "1"}]


# What Virtuoso does differently, and how makerkg keeps it safe.


def test_virtuoso_loads_only_with_its_password(virtuoso_store: Store, built: BuildResult) -> None:
    """Virtuoso's authenticated Graph Store endpoint (Digest) takes the build from its user; a wrong password, or
    none, is refused before anything is written, and the anonymous Graph Store endpoint refuses writes."""
    out = str(built.build.path.parent.parent)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAKERKG_")}
    base = [sys.executable, "-m", "makerkg.cli", "load", "--store", virtuoso_store.query, "--out", out]
    base += ["--graphs", virtuoso_store.graphs, "--default-graph", DEFAULT_GRAPH, "--user", "makerkg_loader"]
    wrong = subprocess.run(
        base, env={**environment, "MAKERKG_STORE_PASSWORD": "wrong"}, capture_output=True, text=True, check=False
    )
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.startswith(f"makerkg: the SPARQL store at {virtuoso_store.graphs} refused the credentials (401")
    missing = subprocess.run(base, env=environment, capture_output=True, text=True, check=False)
    assert (missing.returncode, missing.stderr) == (
        2,
        "makerkg: store_password: a password is needed with store_user (MAKERKG_STORE_PASSWORD)\n",
    )
    anonymous = urllib.request.Request(
        virtuoso_store.graphs.removesuffix("-auth") + "?graph=urn:x",
        data=b"<urn:a> <urn:b> <urn:c> .\n",
        method="PUT",
        headers={"Content-Type": "application/n-triples"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=10)
    refused.value.close()
    assert refused.value.code == 403


def test_virtuoso_anonymous_user_may_only_read(virtuoso_store: Store) -> None:
    """The user /sparql runs as keeps the roles a new database gives it: SPARQL_SELECT, and SPARQL_LOAD_SERVICE_DATA
    that comes with it (SERVICE is refused all the same, by the permissions on Virtuoso's SERVICE views, and makerkg
    refuses SERVICE before sending); not SPARQL_SPONGE or SPARQL_UPDATE, which let it fetch FROM IRIs and LOAD."""
    assert virtuoso_store.admin is not None
    output = virtuoso_store.admin(
        "SELECT 'ROLE=' || U_NAME FROM DB.DBA.SYS_USERS, DB.DBA.SYS_ROLE_GRANTS WHERE GI_SUB = U_ID AND "
        "GI_SUPER = (SELECT U_ID FROM DB.DBA.SYS_USERS WHERE U_NAME = 'SPARQL');\n"
    )
    assert sorted(line.strip() for line in output.splitlines() if line.strip().startswith("ROLE=")) == [
        "ROLE=SPARQL_LOAD_SERVICE_DATA",
        "ROLE=SPARQL_SELECT",
    ]


def test_virtuoso_fetches_nothing(virtuoso_store: Store, listener: tuple[int, list[bytes]]) -> None:
    """Sent straight to Virtuoso's /sparql, every way it has of fetching a graph or a query from elsewhere is refused
    or reads nothing, and the listener those IRIs point at is never reached; through makerkg, Virtuoso's pragmas
    before the query form are refused before they are sent."""
    port, received = listener
    outside = f"http://127.0.0.1:{port}/data"
    refused = [
        ({"query": f'define get:soft "soft" SELECT * FROM <{outside}> WHERE {{ ?s ?p ?o }}'}, "RDF_SPONGE_UP"),
        ({"query": f'define get:soft "replace" SELECT * FROM <{outside}> WHERE {{ ?s ?p ?o }}'}, "RDF_SPONGE_UP"),
        ({"query": f'define input:grab-all "yes" SELECT * WHERE {{ <{outside}> ?p ?o }}'}, "RDF_GRAB"),
        ({"query": f"LOAD <{outside}>"}, "SPARUL_LOAD"),
        ({"query": f"SELECT * WHERE {{ SERVICE <{outside}> {{ ?s ?p ?o }} }}"}, "SECURITY"),
    ]
    empty = [
        {"query": f"SELECT * FROM <{outside}> WHERE {{ ?s ?p ?o }}"},
        {"query": f"SELECT * FROM <{outside}> WHERE {{ ?s ?p ?o }}", "should-sponge": "soft"},
        {"query": f"SELECT * FROM <{outside}> WHERE {{ ?s ?p ?o }}", "should-sponge": "grab-everything"},
        {"query": "SELECT * WHERE { ?s ?p ?o }", "default-graph-uri": outside},
        {"query": "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", "named-graph-uri": outside},
    ]
    answers = []
    for params, reason in refused:
        try:
            with urllib.request.urlopen(f"{virtuoso_store.query}?{urllib.parse.urlencode(params)}", timeout=10):
                answers.append("answered")
        except urllib.error.HTTPError as err:
            with err:
                answers.append(reason if reason in err.read().decode(errors="replace") else f"{err.code}")
    assert answers == [reason for _, reason in refused]
    for params in empty:
        url = f"{virtuoso_store.query}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(urllib.request.Request(url, headers=JSON), timeout=10) as response:
            assert json.loads(response.read())["results"]["bindings"] == []
    query_uri = {"query-uri": outside}  # the query text from a URL: off (ExternalQuerySource = 0)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{virtuoso_store.query}?{urllib.parse.urlencode(query_uri)}", timeout=10)
    refused.value.close()
    time.sleep(0.5)
    assert received == []


def test_store_pragmas_are_not_passed_on(remote: Server, listener: tuple[int, list[bytes]]) -> None:
    port, received = listener
    pragma = f'define get:soft "soft" SELECT * FROM <http://127.0.0.1:{port}/data> WHERE {{ ?s ?p ?o }}'
    status, _, body = http(
        remote, "/sparql?" + urllib.parse.urlencode({"query": pragma}), headers={"Accept": "application/problem+json"}
    )
    assert (status, json.loads(body)["detail"]) == (400, f"query: {NOT_A_QUERY}")
    time.sleep(0.5)
    assert received == []


@pytest.mark.virtuoso
def test_virtuoso_dialect(served_from_virtuoso: Server) -> None:
    """Where Virtuoso reads a query otherwise than SPARQL 1.1 and the embedded engine, pinned (docs/scale.md):
    FROM and the protocol's default-graph-uri together read the merge of both, where the protocol's should win;
    FROM alone leaves the named graphs every graph Virtuoso holds, where they should be none; a BASE after a PREFIX
    is a syntax error (makerkg passes the store's message on as a 400); strings in other languages sort otherwise
    (SPARQL leaves their order to the engine); ORDER BY with a LIMIT over 10,000 is refused (its MaxSortedTopRows;
    makerkg answers 502, as for any error of the store's own)."""
    remote = served_from_virtuoso
    edition8 = "https://w3id.org/makerkg/graph/edition/8"
    edition11 = "https://w3id.org/makerkg/graph/edition/11"
    contests = "SELECT (COUNT(*) AS ?n) FROM <%s> WHERE { ?c a mkg:Contest }"
    assert rows(remote, contests % edition8) == [{"n": "50"}]
    assert rows(remote, contests % edition8, **{"default-graph-uri": edition11}) == [{"n": "104"}]  # 54 expected
    system = f"ASK FROM <{edition8}> {{ GRAPH <http://www.openlinksw.com/schemas/virtrdf#> {{ ?s ?p ?o }} }}"
    status, _, body = http(remote, "/sparql?" + urllib.parse.urlencode({"query": system}), headers=JSON)
    assert (status, json.loads(body)["boolean"]) == (200, True)  # false expected: no named graphs
    late_base = "PREFIX ex: <urn:ex:> BASE <https://w3id.org/makerkg/> ASK { ?s ?p ?o }"
    status, _, body = http(
        remote,
        "/sparql?" + urllib.parse.urlencode({"query": late_base}),
        headers={"Accept": "application/problem+json"},
    )
    assert status == 400
    assert json.loads(body)["detail"].startswith("query: the store says: Virtuoso 37000 Error SP030")
    names = "SELECT ?name WHERE { <place/330100> skos:prefLabel ?name } ORDER BY ?name"
    assert rows(remote, names) == [{"name": "杭州市"}, {"name": "Hangzhou"}]  # Oxigraph: Hangzhou first
    sorted_top = "SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s LIMIT 10001"
    assert http(remote, "/sparql?" + urllib.parse.urlencode({"query": sorted_top}), headers=JSON)[0] == 502


def test_an_answer_virtuoso_cut_says_so(virtuoso_store: Store, built: BuildResult) -> None:
    """Virtuoso cuts an answer at its ResultSetMaxRows (5,000 in the tests' configuration) and says so only in a
    header (X-SPARQL-MaxRows): the answer makerkg gives says it was cut, and by what, as it does for its own caps."""
    pool = RemotePool(virtuoso_store.query, 30, built.build.info.quads_per_graph, DEFAULT_GRAPH)
    job = Job("SELECT * WHERE { ?s ?p ?o }", "SELECT", "application/sparql-results+json", max_rows=10_000)
    answer = pool.execute(job).answer
    assert answer.truncated == "store_max_rows=5000"
    document = json.loads(answer.body)
    assert len(document["results"]["bindings"]) == 5000 < built.build.info.triples
    assert document["head"]["link"] == ["urn:makerkg:result-truncated"]
    assert pool.execute(
        Job("SELECT * WHERE { ?s ?p ?o }", "SELECT", job.media_type, max_rows=100)
    ).answer.truncated == ("max_rows=100")


def test_the_merge_is_never_loaded_over_a_graph_of_the_build(oxigraph_store: Store, built: BuildResult) -> None:
    ontology = "https://w3id.org/makerkg/graph/ontology"
    loaded = subprocess.run(
        [sys.executable, "-m", "makerkg.cli", "load", "--store", oxigraph_store.query, "--default-graph", ontology],
        env={**os.environ, "MAKERKG_OUT": str(built.build.path.parent.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (loaded.returncode, loaded.stderr) == (
        2,
        f"makerkg: store_default_graph: {ontology} is a graph of the build; name a graph of its own\n",
    )
