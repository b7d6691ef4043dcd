"""Query checks: the form of an accepted query, and the exact reason for each refusal or syntax error."""

from __future__ import annotations

import pytest

from makerkg.errors import QueryRefused, QuerySyntaxError
from makerkg.sparql import checks
from makerkg.sparql.checks import CACHED_CHARS, CheckedQuery, check_query, refuse_outside

G = "https://makerkg.example/graph/plans"
G2 = "https://makerkg.example/graph/reference"
DATASET = frozenset({G, G2})
READ_ONLY = "this endpoint is read-only: SPARQL Update is not accepted"
ONLY = "is not a graph of this dataset: only the dataset's graphs may be named"
SERVICE_X = "SERVICE <http://example.org/sparql> is refused: this endpoint queries only its own dataset"

PREFIXES = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX schema: <https://schema.org/>
PREFIX org: <http://www.w3.org/ns/org#>
PREFIX mk: <https://makerkg.example/def/>
PREFIX mkg: <https://makerkg.example/graph/>
"""


@pytest.mark.parametrize(
    ("text", "form", "from_graphs", "from_named"),
    [
        pytest.param("SELECT * WHERE { ?s ?p ?o }", "SELECT", (), (), id="SELECT"),
        pytest.param("ASK { ?s a <https://makerkg.example/def/Contest> }", "ASK", (), (), id="ASK"),
        pytest.param("CONSTRUCT WHERE { ?s ?p ?o }", "CONSTRUCT", (), (), id="CONSTRUCT WHERE short form"),
        pytest.param("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 5", "CONSTRUCT", (), (), id="CONSTRUCT"),
        pytest.param("DESCRIBE <https://makerkg.example/id/contest/11>", "DESCRIBE", (), (), id="DESCRIBE IRI"),
        pytest.param("DESCRIBE ?c WHERE { ?c ?p ?o } LIMIT 1", "DESCRIBE", (), (), id="DESCRIBE WHERE"),
        pytest.param(
            PREFIXES
            + """SELECT ?contest ?name (COUNT(?org) AS ?n)
