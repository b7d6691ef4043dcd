"""The pre-check: the form it reads, and the exact reason for each refusal, including the texts that read one way
to a parser expanding \\u escapes over the whole text (SPARQL 1.1, rdflib) and another way to Oxigraph."""

from __future__ import annotations

import random

import pyoxigraph
import pytest

from makerkg.errors import QueryRefused, QuerySyntaxError
from makerkg.sparql.precheck import MAX_DEPTH, MAX_OPERATORS, READ_ONLY, SERVICE_REFUSED, precheck

DISAGREE = (
    "the query's \\u escapes make it read as a different query before and after they are expanded; "
    "write the characters themselves"
)
PREFIXES = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX schema: <https://schema.org/>
PREFIX mk: <https://makerkg.example/def/>
"""

# local parts of prefixed names holding "service" past an escape, a percent-encoding or a colon: the engine reads
# each as one name (test_the_engine_reads_these_local_names_whole), and the scan as opaque. Not past a bare dot:
# the engine reads ex:a.b.service as ex:a.b, a dot and SERVICE (test_whatever_the_engine_reads_as_service_is_refused)
LOCAL_NAMES_WITH_SERVICE = ("%41service", "a%41service", "a\\-service", "a\\.service", "a:service", "a:b:service")


@pytest.mark.parametrize(
    ("text", "form"),
    [
        pytest.param("SELECT * WHERE { ?s ?p ?o }", "SELECT", id="SELECT"),
        pytest.param("select * where { ?s ?p ?o }", "SELECT", id="lower case"),
        pytest.param("ASK { ?s a <https://makerkg.example/def/Contest> }", "ASK", id="ASK"),
        pytest.param("CONSTRUCT WHERE { ?s ?p ?o }", "CONSTRUCT", id="CONSTRUCT WHERE short form"),
        pytest.param("DESCRIBE <https://makerkg.example/id/contest/11>", "DESCRIBE", id="DESCRIBE IRI"),
        pytest.param("BASE <https://makerkg.example/graph/>\nASK FROM <plans> { ?s ?p ?o }", "ASK", id="BASE"),
        pytest.param(
            PREFIXES
            + """SELECT ?contest (COUNT(?org) AS ?n) FROM <http://example.org/outside>
WHERE { ?contest a mk:Contest ; rdfs:label ?name ; mk:organizer ?org ; schema:serviceType ?t .
  FILTER(LANG(?name) = "zh" && DATATYPE(?n) != xsd:string) }
