"""Content negotiation: real clients' Accept strings, q-values, wildcards, q=0, parameters, aliases from the format
table and `format=` against both offer lists."""

from __future__ import annotations

import pytest

from makerkg.errors import NotAcceptable
from makerkg.sparql.negotiate import negotiate

JSON = "application/sparql-results+json"
XML = "application/sparql-results+xml"
CSV = "text/csv"
TSV = "text/tab-separated-values"
RESULTS = [JSON, XML, CSV, TSV]
RESULT_ALIASES = {"json": JSON, "xml": XML, "csv": CSV, "tsv": TSV}

TURTLE = "text/turtle"
NT = "application/n-triples"
JSONLD = "application/ld+json"
RDFXML = "application/rdf+xml"
GRAPHS = [TURTLE, NT, JSONLD, RDFXML]
# SPARQLWrapper's names besides the short ones: it sends format=turtle, n3, xml, json-ld, rdf+xml for a graph.
GRAPH_ALIASES = {
    "ttl": TURTLE,
    "turtle": TURTLE,
    "n3": TURTLE,
    "nt": NT,
    "jsonld": JSONLD,
    "json-ld": JSONLD,
    "rdfxml": RDFXML,
    "rdf+xml": RDFXML,
    "xml": RDFXML,
}

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CURL = "*/*"
# SPARQLWrapper 2.0 _getAcceptHeader(), by return format (N3 is its nearest to N-Triples)
SW_JSON = "application/sparql-results+json,application/json,text/javascript,application/javascript"
SW_XML = "application/sparql-results+xml"
SW_CSV = "text/csv"
SW_TSV = "text/tab-separated-values"
SW_TURTLE = "application/turtle,text/turtle"
SW_N3 = "application/turtle,text/turtle,text/rdf+n3,application/n-triples,application/n3,text/n3"
SW_JSONLD = "application/ld+json,application/x-json+ld"
SW_RDFXML = "application/rdf+xml"
# rdflib 7.6 SPARQLStore with its default returnFormat "xml" (joined from a set: either order)
RDFLIB = "application/sparql-results+xml, application/rdf+xml"
RDFLIB_SWAPPED = "application/rdf+xml, application/sparql-results+xml"