FROM mkg:plans
FROM NAMED mkg:reference
WHERE {
  ?contest a mk:Contest ; rdfs:label ?name ; mk:organizer ?org .
  ?org a org:Organization ; skos:prefLabel ?label .
  OPTIONAL { ?contest schema:location/rdfs:label ?place }
  FILTER(LANG(?name) = "zh" && DATATYPE(?n) != xsd:string)
}
GROUP BY ?contest ?name ORDER BY DESC(?n) LIMIT 10""",
            "SELECT",
            (G,),
            (G2,),
            id="PREFIX-heavy, FROM by prefixed name",
        ),
        pytest.param(f"SELECT * FROM <{G}> WHERE {{ ?s ?p ?o }}", "SELECT", (G,), (), id="FROM a dataset graph"),
        pytest.param(
            f"SELECT * FROM <{G}> FROM <{G2}> FROM NAMED <{G2}> {{ GRAPH ?g {{ ?s ?p ?o }} }}",
            "SELECT",
            (G, G2),
            (G2,),
            id="FROM and FROM NAMED dataset graphs",
        ),
        pytest.param(
            "BASE <https://makerkg.example/graph/>\nASK FROM <plans> { ?s ?p ?o }",
            "ASK",
            (G,),
            (),
            id="FROM relative to BASE",
        ),
        pytest.param(
            'SELECT * { ?s ?p "SERVICE <http://example.org/sparql> { }" } # SERVICE <http://example.org/sparql>',
            "SELECT",
            (),
            (),
            id="SERVICE in a literal and a comment only",
        ),
        pytest.param("SELECT ?service { ?service a ?type }", "SELECT", (), (), id="a variable named service"),
    ],
)
def test_accepted(text: str, form: str, from_graphs: tuple[str, ...], from_named: tuple[str, ...]) -> None:
    assert check_query(text, DATASET) == CheckedQuery(text, form, from_graphs, from_named)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(
            "SELECT * { ?s ?p ?o OPTIONAL { ?s ?q ?r OPTIONAL { SERVICE <http://example.org/sparql> { ?r ?p ?o } } } }",
            SERVICE_X,
            id="SERVICE in a nested OPTIONAL",
        ),
        pytest.param(
            "SELECT * { SERVICE ?x { ?s ?p ?o } }",
            "SERVICE ?x is refused: this endpoint queries only its own dataset",
            id="SERVICE ?x",
        ),
        pytest.param(
            "SELECT * { SERVICE SILENT <http://example.org/sparql> { ?s ?p ?o } }", SERVICE_X, id="SERVICE SILENT"
        ),
        pytest.param(
            "PREFIX ex: <http://example.org/>\nSELECT * { SERVICE SILENT ex:sparql { ?s ?p ?o } }",
            "SERVICE ex:sparql is refused: this endpoint queries only its own dataset",
            id="SERVICE by prefixed name",
        ),
        pytest.param(
            "SELECT * { { SELECT ?s WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } } } }",
            SERVICE_X,
            id="SERVICE in a subquery",
        ),
        pytest.param(
            "SELECT * { { ?s ?p ?o } UNION { SERVICE <http://example.org/sparql> { ?s ?p ?o } } }",
            SERVICE_X,
            id="SERVICE in a UNION",
        ),
        pytest.param(
            "SELECT * { ?s ?p ?o MINUS { SERVICE <http://example.org/sparql> { ?s ?p ?o } } }",
            SERVICE_X,
            id="SERVICE in a MINUS",
        ),
        pytest.param(
            "SELECT * { ?s ?p ?o FILTER NOT EXISTS { SERVICE <http://example.org/sparql> { ?s ?p ?o } } }",
            SERVICE_X,
            id="SERVICE in FILTER NOT EXISTS",
        ),
        pytest.param(
            "SELECT * { ?s ?p ?o BIND(EXISTS { SERVICE <http://example.org/sparql> { ?s ?p ?o } } AS ?b) }",
            SERVICE_X,
            id="SERVICE in EXISTS inside BIND",
        ),
        pytest.param(
            "ASK { GRAPH ?g { SERVICE <http://example.org/sparql> { ?s ?p ?o } } }", SERVICE_X, id="SERVICE in GRAPH"
        ),
        pytest.param(
            "CONSTRUCT { ?s ?p ?o } WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }",
            SERVICE_X,
            id="SERVICE in CONSTRUCT",
        ),
        pytest.param(
            "DESCRIBE ?s WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }",
            SERVICE_X,
            id="SERVICE in DESCRIBE",
        ),
        pytest.param(
            "SELECT * { \\u0053ERVICE <http://example.org/sparql> { ?s ?p ?o } }",
            SERVICE_X,
            id="SERVICE written with a \\u escape",
        ),
        pytest.param(
            "# " + "x" * CACHED_CHARS + "\nSELECT * { SERVICE <http://example.org/sparql> { ?s ?p ?o } }",
            SERVICE_X,
            id="SERVICE in a query too long for the cache",
        ),
        pytest.param(
            "SELECT * FROM <http://example.org/data.ttl> { ?s ?p ?o }",
            f"FROM <http://example.org/data.ttl> {ONLY}",
            id="FROM an outside IRI",
        ),
        pytest.param(
            f"SELECT * FROM <{G}> FROM <http://example.org/data.ttl> {{ ?s ?p ?o }}",
            f"FROM <http://example.org/data.ttl> {ONLY}",
            id="FROM a dataset graph and an outside one",
        ),
        pytest.param(
            f"SELECT * FROM <{G}> FROM NAMED <http://example.org/g> {{ GRAPH ?g {{ ?s ?p ?o }} }}",
            f"FROM NAMED <http://example.org/g> {ONLY}",
            id="FROM NAMED outside",
        ),
        pytest.param(
            "PREFIX ex: <http://example.org/>\nASK FROM ex:g { ?s ?p ?o }",
            f"FROM <http://example.org/g> {ONLY}",
            id="FROM outside by prefixed name",
        ),
        pytest.param("ASK FROM <plans> { ?s ?p ?o }", f"FROM <plans> {ONLY}", id="FROM relative without BASE"),
        pytest.param(
            "# " + "x" * CACHED_CHARS + "\nASK FROM <http://example.org/g> { ?s ?p ?o }",
            f"FROM <http://example.org/g> {ONLY}",
            id="FROM outside in a query too long for the cache",
        ),
        pytest.param("INSERT DATA { <http://a/> <http://b/> <http://c/> }", READ_ONLY, id="INSERT DATA"),
        pytest.param(
            "PREFIX ex: <http://example.org/>\nDELETE WHERE { ?s ex:p ?o }", READ_ONLY, id="DELETE WHERE with PREFIX"
        ),
        pytest.param("DELETE { ?s ?p ?o } INSERT { ?s ?p 1 } WHERE { ?s ?p ?o }", READ_ONLY, id="DELETE INSERT WHERE"),
        pytest.param("LOAD <http://example.org/data.ttl>", READ_ONLY, id="LOAD"),
        pytest.param("LOAD SILENT <http://example.org/data.ttl> INTO GRAPH <http://a/>", READ_ONLY, id="LOAD INTO"),
        pytest.param("CLEAR ALL", READ_ONLY, id="CLEAR"),
        pytest.param("CREATE GRAPH <http://a/>", READ_ONLY, id="CREATE"),
        pytest.param("DROP SILENT DEFAULT", READ_ONLY, id="DROP"),
        pytest.param("COPY DEFAULT TO <http://a/>", READ_ONLY, id="COPY"),
        pytest.param("CLEAR DEFAULT ; LOAD <http://example.org/data.ttl>", READ_ONLY, id="two operations"),
    ],
)
def test_refused(text: str, reason: str) -> None:
    with pytest.raises(QueryRefused) as caught:
        check_query(text, DATASET)
    assert (caught.value.reason, str(caught.value)) == (reason, reason)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "SELECT ?s\nWHERE { ?s ?p ?o }}",
            "SPARQL syntax error at line 2, column 19: Expected end of text, found '}'",
            id="stray brace at line 2",
        ),
        pytest.param(
            PREFIXES + "SELECT ?s\nWHRE { ?s ?p ?o }",
            "SPARQL syntax error at line 12, column 1: Expected SelectQuery, found 'WHRE'",
            id="misspelt WHERE after the prefixes",
        ),
        pytest.param(
            "",
            "SPARQL syntax error at line 1, column 1: Expected {SelectQuery | ConstructQuery | DescribeQuery | AskQuery}, found end of text",
            id="empty",
        ),
        pytest.param(
            "PREFIX ex: <http://example.org/>\n",
            "SPARQL syntax error at line 2, column 1: Expected {SelectQuery | ConstructQuery | DescribeQuery | AskQuery}, found end of text",
            id="prologue only (an empty update, not a query)",
        ),
        pytest.param(
            "SELECT * { ?s ?p ?o } ;\nINSERT DATA { }",
            "SPARQL syntax error at line 1, column 23: Expected end of text, found ';'",
            id="a query then an update",
        ),
        pytest.param(
            "ASK FROM nope:g { }",
            "SPARQL syntax error: unknown prefix nope: in FROM",
            id="FROM with an undeclared prefix",
        ),
        pytest.param(
            'ASK { ?s ?p "\\UFFFFFFFF" }',
            "SPARQL syntax error: Invalid unicode code point: FFFFFFFF",
            id="bad \\U escape",
        ),
        pytest.param(
            "SELECT * {" + "{" * 3000 + "}" * 3001,
            "SPARQL syntax error: the query is nested too deeply to parse",
            id="nested too deeply",
        ),
    ],
)
def test_syntax_error(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        check_query(text, DATASET)
    assert (caught.value.message, str(caught.value)) == (message, message)


def test_graphs_checked_on_every_call() -> None:
    """The cache holds what the text says, never the dataset check: the same text is judged by each call's graphs."""
    text = f"ASK FROM <{G}> {{ ?s ?p ?o }}"
    assert check_query(text, DATASET).from_graphs == (G,)
    with pytest.raises(QueryRefused) as caught:
        check_query(text, frozenset({G2}))
    assert caught.value.reason == f"FROM <{G}> {ONLY}"
    assert check_query(text, DATASET).from_graphs == (G,)


