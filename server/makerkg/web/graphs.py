"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol, read side (https://www.w3.org/TR/sparql11-http-rdf-update/),
and what the named graphs' and the dataset's own IRIs answer.

``GET``/``HEAD /store?default`` gives the default graph (the merge of the named graphs), ``/store?graph=IRI`` a named
graph, in every RDF format of the format table by negotiation (``format=`` overrides), streamed from the build's
files (``store/graphs.py`` says why). A graph the dataset lacks is a 404. The store is read-only: other methods
answer 405 with ``Allow``. A named graph's IRI (``/graph/edition/11``) answers the same RDF, or an HTML page about
the graph; the dataset's IRI (``/dataset``) answers its VoID description, or an HTML page.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence

from flask import Blueprint, Response, render_template, request, send_file, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from makerkg.errors import ProtocolError, UsageError
from makerkg.formats import GRAPH_FORMATS, TRIPLE_FORMATS, Format, Kind, by_media_type
from makerkg.iris import GraphKind
from makerkg.sparql.negotiate import negotiate
from makerkg.sparql.protocol import is_graph_iri, parse_query_string, pick_format
from makerkg.store.dumps import listing
from makerkg.store.graphs import serialise, statements
from makerkg.web.dumps import serve_as_is, void
from makerkg.web.engine import Snapshot, get_engine, representation_etag
from makerkg.web.public import external_url
from makerkg.web.sparql import GRAPH_ALIASES, RDF_OFFERS, SERVICE_ALIASES

bp = Blueprint("graphs", __name__)

STORE_OFFERS = [f.media_type for f in GRAPH_FORMATS]
PAGE_OFFERS = ["text/html", *STORE_OFFERS]
SCHEMA_CONTEXT = "https://schema.org/"


@bp.route("/store", methods=["GET", "HEAD"])
def store() -> WerkzeugResponse:
    """A graph of the dataset: ``?default`` or ``?graph=IRI``; raises UsageError (400) for anything else."""
    snapshot = get_engine().snapshot()
    args = parse_query_string(request.query_string)
    graph = graph_parameter(args, snapshot.graphs)
    fmt = pick_format(args.get("format", ()))
    media = negotiate(request.headers.get("Accept"), fmt, STORE_OFFERS, GRAPH_ALIASES)
    return graph_response(snapshot, graph, by_media_type(media, [Kind.GRAPH]), negotiated=fmt is None)


def graph_parameter(args: Mapping[str, Sequence[str]], graphs: frozenset[str]) -> str | None:
    """The named graph the arguments name, or None for the default graph; raises UsageError (400), or
    ProtocolError (404) naming the graphs the dataset has."""
    named = args.get("graph", ())
    if ("default" in args) == bool(named):
        raise UsageError("graph", "name one graph: ?default for the default graph or ?graph=IRI for a named graph")
    if not named:
        return None
    if len(named) > 1:
        raise UsageError("graph", "given more than once")
    if not is_graph_iri(named[0]):
        raise UsageError("graph", f"{named[0][:80]!r} is not an absolute IRI")
    if named[0] not in graphs:
        listed = ", ".join(sorted(graphs))
        raise ProtocolError(404, "graph", f"no graph {named[0][:200]} in this dataset; its named graphs are {listed}")
    return named[0]


def store_url(graph: str | None, fmt: str | None = None, *, external: bool = False) -> str:
    """The graph store's URL for a graph (None: the default graph), in one format if ``fmt`` names it.

    The ``default`` parameter has no value, so the query string is written here rather than by url_for.
    """
    params = [("graph", graph)] if graph is not None else []
    query = urllib.parse.urlencode([*params, *([("format", fmt)] if fmt else [])])
    lead = "default" if graph is None else ""
    joined = "&".join(part for part in (lead, query) if part)
    return f"{external_url('graphs.store') if external else url_for('graphs.store')}?{joined}"


def graph_response(snapshot: Snapshot, graph: str | None, fmt: Format, *, negotiated: bool) -> WerkzeugResponse:
    """A graph of the build in ``fmt``, streamed; the default graph in N-Triples is the build's own file."""
    etag = representation_etag(snapshot, fmt.content_type)
    response: WerkzeugResponse
    if graph is None and fmt.name == "nt":  # union.nt is the default graph, canonical N-Triples: sent as it is
        serve_as_is(snapshot.build.union_file)
        response = send_file(snapshot.build.union_file, mimetype=fmt.content_type, conditional=True, etag=etag)
    else:
        response = Response(serialise(statements(snapshot.build, graph), fmt), content_type=fmt.content_type)
        response.set_etag(etag)
        response = response.make_conditional(request)
    response.headers["Vary"] = "Accept"
    if negotiated:
        response.headers["Content-Location"] = store_url(graph, fmt.name)
    return response