GROUP BY ?contest ORDER BY DESC(?n) LIMIT 10""",
            "SELECT",
            id="prefixes, FROM any graph, a local name starting with service",
        ),
        pytest.param(
            'SELECT * { ?s ?p "SERVICE <http://example.org/sparql> { }" } # SERVICE <http://example.org/sparql>',
            "SELECT",
            id="SERVICE in a literal and a comment only",
        ),
        pytest.param("SELECT ?service { ?service a <http://example.org/service> }", "SELECT", id="variable, IRI"),
        pytest.param(
            "PREFIX ex: <http://example.org/>\nSELECT * { ?s ex:p ?o }\nVALUES ?o { "
            + " ".join(f'"{n}"^^<http://www.w3.org/2001/XMLSchema#string>' for n in range(5000))
            + " }",
            "SELECT",
            id="a VALUES block of 5,000 typed literals",
        ),
        pytest.param(
            "SELECT * { " + " ".join(f"?s{n} <http://example.org/p> ?o{n} ." for n in range(300)) + " }",
            "SELECT",
            id="a BGP of 300 triple patterns",
        ),
        *(
            pytest.param(f"PREFIX x: <http://h/> SELECT * {{ ?s x:{local} ?o }}", "SELECT", id=f"local name {local}")
            for local in LOCAL_NAMES_WITH_SERVICE
        ),
        pytest.param("SELEC * {}", None, id="no form: the engine reports the error"),
        pytest.param("", None, id="empty"),
    ],
)
def test_form(text: str, form: str | None) -> None:
    assert precheck(text).form == form


SERVICE_CASES = [
    pytest.param("SELECT * { SERVICE <http://example.org/sparql> { ?s ?p ?o } }", id="SERVICE"),
    pytest.param("SELECT * { SeRvIcE <http://example.org/sparql> { ?s ?p ?o } }", id="any case"),
    pytest.param("SELECT * { SERVICE ?x { ?s ?p ?o } }", id="SERVICE ?x"),
    pytest.param("SELECT * { SERVICE SILENT <http://example.org/sparql> { } }", id="SERVICE SILENT"),
    pytest.param("SELECT * { SERVICEx:y { } }", id="glued to a prefixed name, as Oxigraph reads it"),
    pytest.param("SELECT * { ?s ?p 1SERVICE<http://h/>{} }", id="glued to a number"),
    pytest.param("SELECT * { ?s ?p ?o .SERVICE<http://h/>{} }", id="glued to a dot"),
    pytest.param("PREFIX x: <http://h/> SELECT * { ?s x:a.SERVICE<http://h/>{} }", id="after a local name's dot"),
    pytest.param(
        "PREFIX x: <http://h/> SELECT * { ?s ?p x:plan-08.txt.service SILENT <http://h/> {} }",
        id="after a local name's second dot, which the engine reads as a dot (an outside check's bypass)",
    ),
    pytest.param("SELECT * { FILTER(?a<?b)SERVICE<http://h/>{} }", id="after a less-than that is no IRI"),
    pytest.param("SELECT * { # comment\rSERVICE <http://h/> {} }", id="after a comment ended by CR"),
    pytest.param("PREFIX services: <http://h/> SELECT * { ?s services:p ?o }", id="a prefix containing service"),
    pytest.param(
        'SELECT * WHERE { BIND("a\\u0022 AS ?x) } #" AS ?y) SERVICE <http://127.0.0.1:9/x> { ?s ?p ?o } }',
        id="SERVICE hidden in a comment when \\u0022 is expanded over the text",
    ),
    pytest.param("SELECT * { \\u0053ERVICE <http://example.org/sparql> { } }", id="SERVICE spelt with \\u"),
    pytest.param(
        "SELECT * { OPTIONAL { ?s ?q ?r OPTIONAL { SERVICE <http://example.org/sparql> { ?r ?p ?o } } } }",
        id="nested OPTIONAL",
    ),
    pytest.param("DESCRIBE ?s WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }", id="DESCRIBE"),
    pytest.param("SELECT * { BIND(EXISTS { SERVICE <http://example.org/s> { } } AS ?b) }", id="EXISTS in BIND"),
]


@pytest.mark.parametrize("text", SERVICE_CASES)
def test_service_is_refused(text: str) -> None:
    with pytest.raises(QueryRefused) as caught:
        precheck(text)
    assert caught.value.reason == SERVICE_REFUSED


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("INSERT DATA { <http://a/> <http://b/> <http://c/> }", id="INSERT DATA"),
        pytest.param("PREFIX ex: <http://example.org/>\nDELETE WHERE { ?s ex:p ?o }", id="DELETE WHERE with PREFIX"),
        pytest.param("LOAD <http://example.org/data.ttl>", id="LOAD"),
        pytest.param("LOAD SILENT <http://example.org/data.ttl> INTO GRAPH <http://a/>", id="LOAD INTO"),
        pytest.param("CLEAR ALL", id="CLEAR"),
        pytest.param("DROP SILENT DEFAULT", id="DROP"),
        pytest.param("COPY DEFAULT TO <http://a/>", id="COPY"),
        pytest.param("WITH <http://a/> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", id="WITH"),
        pytest.param("# a comment\nclear default", id="after a comment, lower case"),
    ],
)
def test_updates_are_refused(text: str) -> None:
    with pytest.raises(QueryRefused) as caught:
        precheck(text)
    assert caught.value.reason == READ_ONLY


def test_escapes_that_change_the_form_are_refused() -> None:
    """Expanded, \\u0041SK is ASK; to Oxigraph it is no keyword at all: two readings, so refused."""
    with pytest.raises(QueryRefused) as caught:
        precheck("\\u0041SK {}")
    assert caught.value.reason == DISAGREE


def test_escapes_inside_strings_that_change_nothing_pass() -> None:
    assert precheck('SELECT * { ?s ?p "\\u676d\\u5dde" }').form == "SELECT"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "SELECT * {" + "{" * MAX_DEPTH + "}" * (MAX_DEPTH + 1),
            f"the query nests {MAX_DEPTH + 1} brackets deep, over the limit of {MAX_DEPTH} (depth); flatten it",
            id="groups",
        ),
        pytest.param(
            "SELECT (" + "(" * 5000 + "1" + ")" * 5000 + " AS ?x) {}",
            f"the query nests 5001 brackets deep, over the limit of {MAX_DEPTH} (depth); flatten it",
            id="parentheses",
        ),
        pytest.param(
            "SELECT (" + "+".join(["1"] * 50_000) + " AS ?x) {}",
            f"the query chains more than {MAX_OPERATORS} operators, over the limit (operators); "
            "use IN ( … ) or VALUES for long lists",
            id="a 100 kB sum",
        ),
        pytest.param(
            "SELECT * { FILTER(" + "&&".join(["true"] * 10_000) + ") }",
            f"the query chains more than {MAX_OPERATORS} operators, over the limit (operators); "
            "use IN ( … ) or VALUES for long lists",
            id="10,000 conjuncts",
        ),
        pytest.param(
            "SELECT * { " + " UNION ".join("{ ?s ?p ?o }" for _ in range(MAX_OPERATORS + 1)) + " }",
            f"the query chains more than {MAX_OPERATORS} operators, over the limit (operators); "
            "use IN ( … ) or VALUES for long lists",
            id="a chain of UNIONs",
        ),
    ],
)
def test_limits(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        precheck(text)
    assert caught.value.message == message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("SELECT * { FILTER(1 IN (" + ",".join(["1"] * 15_000) + ")) }", id="IN list of 15,000"),
        pytest.param("SELECT (COALESCE(" + ",".join(["?a"] * 10_000) + ") AS ?x) {}", id="COALESCE of 10,000"),
    ],
)
def test_long_flat_lists_pass(text: str) -> None:
    assert precheck(text).form == "SELECT"


@pytest.mark.parametrize("local", LOCAL_NAMES_WITH_SERVICE)
def test_the_engine_reads_these_local_names_whole(local: str) -> None:
    """Where a reading of the name ending before "service" would make SERVICE a keyword (an object followed by
    SERVICE needs no dot), Oxigraph's reading of the name as a whole is a syntax error: it never takes the other."""
    store = pyoxigraph.Store()
    (name,) = (row["x"] for row in store.query(f"PREFIX x: <http://h/> SELECT ?x {{ BIND(x:{local} AS ?x) }}"))
    assert name == pyoxigraph.NamedNode("http://h/" + local.replace("\\", ""))
    with pytest.raises(SyntaxError):
        store.query(f"PREFIX x: <http://h/> SELECT * {{ ?s ?p x:{local}<http://127.0.0.1:9/>{{}} }}")


