"""What the remote store adapter sends with a query, without a store: the text (the build's base and predefined
prefixes added where the query sets none, its lines kept) and the dataset's parameters (issue 16)."""

from __future__ import annotations

import pytest

from makerkg.namespaces import PREFIXES
from makerkg.sparql.precheck import outline
from makerkg.store.query import Job
from makerkg.store.remote import RemotePool, parse_results, remote_text

BASE = "https://w3id.org/makerkg/"
GRAPHS = ("https://w3id.org/makerkg/graph/edition/8", "https://w3id.org/makerkg/graph/ontology")
MERGE = "urn:makerkg:default-graph"
OURS = " ".join(f"PREFIX {name}: <{iri}>" for name, iri in PREFIXES.items())


def job(text: str, default: tuple[str, ...] = (), named: tuple[str, ...] = (), prefixes: bool = True) -> Job:
    return Job(text, "SELECT", "application/sparql-results+json", 10, (1 << 20), default, named, BASE, prefixes)


@pytest.mark.parametrize(
    ("text", "prefixes", "sent"),
    [
        pytest.param("SELECT * { ?s ?p ?o }", True, f"BASE <{BASE}> {OURS} SELECT * {{ ?s ?p ?o }}", id="none"),
        pytest.param(
            "PREFIX schema: <http://example.org/s#>\nSELECT * { ?s schema:p ?o }",
            True,
            f"BASE <{BASE}> PREFIX schema: <http://example.org/s#>\n"
            + OURS.replace("PREFIX schema: <https://schema.org/> ", "")
            + " SELECT * { ?s schema:p ?o }",
            id="a prefix of its own wins",
        ),
        pytest.param(
            "BASE <http://example.org/>\nSELECT * { <a> ?p ?o }",
            True,
            f"BASE <http://example.org/>\n{OURS} SELECT * {{ <a> ?p ?o }}",
            id="a base of its own, first, as Virtuoso needs it",
        ),
        pytest.param("SELECT * { ?s ?p ?o }", False, f"BASE <{BASE}> SELECT * {{ ?s ?p ?o }}", id="no prefixes"),
        pytest.param(
            "# a comment\nPREFIX ex: <urn:x#> # another\nASK { ?s ex:p ?o }",
            True,
            f"BASE <{BASE}> # a comment\nPREFIX ex: <urn:x#> # another\n{OURS} ASK {{ ?s ex:p ?o }}",
            id="comments in the prologue",
        ),
    ],
)
def test_the_text_sent_carries_the_base_and_prefixes_on_the_querys_lines(text: str, prefixes: bool, sent: str) -> None:
    found = remote_text(job(text, prefixes=prefixes), outline(text))
    assert found == sent
    assert found.count("\n") == text.count("\n")


@pytest.mark.parametrize(
    ("text", "default", "named", "sent"),
    [
        pytest.param("SELECT * { ?s ?p ?o }", (), (), [("default-graph-uri", MERGE)], id="no dataset: the merge"),
        pytest.param(
            "SELECT * { GRAPH ?g { ?s ?p ?o } }",
            (),
            (),
            [("default-graph-uri", MERGE), *(("named-graph-uri", g) for g in GRAPHS)],
            id="a GRAPH pattern: the build's graphs too",
        ),
        pytest.param(
            "SELECT * { GRAPH ?g { ?s ?p ?o } }",
            (GRAPHS[0],),
            (),
            [("default-graph-uri", GRAPHS[0]), *(("named-graph-uri", g) for g in GRAPHS)],
            id="default-graph-uri alone: the build's graphs named",
        ),
        pytest.param(
            "SELECT * { ?s ?p ?o }",
            (),
            (GRAPHS[1],),
            [("default-graph-uri", MERGE), ("named-graph-uri", GRAPHS[1])],
            id="named-graph-uri alone: the merge as default",
        ),
        pytest.param(f"SELECT * FROM <{GRAPHS[0]}> {{ ?s ?p ?o }}", (), (), [], id="FROM: the query's own"),
        pytest.param(
            f"SELECT * FROM NAMED <{GRAPHS[0]}> {{ GRAPH ?g {{ ?s ?p ?o }} }}",
            (GRAPHS[1],),
            (),
            [("default-graph-uri", GRAPHS[1])],
            id="FROM NAMED and the protocol: passed as they are",
        ),
        pytest.param(
            "PREFIX from: <urn:f#> SELECT * { ?s from:p ?o }",
            (),
            (),
            [("default-graph-uri", MERGE)],
            id="a prefix named from is no FROM",
        ),
    ],
)
def test_the_dataset_sent_to_a_store_whose_default_graph_is_not_the_merge(
    text: str, default: tuple[str, ...], named: tuple[str, ...], sent: list[tuple[str, str]]
) -> None:
    pool = RemotePool("http://127.0.0.1:9/sparql", 1, reversed(GRAPHS), MERGE)
    assert pool.dataset(job(text, default, named), outline(text)) == sent


def test_a_store_whose_default_graph_is_the_merge_gets_the_request_dataset_only() -> None:
    pool = RemotePool("http://127.0.0.1:9/query", 1, GRAPHS)
    text = "SELECT * { GRAPH ?g { ?s ?p ?o } }"
    assert pool.dataset(job(text), outline(text)) == []
    assert pool.dataset(job(text, named=(GRAPHS[0],)), outline(text)) == [("named-graph-uri", GRAPHS[0])]


def test_blank_node_labels_a_store_gives_are_made_sparqls() -> None:
    """Virtuoso labels blank nodes nodeID://b10000, which SPARQL's syntax does not allow; the same label gives the
    same blank node, in a quoted triple too, and a label that is allowed is kept."""
    body = (
        b'{"head": {"vars": ["a", "b", "c", "t"]}, "results": {"bindings": [{'
        b'"a": {"type": "bnode", "value": "nodeID://b10000"}, "b": {"type": "bnode", "value": "nodeID://b10000"}, '
        b'"c": {"type": "bnode", "value": "b1"}, "t": {"type": "triple", "value": {'
        b'"subject": {"type": "bnode", "value": "nodeID://b10000"}, "predicate": {"type": "uri", "value": "urn:p"}, '
        b'"object": {"type": "typed-literal", "datatype": "http://www.w3.org/2001/XMLSchema#integer", "value": "2"}}}'
        b"}]}}"
    )
    (row,) = list(parse_results(body, "application/sparql-results+json"))  # type: ignore[arg-type]
    assert row["a"] == row["b"] == row["t"].subject  # type: ignore[union-attr]
    assert row["a"].value == "x6e6f646549443a2f2f623130303030"  # type: ignore[union-attr]
    assert row["c"].value == "b1"  # type: ignore[union-attr]
    assert row["t"].object.value == "2"  # type: ignore[union-attr]
