"""``/sparql``: the SPARQL 1.1 Protocol (query operation) and, without a query, the Service Description (or, for a
browser, the query editor).

Relative IRIs in a query resolve against the base IRI of the build being served (the data's own base, whatever host
the server answers on), so that an answer depends on the build alone; since the endpoint's IRI in the layout is that
base plus ``sparql``, a relative reference such as ``<place/330100>`` resolves the same against either. The graph's
prefixes (``namespaces.PREFIXES``) are predefined; a query's own ``PREFIX`` or ``BASE`` wins.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from flask import Blueprint, Response, current_app, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse
from werkzeug.wsgi import ClosingIterator

from makerkg.errors import NotAcceptable, ProtocolError
from makerkg.formats import GRAPH_FORMATS, RESULT_FORMATS, TRIPLE_FORMATS, Kind, by_media_type
from makerkg.namespaces import PREFIXES
from makerkg.sparql.negotiate import negotiate
from makerkg.sparql.precheck import precheck
from makerkg.sparql.protocol import parse_query_string, parse_request
from makerkg.store.query import Job, Reply
from makerkg.web import cache
from makerkg.web.engine import Snapshot, get_engine
from makerkg.web.ops import NO_STORE
from makerkg.web.public import external_url

bp = Blueprint("sparql", __name__)

RESULT_OFFERS = [f.media_type for f in RESULT_FORMATS]
RDF_OFFERS = [f.media_type for f in TRIPLE_FORMATS]
RESULT_ALIASES = {alias: f.media_type for f in RESULT_FORMATS for alias in (f.name, *f.aliases)}
# SPARQLWrapper sends format=xml with a graph query and means RDF/XML, and format=n3 meaning Turtle, its subset
GRAPH_ALIASES = {alias: f.media_type for f in GRAPH_FORMATS for alias in (f.name, *f.aliases)}
SERVICE_ALIASES = {**GRAPH_ALIASES, "html": "text/html"}


def respond(reply: Reply) -> Response:
    """An HTTP response for an answer: whole, or streamed part by part; a cut answer says which limit applied."""
    answer = reply.answer
    content_type = by_media_type(answer.media_type).content_type
    if answer.streamed and request.method == "HEAD":  # no body will be read: let the worker go at once
        reply.close()
        # streamed as GET's answer is: no Content-Length of 0, and no ETag (GET's has none)
        response = Response(iter(()), content_type=content_type)
    elif answer.streamed:
        # closed by the WSGI server when the client goes away or the answer is sent: the worker is let go either way
        response = Response(ClosingIterator(itertools.chain([answer.body], reply.parts), [reply.close]),
                            content_type=content_type)  # fmt: skip
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


@bp.route("/sparql", methods=["GET", "POST", "HEAD"])
def endpoint() -> WerkzeugResponse:
    """Answer a SPARQL query, or describe the service when there is none."""
    engine = get_engine()
    settings = engine.settings
    body = read_body(settings.max_request_bytes) if request.method == "POST" else b""
    parsed = parse_request(
        request.method, request.content_type, parse_query_string(request.query_string), body, settings.max_request_bytes
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
    response = respond(snapshot.pool.execute(replace(job, media_type=media)))
    if checked.volatile:  # its answer is this run's: kept by no cache, this server's or another (no ETag either)
        response.headers["Cache-Control"] = NO_STORE
    if request.method != "POST" and parsed.format is None:  # the URL that gives this format whatever the Accept
        name = by_media_type(media, [Kind.GRAPH if graph else Kind.RESULTS]).name
        location = content_location(name)
        if location is not None:
            response.headers["Content-Location"] = location
    return response


# a Content-Location longer than this is left out: it repeats the query, and proxies bound response headers (nginx
# answers 502 past its proxy_buffer_size); the header is optional, and a long query's URL is no address to keep
MAX_LOCATION = 2048


def content_location(name: str) -> str | None:
    """The request's own path and query string with ``format=name`` added: where the negotiated answer is found;
    None when that would be longer than ``MAX_LOCATION``.

    A URL argument's bytes are kept as the request sent them (``request.query_string``).
    """
    raw = request.query_string.decode("latin-1")  # the bytes as sent, every one kept (WSGI's reading)
    location = f"{request.path}?{raw}{'&' if raw else ''}format={name}"
    return location if len(location) <= MAX_LOCATION else None


def service_description(snapshot: Snapshot, fmt: str | None) -> WerkzeugResponse:
    """The SPARQL 1.1 Service Description of this endpoint, in an RDF format by negotiation; a browser asking for
    HTML is sent to the query editor."""
    media = negotiate(request.headers.get("Accept"), fmt, [*RDF_OFFERS, "text/html"], SERVICE_ALIASES)
    if media == "text/html":
        response = redirect(url_for("ui.editor"), 303)
        response.headers["Vary"] = "Accept"
        return response
    # rdflib, for the few pages that describe the service or the dataset: the web processes start without it
    from rdflib import SH, BNode, Graph, Literal, URIRef
    from rdflib.namespace import RDF, XSD

    from makerkg.graph.vocab import SD, VOID

    endpoint = URIRef(external_url("sparql.endpoint"))
    g = Graph()
    g.bind("sd", SD)
    g.bind("void", VOID)
    g.bind("sh", SH)
    service = BNode("service")
    g.add((service, RDF.type, SD.Service))
    g.add((service, SD.endpoint, endpoint))
    g.add((service, SD.supportedLanguage, SD.SPARQL11Query))
    g.add((service, SD.feature, SD.UnionDefaultGraph))  # the default graph is the merge of the named graphs
    for result_format in (*RESULT_FORMATS, *TRIPLE_FORMATS):
        if result_format.w3c:
            g.add((service, SD.resultFormat, URIRef(result_format.w3c)))
    # the predefined prefixes, declared as SHACL declares prefixes (where SPARQL editors look for them)
    for index, (prefix, namespace) in enumerate(PREFIXES.items()):
        declaration = BNode(f"prefix{index}")
        g.add((service, SH.declare, declaration))
        g.add((declaration, SH.prefix, Literal(prefix)))
        g.add((declaration, SH.namespace, Literal(namespace, datatype=XSD.anyURI)))
    dataset = URIRef(snapshot.layout.dataset())
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
    chosen = by_media_type(media, [Kind.GRAPH])
    response = Response(g.serialize(format=chosen.rdflib_name, encoding="utf-8"), content_type=chosen.content_type)
    response.headers["Vary"] = "Accept"
    if fmt is None:
        location = content_location(chosen.name)
        if location is not None:
            response.headers["Content-Location"] = location
    return response