@pytest.mark.parametrize(
    ("accept", "format_param", "offers", "aliases", "expected"),
    [
        pytest.param(None, None, RESULTS, RESULT_ALIASES, JSON, id="no Accept: first offer"),
        pytest.param("", None, GRAPHS, GRAPH_ALIASES, TURTLE, id="empty Accept: first offer"),
        pytest.param(CURL, None, RESULTS, RESULT_ALIASES, JSON, id="curl results"),
        pytest.param(CURL, None, GRAPHS, GRAPH_ALIASES, TURTLE, id="curl graph"),
        # a browser's application/xml;q=0.9 names SPARQL XML and RDF/XML, as Oxigraph's server reads it
        pytest.param(CHROME, None, RESULTS, RESULT_ALIASES, XML, id="Chrome results: XML"),
        pytest.param(CHROME, None, GRAPHS, GRAPH_ALIASES, RDFXML, id="Chrome graph: RDF/XML"),
        pytest.param(FIREFOX, None, RESULTS, RESULT_ALIASES, XML, id="Firefox results: XML"),
        pytest.param(FIREFOX, None, GRAPHS, GRAPH_ALIASES, RDFXML, id="Firefox graph: RDF/XML"),
        pytest.param(CHROME, None, ["text/html", *GRAPHS], GRAPH_ALIASES, "text/html", id="Chrome page: HTML"),
        pytest.param(SW_JSON, None, GRAPHS, GRAPH_ALIASES, JSONLD, id="SPARQLWrapper json for a graph: JSON-LD"),
        pytest.param(SW_JSON, None, RESULTS, RESULT_ALIASES, JSON, id="SPARQLWrapper json"),
        pytest.param(SW_XML, None, RESULTS, RESULT_ALIASES, XML, id="SPARQLWrapper xml"),
        pytest.param(SW_CSV, None, RESULTS, RESULT_ALIASES, CSV, id="SPARQLWrapper csv"),
        pytest.param(SW_TSV, None, RESULTS, RESULT_ALIASES, TSV, id="SPARQLWrapper tsv"),
        pytest.param(SW_TURTLE, None, GRAPHS, GRAPH_ALIASES, TURTLE, id="SPARQLWrapper turtle"),
        pytest.param(SW_N3, None, GRAPHS, GRAPH_ALIASES, TURTLE, id="SPARQLWrapper n3: turtle comes first"),
        pytest.param(SW_N3, None, [NT, JSONLD], GRAPH_ALIASES, NT, id="SPARQLWrapper n3 without turtle: n-triples"),
        pytest.param(SW_JSONLD, None, GRAPHS, GRAPH_ALIASES, JSONLD, id="SPARQLWrapper json-ld"),
        pytest.param(SW_RDFXML, None, GRAPHS, GRAPH_ALIASES, RDFXML, id="SPARQLWrapper rdf+xml"),
        pytest.param(RDFLIB, None, RESULTS, RESULT_ALIASES, XML, id="rdflib SPARQLStore results"),
        pytest.param(RDFLIB_SWAPPED, None, RESULTS, RESULT_ALIASES, XML, id="rdflib SPARQLStore results, swapped"),
        pytest.param(RDFLIB, None, GRAPHS, GRAPH_ALIASES, RDFXML, id="rdflib SPARQLStore graph"),
        pytest.param("text/*;q=0.5, text/csv", None, RESULTS, RESULT_ALIASES, CSV, id="specific range beats text/*"),
        pytest.param("text/*", None, RESULTS, RESULT_ALIASES, CSV, id="text/*: first text offer"),
        pytest.param("text/*;q=0.5, */*;q=0.1", None, RESULTS, RESULT_ALIASES, CSV, id="type range beats */*"),
        pytest.param(
            "*/*;q=0.1, application/*;q=0.5, application/sparql-results+json;q=0.4",
            None,
            RESULTS,
            RESULT_ALIASES,
            XML,
            id="the most specific range sets an offer's quality, even a lower one",
        ),
        pytest.param(
            "text/tab-separated-values;q=0.9, text/csv;q=0.8", None, RESULTS, RESULT_ALIASES, TSV, id="higher q wins"
        ),
        pytest.param("text/csv, text/tab-separated-values", None, RESULTS, RESULT_ALIASES, CSV, id="tie: offers order"),
        pytest.param(
            "text/tab-separated-values, text/csv",
            None,
            RESULTS,
            RESULT_ALIASES,
            CSV,
            id="tie: offers order, not Accept's",
        ),
        pytest.param(
            "application/sparql-results+xml, */*",
            None,
            RESULTS,
            RESULT_ALIASES,
            XML,
            id="equal q: a named type beats one reached by */*",
        ),
        pytest.param(
            "application/sparql-results+json;q=0, */*", None, RESULTS, RESULT_ALIASES, XML, id="q=0 excludes an offer"
        ),
        pytest.param("text/csv;q=0, text/*", None, RESULTS, RESULT_ALIASES, TSV, id="q=0 beats the type range"),
        pytest.param("TEXT/CSV", None, RESULTS, RESULT_ALIASES, CSV, id="media types in any case"),
        pytest.param(JSON + "; charset=utf-8", None, RESULTS, RESULT_ALIASES, JSON, id="charset=utf-8 matches"),
        pytest.param(JSON + ';charset="UTF-8"', None, RESULTS, RESULT_ALIASES, JSON, id="charset quoted, any case"),
        pytest.param(f"{CSV};charset=latin-1, {TSV};q=0.1", None, RESULTS, RESULT_ALIASES, TSV, id="other charset"),
        pytest.param("text/csv; header=present", None, RESULTS, RESULT_ALIASES, CSV, id="other parameters ignored"),
        pytest.param(
            f"{CSV};q=0.2, {CSV};charset=utf-8;q=0.9, {TSV};q=0.5",
            None,
            RESULTS,
            {},
            CSV,
            id="parameters: more specific",
        ),
        pytest.param("application/json", None, RESULTS, RESULT_ALIASES, JSON, id="application/json: SPARQL JSON"),
        pytest.param("application/json", None, GRAPHS, GRAPH_ALIASES, JSONLD, id="application/json: JSON-LD"),
        pytest.param(
            "application/json; charset=utf-8", None, GRAPHS, GRAPH_ALIASES, JSONLD, id="application/json with charset"
        ),
        pytest.param("application/xml", None, RESULTS, RESULT_ALIASES, XML, id="application/xml: SPARQL XML"),
        pytest.param("text/xml", None, GRAPHS, GRAPH_ALIASES, RDFXML, id="text/xml: RDF/XML"),
        pytest.param("text/plain", None, GRAPHS, GRAPH_ALIASES, NT, id="text/plain: N-Triples"),
        pytest.param("application/x-turtle", None, GRAPHS, GRAPH_ALIASES, TURTLE, id="application/x-turtle"),
        pytest.param(f"application/json, {XML}", None, RESULTS, {}, XML, id="equal q: exact type beats an alias"),
        pytest.param(
            f"application/json;q=0.1, {JSON}, {CSV};q=0.5", None, RESULTS, {}, JSON, id="the exact type sets the q"
        ),
        pytest.param("text/plain", None, ["text/html", "text/plain", *GRAPHS], {}, "text/plain", id="text/plain exact"),
        pytest.param("application/json;q=abc", None, RESULTS, RESULT_ALIASES, JSON, id="unreadable Accept: ignored"),
        pytest.param(CURL, "csv", RESULTS, RESULT_ALIASES, CSV, id="format alias overrides */*"),
        pytest.param(SW_JSON, "tsv", RESULTS, RESULT_ALIASES, TSV, id="format overrides a specific Accept"),
        pytest.param("*/*;q=0", "json", RESULTS, RESULT_ALIASES, JSON, id="format overrides even q=0"),
        pytest.param(None, "JSON", RESULTS, RESULT_ALIASES, JSON, id="format alias in any case"),
        pytest.param(None, TSV, RESULTS, RESULT_ALIASES, TSV, id="format as a media type"),
        pytest.param(None, "Text/CSV; charset=utf-8", RESULTS, RESULT_ALIASES, CSV, id="format media type, any case"),
        pytest.param(None, "ttl", GRAPHS, GRAPH_ALIASES, TURTLE, id="format ttl"),
        pytest.param(None, "nt", GRAPHS, GRAPH_ALIASES, NT, id="format nt"),
        pytest.param(None, "jsonld", GRAPHS, GRAPH_ALIASES, JSONLD, id="format jsonld"),
        pytest.param(None, "rdfxml", GRAPHS, GRAPH_ALIASES, RDFXML, id="format rdfxml"),
        pytest.param(SW_RDFXML, "xml", GRAPHS, GRAPH_ALIASES, RDFXML, id="SPARQLWrapper's CONSTRUCT default: xml"),
        pytest.param(SW_N3, "n3", GRAPHS, GRAPH_ALIASES, TURTLE, id="SPARQLWrapper's format=n3"),
        pytest.param("*/*", "json", GRAPHS, GRAPH_ALIASES, JSONLD, id="format=json for a graph: JSON-LD"),
        pytest.param(None, "application/json", RESULTS, {}, JSON, id="format=application/json: SPARQL JSON"),
        pytest.param(None, "tsv", RESULTS, {}, TSV, id="format: a short name of the table"),
        pytest.param(SW_XML, "xml", RESULTS, RESULT_ALIASES, XML, id="same alias, results offers"),
        pytest.param(SW_TSV, "", RESULTS, RESULT_ALIASES, TSV, id="blank format: Accept decides"),
    ],
)
def test_chosen(
    accept: str | None, format_param: str | None, offers: list[str], aliases: dict[str, str], expected: str
) -> None:
    assert negotiate(accept, format_param, offers, aliases) == expected