def _local_names(count: int) -> list[str]:
    """Local names of prefixed names ending in service, made of parts joined by dots, escapes and percent-encodings."""
    pick = random.Random(20261202)  # noqa: S311 - test data, the same at every run
    parts = ["a", "b", "1", "ab", "a-b", "a_b", "%41", "a\\-b", "a\\.b", "a:b", "txt", "08"]
    names = []
    for _ in range(count):
        segments = [pick.choice(parts) for _ in range(pick.randint(0, 4))]
        names.append(pick.choice([".", "", ".."]).join([*segments, pick.choice(["service", "SERVICE", "xservice"])]))
    return names


@pytest.mark.parametrize("tail", [" SILENT <http://127.0.0.1:9/> { }", "<http://127.0.0.1:9/>{}", " ?x { }"])
def test_whatever_the_engine_reads_as_service_is_refused(tail: str) -> None:
    """The pre-check reads more as SERVICE than the engine (a name holding a bare dot), never less: each query below
    parses only where the engine reads SERVICE (an object followed by SERVICE needs no dot)."""
    store = pyoxigraph.Store()
    read_as_service = []
    for local in _local_names(400):
        text = f"PREFIX ex: <http://e/> SELECT * {{ ?s ?p ex:{local}{tail} }} LIMIT 1"
        try:
            store.query(text)
        except SyntaxError:
            continue
        except OSError:  # the SERVICE ran (and failed): it was read
            pass
        read_as_service.append(local)
        with pytest.raises(QueryRefused):
            precheck(text)
    assert len(read_as_service) >= 10  # the names that make the engine read SERVICE are among those tried
