"""``/sparql``: the SPARQL 1.1 Protocol (query operation) and, without a query, the Service Description."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from flask import Blueprint, Response, current_app, request
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from makerkg.errors import NotAcceptable, ProtocolError
from makerkg.formats import GRAPH_FORMATS, RESULT_FORMATS, TRIPLE_FORMATS, Kind, by_media_type
from makerkg.graph.vocab import SD, VOID
from makerkg.sparql.negotiate import negotiate
from makerkg.sparql.precheck import precheck
from makerkg.sparql.protocol import parse_request
from makerkg.store.query import Job, Reply
from makerkg.web import cache
from makerkg.web.engine import Snapshot, get_engine
from makerkg.web.public import external_url

bp = Blueprint("sparql", __name__)

RESULT_OFFERS = [f.media_type for f in RESULT_FORMATS]
RDF_OFFERS = [f.media_type for f in TRIPLE_FORMATS]
RESULT_ALIASES = {alias: f.media_type for f in RESULT_FORMATS for alias in (f.name, *f.aliases)}
# SPARQLWrapper sends format=xml with a graph query and means RDF/XML, and format=n3 meaning Turtle, its subset
GRAPH_ALIASES = {alias: f.media_type for f in GRAPH_FORMATS for alias in (f.name, *f.aliases)}


def respond(reply: Reply) -> Response:
    """An HTTP response for an answer: whole, or streamed part by part; a cut answer says which limit applied."""
    answer = reply.answer
    content_type = by_media_type(answer.media_type).content_type
    if answer.streamed:
        response = Response(_stream(reply), content_type=content_type)
    else:
        response = Response(answer.body, content_type=content_type)
    response.headers["Vary"] = "Accept"
    if answer.truncated:
        response.headers["Makerkg-Result-Truncated"] = answer.truncated
    return response


def read_body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; raises ProtocolError (413) for a longer one. A body with a
    Content-Length over the limit is refused before it is read; a chunked one is read one byte past the limit to
    know it is longer (Werkzeug's limit on a body of unknown length cuts it silently instead)."""
    if request.content_length is not None:
        return request.get_data(cache=False)
    stream = request.environ.get("wsgi.input")
    data: bytes = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise ProtocolError(413, "body", f"more than {limit} bytes, over the limit (max_request_bytes)")
    return data


def _stream(reply: Reply) -> Iterator[bytes]:
    yield reply.answer.body
    yield from reply.parts


@bp.route("/sparql", methods=["GET", "POST", "HEAD"])
def endpoint() -> Response:
    """Answer a SPARQL query, or describe the service when there is none."""
    engine = get_engine()
    settings = engine.settings
    body = read_body(settings.max_request_bytes) if request.method == "POST" else b""
    parsed = parse_request(
        request.method, request.content_type, request.args.to_dict(flat=False), body, settings.max_request_bytes
    )
    snapshot = engine.snapshot()
    if request.method == "POST":  # GET and HEAD were looked up before the view
        cached = cache.lookup(current_app.extensions.get("makerkg.cache"), snapshot.build.info.id, body)
        if cached is not None:
            return cached
    if parsed.query is None:
        return service_description(snapshot, parsed.format)
    checked = precheck(parsed.query)
    job = Job(
        query=checked.text,
        form=checked.form,
        media_type=RESULT_OFFERS[0],
        max_rows=settings.max_rows,
        max_bytes=settings.max_answer_bytes,
        default_graphs=parsed.default_graphs,
        named_graphs=parsed.named_graphs,
        base_iri=snapshot.build.info.base,
        prefixes=True,
    )
    graph = checked.form in ("CONSTRUCT", "DESCRIBE")
    try:
        if graph:
            media = negotiate(request.headers.get("Accept"), parsed.format, RDF_OFFERS, GRAPH_ALIASES)
        elif checked.form is not None:
            media = negotiate(request.headers.get("Accept"), parsed.format, RESULT_OFFERS, RESULT_ALIASES)
        else:  # not a query: the engine's parser says why; no format is worth refusing for
            media = RESULT_OFFERS[0]
    except NotAcceptable:
        snapshot.pool.execute(replace(job, check_only=True, media_type=(RDF_OFFERS if graph else RESULT_OFFERS)[0]))
        raise  # a syntax error is told first (the client's Accept may be for problem reports only)
    return respond(snapshot.pool.execute(replace(job, media_type=media)))


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
    for result_format in (*RESULT_FORMATS, *TRIPLE_FORMATS):
        if result_format.w3c:
            g.add((service, SD.resultFormat, URIRef(result_format.w3c)))
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
    rdflib_format = by_media_type(media, [Kind.GRAPH]).rdflib_name
    response = Response(g.serialize(format=rdflib_format, encoding="utf-8"), content_type=f"{media}; charset=utf-8")
    response.headers["Vary"] = "Accept"
    return response
