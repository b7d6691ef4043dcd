"""``/sparql``: the SPARQL 1.1 Protocol (query operation) and, without a query, the Service Description."""

from __future__ import annotations

from flask import Blueprint, Response, request
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from makerkg.errors import ProtocolError
from makerkg.graph.vocab import SD, VOID
from makerkg.sparql.checks import check_query
from makerkg.sparql.negotiate import negotiate
from makerkg.sparql.protocol import parse_request
from makerkg.sparql.results import SELECT_TYPES
from makerkg.store.execute import RDF_TYPES
from makerkg.store.pool import Answer, Job
from makerkg.web.engine import Snapshot, get_engine
from makerkg.web.public import external_url

bp = Blueprint("sparql", __name__)

SELECT_OFFERS = list(SELECT_TYPES)
RDF_OFFERS = list(RDF_TYPES)
# `format=` short names: results of SELECT and ASK, and graphs of CONSTRUCT and DESCRIBE (SPARQLWrapper sends
# format=xml with a graph query and means RDF/XML, and format=n3 meaning Turtle, its subset)
SELECT_ALIASES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}
GRAPH_ALIASES = {
    "ttl": "text/turtle",
    "turtle": "text/turtle",
    "n3": "text/turtle",
    "nt": "application/n-triples",
    "ntriples": "application/n-triples",
    "jsonld": "application/ld+json",
    "json-ld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
    "rdf": "application/rdf+xml",
    "rdf+xml": "application/rdf+xml",
    "xml": "application/rdf+xml",
}
# the W3C's IRIs for result and RDF formats, for the service description
FORMAT_IRIS = {
    "application/sparql-results+json": "http://www.w3.org/ns/formats/SPARQL_Results_JSON",
    "application/sparql-results+xml": "http://www.w3.org/ns/formats/SPARQL_Results_XML",
    "text/csv": "http://www.w3.org/ns/formats/SPARQL_Results_CSV",
    "text/tab-separated-values": "http://www.w3.org/ns/formats/SPARQL_Results_TSV",
    "text/turtle": "http://www.w3.org/ns/formats/Turtle",
    "application/n-triples": "http://www.w3.org/ns/formats/N-Triples",
    "application/ld+json": "http://www.w3.org/ns/formats/JSON-LD",
    "application/rdf+xml": "http://www.w3.org/ns/formats/RDF_XML",
}


RDFLIB_FORMATS = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
}


def respond(answer: Answer, max_rows: int) -> Response:
    """An HTTP response for a worker's answer; a cut result says which limit applied."""
    text = answer.media_type.startswith("text/") or answer.media_type.endswith(("json", "xml"))
    mimetype = f"{answer.media_type}; charset=utf-8" if text else answer.media_type
    response = Response(answer.body, content_type=mimetype)
    response.headers["Vary"] = "Accept"
    if answer.truncated:
        response.headers["Makerkg-Result-Truncated"] = f"max_rows={max_rows}"
    return response


def _graphs(parameter: str, values: tuple[str, ...], snapshot: Snapshot) -> tuple[str, ...]:
    for iri in values:
        if iri not in snapshot.graphs:
            raise ProtocolError(400, parameter, f"<{iri}> is not a graph of this dataset (see the service description)")
    return values


@bp.route("/sparql", methods=["GET", "POST", "HEAD"])
def endpoint() -> Response:
    """Answer a SPARQL query, or describe the service when there is none."""
    engine = get_engine()
    settings = engine.settings
    parsed = parse_request(
        request.method,
        request.content_type,
        request.args.to_dict(flat=False),
        request.get_data(cache=False) if request.method == "POST" else b"",
        settings.max_request_bytes,
    )
    snapshot = engine.snapshot()
    if parsed.query is None:
        return service_description(snapshot, parsed.format)
    checked = check_query(parsed.query, snapshot.graphs)
    if checked.form in ("SELECT", "ASK"):
        media = negotiate(request.headers.get("Accept"), parsed.format, SELECT_OFFERS, SELECT_ALIASES)
    else:
        media = negotiate(request.headers.get("Accept"), parsed.format, RDF_OFFERS, GRAPH_ALIASES)
    job = Job(
        query=checked.text,
        media_type=media,
        max_rows=settings.max_rows,
        default_graphs=_graphs("default-graph-uri", parsed.default_graphs, snapshot),
        named_graphs=_graphs("named-graph-uri", parsed.named_graphs, snapshot),
    )
    return respond(snapshot.pool.execute(job), settings.max_rows)


def service_description(snapshot: Snapshot, fmt: str | None) -> Response:
    """The SPARQL 1.1 Service Description of this endpoint, in an RDF format by negotiation."""
    endpoint = URIRef(external_url("sparql.endpoint"))
    g = Graph()
    g.bind("sd", SD)
    g.bind("void", VOID)
    service = BNode("service")
    g.add((service, RDF.type, SD.Service))
    g.add((service, SD.endpoint, endpoint))
    g.add((service, SD.supportedLanguage, SD.SPARQL11Query))
    for iri in FORMAT_IRIS.values():
        g.add((service, SD.resultFormat, URIRef(iri)))
    dataset = BNode("dataset")
    g.add((service, SD.defaultDataset, dataset))
    g.add((dataset, RDF.type, SD.Dataset))
    default = BNode("default")
    g.add((dataset, SD.defaultGraph, default))
    g.add((default, RDF.type, SD.Graph))
    g.add((default, VOID.triples, Literal(snapshot.build.info.triples, datatype=XSD.integer)))
    for index, (name, count) in enumerate(snapshot.build.info.quads_per_graph.items()):
        named, graph = BNode(f"named{index}"), BNode(f"graph{index}")
        g.add((dataset, SD.namedGraph, named))
        g.add((named, RDF.type, SD.NamedGraph))
        g.add((named, SD.name, URIRef(name)))
        g.add((named, SD.graph, graph))
        g.add((graph, RDF.type, SD.Graph))
        g.add((graph, VOID.triples, Literal(count, datatype=XSD.integer)))
    media = negotiate(request.headers.get("Accept"), fmt, RDF_OFFERS, GRAPH_ALIASES)
    rdflib_format = RDFLIB_FORMATS[media]
    response = Response(g.serialize(format=rdflib_format, encoding="utf-8"), content_type=f"{media}; charset=utf-8")
    response.headers["Vary"] = "Accept"
    return response