@pytest.mark.parametrize(
    ("length", "cached"),
    [
        pytest.param(CACHED_CHARS, True, id="at the limit: cached"),
        pytest.param(CACHED_CHARS + 1, False, id="over the limit: parsed every time"),
    ],
)
def test_cache_holds_short_texts_only(length: int, cached: bool) -> None:
    """The cache's memory stays bounded: 1024 entries of at most CACHED_CHARS characters."""
    query = f"\nASK FROM <{G}> {{ }}"
    text = "#" * (length - len(query)) + query
    check_query(text, DATASET)
    before = checks._examine_cached.cache_info().hits
    assert check_query(text, DATASET).from_graphs == (G,)
    assert checks._examine_cached.cache_info().hits - before == (1 if cached else 0)


@pytest.mark.parametrize(
    ("clause", "iris", "refusal"),
    [
        pytest.param("default-graph-uri", [G, G2], None, id="dataset graphs"),
        pytest.param("default-graph-uri", [], None, id="none"),
        pytest.param(
            "named-graph-uri",
            [G, "http://example.org/g"],
            f"named-graph-uri <http://example.org/g> {ONLY}",
            id="outside",
        ),
    ],
)
def test_refuse_outside(clause: str, iris: list[str], refusal: str | None) -> None:
    if refusal is None:
        refuse_outside(clause, iris, DATASET)
    else:
        with pytest.raises(QueryRefused) as caught:
            refuse_outside(clause, iris, DATASET)
        assert caught.value.reason == refusal