@pytest.mark.parametrize(
    ("accept", "format_param", "offers", "aliases"),
    [
        pytest.param("image/png", None, RESULTS, RESULT_ALIASES, id="nothing offered matches"),
        pytest.param("*/*;q=0", None, GRAPHS, GRAPH_ALIASES, id="everything excluded"),
        pytest.param("text/*;q=0, application/*;q=0", None, RESULTS, RESULT_ALIASES, id="every type range excluded"),
        pytest.param("text/*", None, GRAPHS[1:], GRAPH_ALIASES, id="type range matching no offer"),
        pytest.param(SW_CSV, None, GRAPHS, GRAPH_ALIASES, id="results Accept for a graph"),
        pytest.param(
            CHROME.replace("*/*;q=0.8,", "").replace("application/xml;q=0.9,", ""),
            None,
            RESULTS,
            RESULT_ALIASES,
            id="browser without */* or XML",
        ),
        pytest.param(None, "yaml", RESULTS, RESULT_ALIASES, id="unknown format"),
        pytest.param(CURL, "csv", GRAPHS, GRAPH_ALIASES, id="format for the other offers"),
        pytest.param(None, "text/csv", GRAPHS, GRAPH_ALIASES, id="format media type not offered"),
        pytest.param(None, "text/*", RESULTS, RESULT_ALIASES, id="format must name one type"),
        pytest.param("text/csv;charset=iso-8859-1", None, RESULTS, RESULT_ALIASES, id="only another charset"),
        pytest.param("application/sparql-results+json;q=0, application/json", None, RESULTS, RESULT_ALIASES, id="q=0"),
        pytest.param("application/json", None, ["text/html", "text/csv"], {}, id="application/json names no offer"),
        pytest.param("x", None, RESULTS, RESULT_ALIASES, id="not a media type"),
    ],
)
def test_not_acceptable(
    accept: str | None, format_param: str | None, offers: list[str], aliases: dict[str, str]
) -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate(accept, format_param, offers, aliases)
    assert caught.value.offers == tuple(offers)
    assert str(caught.value) == f"none of the media types on offer is acceptable: {', '.join(offers)}"