def named_graph(snapshot: Snapshot, iri: str) -> WerkzeugResponse:
    """A named graph's own IRI: its statements as RDF, or a page about it, by negotiation."""
    media = negotiate(request.headers.get("Accept"), request.args.get("format"), PAGE_OFFERS, SERVICE_ALIASES)
    if media != "text/html":
        return graph_response(snapshot, iri, by_media_type(media, [Kind.GRAPH]), negotiated=True)
    layout = snapshot.layout
    kind = layout.graph_kind(iri)
    ordinal = iri.rsplit("/", 1)[-1]
    edition = layout.edition(int(ordinal)) if kind is GraphKind.EDITION and ordinal.isdigit() else None
    title = {
        GraphKind.EDITION: f"Edition {ordinal}",
        GraphKind.ONTOLOGY: "The ontology",
        GraphKind.REFERENCE: "The reference data",
    }[kind]
    downloads = [(f, store_url(iri, f.name)) for f in GRAPH_FORMATS]
    schema = {
        "@context": SCHEMA_CONTEXT,
        "@type": "Dataset",
        "@id": iri,
        "name": f"makerkg: {title}",
        "isPartOf": {"@id": layout.dataset()},
        "distribution": [
            {
                "@type": "DataDownload",
                "encodingFormat": f.media_type,
                "contentUrl": store_url(iri, f.name, external=True),
            }
            for f in GRAPH_FORMATS
        ],
    }
    html = render_template(
        "pages/graph.html",
        iri=iri,
        title=title,
        kind=kind.value,
        statements=snapshot.build.info.quads_per_graph[iri],
        edition=(edition, snapshot.href(edition)) if edition else None,
        dataset=snapshot.href(layout.dataset()),
        downloads=downloads,
        schema=schema,
    )
    return _page(html, [(store_url(iri, f.name), f.media_type) for f in GRAPH_FORMATS])


def dataset(snapshot: Snapshot, forced: str | None) -> Response:
    """The dataset's IRI: its VoID and DCAT description as RDF, or a page made from it, by negotiation (``forced``:
    the media type a path's extension named)."""
    offers = ["text/html", *RDF_OFFERS]
    media = forced or negotiate(request.headers.get("Accept"), request.args.get("format"), offers, SERVICE_ALIASES)
    g = void(snapshot)
    path = snapshot.href(snapshot.layout.dataset())
    if media != "text/html":
        chosen = by_media_type(media, [Kind.GRAPH])
        response = Response(g.serialize(format=chosen.rdflib_name, encoding="utf-8"), content_type=chosen.content_type)
        response.headers["Vary"] = "Accept"
        if forced is None:
            response.headers["Content-Location"] = f"{path}.{chosen.extension}"
        return response
    from rdflib import Literal, URIRef  # as void() does: the web processes start without rdflib
    from rdflib.namespace import DCTERMS

    node = URIRef(snapshot.layout.dataset())
    info = snapshot.build.info

    def text(predicate: URIRef, lang: str) -> str:
        return next((str(o) for o in g.objects(node, predicate) if isinstance(o, Literal) and o.language == lang), "")

    layout = snapshot.layout
    files = [(layout.dump(f.name), f) for f in listing(snapshot.build) if not f.compressed and f.statements]
    schema = {
        "@context": SCHEMA_CONTEXT,
        "@type": "Dataset",
        "@id": str(node),
        "name": text(DCTERMS.title, "en"),
        "alternateName": text(DCTERMS.title, "zh"),
        "description": text(DCTERMS.description, "en"),
        "license": str(g.value(node, DCTERMS.license)),
        "dateModified": info.created,
        "identifier": info.id,
        "isAccessibleForFree": True,
        "distribution": [
            {"@type": "DataDownload", "encodingFormat": f.media_type, "contentUrl": url} for url, f in files
        ],
    }
    graphs = [(name, snapshot.href(name), count) for name, count in sorted(info.quads_per_graph.items())]
    html = render_template(
        "pages/dataset.html",
        iri=str(node),
        title=schema["name"],
        title_zh=schema["alternateName"],
        description=schema["description"],
        license=schema["license"],
        info=info,
        graphs=graphs,
        dumps=[(snapshot.href(url), f) for url, f in files],
        store=store_url(None),
        schema=schema,
    )
    return _page(html, [(f"{path}.{f.extension}", f.media_type) for f in TRIPLE_FORMATS])


def _page(html: str, alternates: Sequence[tuple[str, str]]) -> Response:
    """An HTML page, with links to its RDF representations."""
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Vary"] = "Accept"
    response.headers["Link"] = ", ".join(f'<{href}>; rel="alternate"; type="{media}"' for href, media in alternates)
    return response
