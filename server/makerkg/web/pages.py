"""Every IRI the graph mints resolves: an HTML page for people, RDF for machines (by Accept or by extension).

A request for ``/P`` describes the IRI ``BASE + P`` whatever host the server answers on, so the paths under the
configured base are served even when the base is not the server's own address.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from flask import Blueprint, Response, abort, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from makerkg.formats import TRIPLE_FORMATS, Kind, by_media_type
from makerkg.namespaces import MKG, ONTOLOGY_IRI, PREFIXES
from makerkg.sparql.negotiate import negotiate
from makerkg.store.query import Job, Term, language, lexical, select, value
from makerkg.web.catalog import get_catalog
from makerkg.web.engine import Snapshot, get_engine
from makerkg.web.graphs import SCHEMA_CONTEXT, dataset, graph_response, named_graph
from makerkg.web.maps import place_map
from makerkg.web.sparql import RDF_OFFERS, respond
from makerkg.web.ui import ordinal

bp = Blueprint("pages", __name__)

EXTENSIONS = {f.extension: f.media_type for f in TRIPLE_FORMATS}
PAGE_OFFERS = ["text/html", *RDF_OFFERS]
LABELS = (
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "https://schema.org/name",
    "http://www.w3.org/2000/01/rdf-schema#label",
)
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
BY_EDITION = ("organization", "place", "track")  # the kinds of resource whose page lists contests per edition
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%/-]+$")


@dataclass(frozen=True)
class Value:
    """One object of a property on a page: a link with a label, or a literal with its language or datatype."""

    text: str
    href: str | None = None
    note: str = ""


def _node(iri: str) -> str:
    """An IRI in SPARQL syntax; raises 404 for a path that is not a valid IRI (checked by pyoxigraph)."""
    try:
        return str(ox.NamedNode(iri))
    except ValueError:
        abort(404)


def _valid_iri(iri: str) -> bool:
    try:
        ox.NamedNode(iri)
    except ValueError:
        return False
    return True


def _labels(snapshot: Snapshot, iris: set[str]) -> dict[str, str]:
    """A display label for each IRI: a Chinese one first, then English, then any."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    chunk = sorted(i for i in iris if _valid_iri(i))
    for start in range(0, len(chunk), 400):
        values = " ".join(_node(i) for i in chunk[start : start + 400])
        query = (
            f"SELECT ?x ?l WHERE {{ VALUES ?x {{ {values} }} "
            f"VALUES ?p {{ {' '.join(f'<{p}>' for p in LABELS)} }} ?x ?p ?l }}"
        )
        for row in select(snapshot.pool, query):
            found[value(row, "x")].setdefault(language(row.get("l")), value(row, "l"))
    return {iri: langs.get("zh") or langs.get("en") or next(iter(langs.values())) for iri, langs in found.items()}


def _curie(iri: str) -> str:
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and len(iri) > len(namespace):
            return f"{prefix}:{iri[len(namespace) :]}"
    return iri


@bp.route("/<path:path>", methods=["GET", "HEAD"])
def resource(path: str) -> WerkzeugResponse:
    """Describe ``BASE + path`` (or serve the source document it names)."""
    engine = get_engine()
    snapshot = engine.snapshot()
    base = snapshot.build.info.base
    extension = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    forced = EXTENSIONS.get(extension)
    # a source document's name has an extension of its own (plan-08.txt): one more names a format of its description
    # (plan-08.txt.ttl), unless a source is so named
    if forced and not (path.startswith("source/") and _source_file(snapshot, path.removeprefix("source/"))):
        path = path[: -len(extension) - 1]
    if not _SAFE_PATH.fullmatch(path) or ".." in path.split("/"):
        abort(404)
    iri = base + path
    if path.startswith("source/"):
        source = _source_file(snapshot, path.removeprefix("source/"))
        if source is not None and not forced:
            media = negotiate(
                request.headers.get("Accept"),
                request.args.get("format"),
                ["text/html", "text/plain", *RDF_OFFERS],
                {**EXTENSIONS, "txt": "text/plain"},
            )
            if media in ("text/html", "text/plain"):
                return _source(snapshot, iri, source, media)
            return _located(_rdf(snapshot, iri, media), snapshot.href(iri), media)
    if iri in snapshot.graphs:  # a named graph: its statements, or a page about it
        if forced:
            return graph_response(snapshot, iri, by_media_type(forced, [Kind.GRAPH]), negotiated=False)
        return named_graph(snapshot, iri)
    if iri == snapshot.layout.dataset():
        return dataset(snapshot, forced)
    node = _node(iri)
    if not select(snapshot.pool, f"SELECT ?p WHERE {{ {{ {node} ?p ?o }} UNION {{ ?s ?p {node} }} }} LIMIT 1"):
        abort(404)
    media = forced or negotiate(request.headers.get("Accept"), request.args.get("format"), PAGE_OFFERS, EXTENSIONS)
    if media == "text/html":
        return _page(snapshot, iri)
    response = _rdf(snapshot, iri, media)
    return response if forced else _located(response, snapshot.href(iri), media)


def _located(response: Response, href: str, media: str) -> Response:
    """A negotiated description with the address that gives its format whatever the Accept (``href.ttl``)."""
    response.headers["Content-Location"] = f"{href}.{by_media_type(media, [Kind.GRAPH]).extension}"
    return response


def _rdf(snapshot: Snapshot, iri: str, media: str) -> Response:
    """The resource's description: its triples, those of its own #fragments (linked from it, or to it: a plan's
    excerpts point at their plan), and the triples that point at it."""
    node = _node(iri)
    query = (
        f"CONSTRUCT {{ {node} ?p ?o . ?part ?pp ?po . ?s ?sp {node} }} WHERE {{ "
        f"{{ {node} ?p ?o }} UNION "
        f"{{ {{ {node} ?link ?part }} UNION {{ ?part ?link {node} }} "
        f'FILTER(isIRI(?part) && STRSTARTS(STR(?part), CONCAT(STR({node}), "#"))) '
        f"?part ?pp ?po }} UNION {{ ?s ?sp {node} }} }}"
    )
    settings = get_engine().settings
    return respond(snapshot.pool.execute(Job(query, "CONSTRUCT", media, settings.max_rows, settings.max_answer_bytes)))


def _outgoing(snapshot: Snapshot, iri: str) -> list[dict[str, Term]]:
    """A resource's own statements: rows of ?p ?o, as typed terms."""
    return select(snapshot.pool, f"SELECT ?p ?o WHERE {{ {_node(iri)} ?p ?o }}")


def _page(snapshot: Snapshot, iri: str) -> Response:
    node = _node(iri)
    outgoing = _outgoing(snapshot, iri)
    parts = select(
        snapshot.pool,
        f"SELECT ?part ?p ?o WHERE {{ {node} ?l ?part . "
        f'FILTER(isIRI(?part) && STRSTARTS(STR(?part), CONCAT(STR({node}), "#"))) ?part ?p ?o }}',
    )
    incoming = select(
        snapshot.pool,
        f'SELECT ?s ?p WHERE {{ ?s ?p {node} FILTER(!STRSTARTS(STR(?s), CONCAT(STR({node}), "#"))) }} '
        f"ORDER BY ?p ?s LIMIT 2000",
    )
    iris = {iri} | {value(r, "p") for r in outgoing + parts + incoming} | {value(r, "s") for r in incoming}
    iris |= {r["o"].value for r in outgoing + parts if isinstance(r["o"], ox.NamedNode)}
    labels = _labels(snapshot, iris)

    def shown(term: Term, datatype: bool = True) -> Value:
        """An object as the page shows it: an IRI as a link, a literal with its language (or its datatype)."""
        if isinstance(term, ox.NamedNode):
            return Value(labels.get(term.value, _curie(term.value)), snapshot.href(term.value))
        note = ""
        if isinstance(term, ox.Literal):
            if term.language:
                note = f"@{term.language}"
            elif datatype and term.datatype.value != XSD_STRING:
                note = _curie(term.datatype.value)
        return Value(lexical(term), None, note)

    properties: dict[str, list[Value]] = defaultdict(list)
    for row in sorted(outgoing, key=lambda r: (value(r, "p"), value(r, "o"))):
        properties[value(row, "p")].append(shown(row["o"]))
    part_properties: dict[str, dict[str, list[Value]]] = defaultdict(lambda: defaultdict(list))
    for row in sorted(parts, key=lambda r: (value(r, "part"), value(r, "p"), value(r, "o"))):
        # a part's values (printed names, positions) are shown with their language alone
        part_properties[value(row, "part")][value(row, "p")].append(shown(row["o"], datatype=False))
    types = {value(r, "o") for r in outgoing if value(r, "p") == RDF_TYPE}
    names = {language(r["o"]): value(r, "o") for r in outgoing if value(r, "p") in LABELS and language(r["o"])}
    kind = snapshot.layout.resource_kind(iri)
    kind = kind if kind in BY_EDITION else None
    context = {
        "iri": iri,
        "title": names.get("zh") or names.get("en") or labels.get(iri) or _curie(iri),
        "english": names.get("en") if names.get("zh") else None,
        "types": sorted((labels.get(t, _curie(t)), snapshot.href(t)) for t in types),
        "properties": [(labels.get(p, _curie(p)), _curie(p), snapshot.href(p), v) for p, v in properties.items()],
        "parts": [
            (part, [(labels.get(p, _curie(p)), _curie(p), snapshot.href(p), v) for p, v in props.items()])
            for part, props in part_properties.items()
        ],
        "incoming": [
            (labels.get(s, _curie(s)), snapshot.href(s), labels.get(p, _curie(p)), _curie(p))
            for s, p in ((value(r, "s"), value(r, "p")) for r in incoming)
        ],
        "by_edition": _by_edition(snapshot, iri, kind) if kind else None,
        "excerpt": _excerpt(snapshot, iri) if f"{MKG}Contest" in types else None,
        "formats": [(ext, media) for ext, media in EXTENSIONS.items()],
        "path": snapshot.layout.local_path(iri),
        **_findable(snapshot, iri),
    }
    context["schema"] = schema_view(iri, outgoing, str(context["title"]))
    response = Response(render_template("pages/resource.html", **context), content_type="text/html; charset=utf-8")
    response.headers["Vary"] = "Accept"
    response.headers["Link"] = ", ".join(
        f'<{context["path"]}.{ext}>; rel="alternate"; type="{media}"' for ext, media in EXTENSIONS.items()
    )
    return response


def schema_view(iri: str, outgoing: Sequence[Mapping[str, Term]], title: str) -> dict[str, object]:
    """The schema.org view of a resource, for search engines: its schema.org types and properties as JSON-LD
    (``outgoing``: its rows of ?p ?o); named by its page's title where it has no schema:name.

    >>> schema_view("https://w3id.org/makerkg/x", [], "x")
    {'@context': 'https://schema.org/', '@id': 'https://w3id.org/makerkg/x', '@type': 'Thing', 'name': 'x'}
    """
    view: dict[str, object] = {"@context": SCHEMA_CONTEXT, "@id": iri}
    statements = sorted(((value(r, "p"), value(r, "o"), r["o"]) for r in outgoing), key=lambda s: s[:2])
    types = sorted(o[len(SCHEMA_CONTEXT) :] for p, o, _ in statements if p == RDF_TYPE and _schema(o))
    view["@type"] = types[0] if len(types) == 1 else types or "Thing"
    values: dict[str, list[object]] = defaultdict(list)
    for p, o, term in statements:
        if not _schema(p):
            continue
        found: object = o
        if isinstance(term, ox.NamedNode):
            found = {"@id": o}
        elif isinstance(term, ox.Literal) and term.language:
            found = {"@value": o, "@language": term.language}
        elif isinstance(term, ox.Literal) and term.datatype.value != XSD_STRING:
            found = {"@value": o, "@type": term.datatype.value}
        values[p[len(SCHEMA_CONTEXT) :]].append(found)
    values.setdefault("name", [title])
    view.update({key: found[0] if len(found) == 1 else found for key, found in values.items()})
    return view


def _schema(iri: str) -> bool:
    return iri.startswith(SCHEMA_CONTEXT) and len(iri) > len(SCHEMA_CONTEXT)


def _findable(snapshot: Snapshot, iri: str) -> dict[str, object]:
    """What the catalog knows of a resource: a one-line description, and for an edition the map of its places."""
    catalog = get_catalog(snapshot)
    entity = catalog.entities.get(iri)
    if entity is None:
        return {"description": "", "map": None}
    found: dict[str, object] = {"description": catalog.describe(entity), "map": None, "ordinal": ordinal}
    if entity.kind == "edition" and entity.ordinal is not None:
        found["map"] = place_map(catalog, catalog.contests_of.get(iri, ()), (entity.ordinal,))
        found["map_title"] = f"Where the contests of the {ordinal(entity.ordinal)} edition are held"
    return found


def _by_edition(snapshot: Snapshot, iri: str, kind: str) -> dict[str, object]:
    """The resource's contests edition by edition, for organizations, places and tracks."""
    node = _node(iri)
    if kind == "organization":
        pattern = (
            f"?contest <http://www.w3.org/ns/prov#qualifiedAssociation> ?a . "
            f"?a <http://www.w3.org/ns/prov#agent> {node} ; <http://www.w3.org/ns/prov#hadRole> ?r . "
            "?r <http://www.w3.org/2000/01/rdf-schema#label> ?role FILTER(lang(?role) = 'en')"
        )
    elif kind == "place":
        pattern = (
            f"?contest <https://schema.org/location>/<https://schema.org/containedInPlace>* {node} . BIND('' AS ?role)"
        )
    else:
        pattern = f"?contest <{MKG}track> {node} . BIND('' AS ?role)"
    found = select(
        snapshot.pool,
        f"SELECT ?ordinal ?contest ?name ?role WHERE {{ {pattern} "
        f"?contest <https://schema.org/superEvent>/<{MKG}ordinal> ?ordinal ; <https://schema.org/name> ?name }} "
        f"ORDER BY ?ordinal ?name",
    )
    editions = snapshot.build.info.editions
    columns: dict[int, list[tuple[str, str, str]]] = {e: [] for e in editions}
    for r in found:
        entry = (value(r, "name"), snapshot.href(value(r, "contest")), value(r, "role"))
        columns[int(value(r, "ordinal"))].append(entry)
    return {"editions": editions, "columns": columns}


def _excerpt(snapshot: Snapshot, iri: str) -> dict[str, object] | None:
    """The lines of the plan a contest was read from."""
    found = select(
        snapshot.pool,
        f"SELECT ?doc ?first ?last WHERE {{ {_node(iri)} <http://www.w3.org/ns/prov#wasDerivedFrom> ?x . "
        f"?x <http://purl.org/dc/terms/isPartOf> ?doc ; <{MKG}firstLine> ?first ; <{MKG}lastLine> ?last }}",
    )
    if not found:
        return None
    doc, first, last = value(found[0], "doc"), int(value(found[0], "first")), int(value(found[0], "last"))
    path = _source_file(snapshot, doc.rsplit("/", 1)[-1])
    if path is None:
        return None
    lines = path.read_text(encoding="utf-8").split("\n")
    return {
        "file": path.name,
        "href": snapshot.href(doc) + f"#L{first}",
        "lines": [(n, lines[n - 1].rstrip("\r")) for n in range(first, min(last, len(lines)) + 1)],
    }


def _source_file(snapshot: Snapshot, name: str) -> Path | None:
    """One of the plans the build was read from, by the name a path gives (any other name: None)."""
    if "\0" in name or not 0 < len(name.encode()) <= 255:  # a name the file system cannot hold
        return None
    try:
        return snapshot.build.source(name)
    except OSError:
        return None


def _source(snapshot: Snapshot, iri: str, path: Path, media: str) -> Response:
    """A plan as published: plain text, or an HTML page with numbered lines."""
    data = path.read_bytes()
    if media == "text/plain":
        response = Response(data, content_type="text/plain; charset=utf-8")
    else:
        lines = data.decode("utf-8").split("\n")
        title = select(snapshot.pool, f"SELECT ?t WHERE {{ {_node(iri)} <http://purl.org/dc/terms/title> ?t }}")
        shown = value(title[0], "t") if title else path.name
        html = render_template(
            "pages/source.html",
            iri=iri,
            file=path.name,
            lines=list(enumerate(lines, start=1)),
            title=shown,
            schema=schema_view(iri, _outgoing(snapshot, iri), shown),
        )
        response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Vary"] = "Accept"
    return response


ONTOLOGY_GROUPS = (
    ("Classes", "http://www.w3.org/2002/07/owl#Class"),
    ("Object properties", "http://www.w3.org/2002/07/owl#ObjectProperty"),
    ("Datatype properties", "http://www.w3.org/2002/07/owl#DatatypeProperty"),
    ("Individuals", "http://www.w3.org/2002/07/owl#NamedIndividual"),
)


@bp.route("/ontology", methods=["GET", "HEAD"])
@bp.route("/ontology.<ext>", methods=["GET", "HEAD"])
def ontology(ext: str | None = None) -> Response:
    """The ontology: HTML documentation generated from the build's ontology graph, or the graph as RDF."""
    engine = get_engine()
    snapshot = engine.snapshot()
    graph = f"<{snapshot.layout.ontology_graph()}>"
    if ext is not None and ext not in EXTENSIONS:
        abort(404)
    media = (
        EXTENSIONS[ext]
        if ext
        else negotiate(
            request.headers.get("Accept"),
            request.args.get("format"),
            ["text/html", *RDF_OFFERS],
            EXTENSIONS,
        )
    )
    if media != "text/html":
        query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}"
        settings = engine.settings
        answer = respond(snapshot.pool.execute(Job(query, "CONSTRUCT", media, 1_000_000, settings.max_answer_bytes)))
        return answer if ext else _located(answer, url_for("pages.ontology"), media)
    found = select(
        snapshot.pool, f"SELECT ?term ?p ?o WHERE {{ GRAPH {graph} {{ ?term ?p ?o FILTER(isIRI(?term)) }} }}"
    )
    terms: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for r in found:
        terms[value(r, "term")][value(r, "p")].append((value(r, "o"), language(r["o"])))

    unions: dict[str, list[str]] = defaultdict(list)
    for r in select(
        snapshot.pool,
        f"SELECT ?b ?m WHERE {{ GRAPH {graph} {{ ?b <http://www.w3.org/2002/07/owl#unionOf>/"
        f"<http://www.w3.org/1999/02/22-rdf-syntax-ns#rest>*/"
        f"<http://www.w3.org/1999/02/22-rdf-syntax-ns#first> ?m }} }}",
    ):
        unions[value(r, "b")].append(value(r, "m"))

    def targets(target: str) -> list[tuple[str, str]]:
        """A class or property, linked; a union of classes (a blank node) as its members."""
        members = sorted(unions.get(target, [target]))
        return [(_curie(m), snapshot.href(m)) for m in members]

    def text(term: str, predicate: str, lang: str) -> str:
        return next((o for o, lg in terms[term].get(predicate, []) if lg == lang), "")

    header = terms.get(ONTOLOGY_IRI, {})
    groups = []
    for title, kind in ONTOLOGY_GROUPS:
        members = sorted(
            t
            for t, props in terms.items()
            if t.startswith(ONTOLOGY_IRI + "#") and (kind, "") in props.get(RDF_TYPE, [])
        )
        entries = []
        for term in members:
            props = terms[term]
            entries.append(
                {
                    "id": term.rsplit("#", 1)[1],
                    "iri": term,
                    "label_en": text(term, "http://www.w3.org/2000/01/rdf-schema#label", "en"),
                    "label_zh": text(term, "http://www.w3.org/2000/01/rdf-schema#label", "zh"),
                    "comment_en": text(term, "http://www.w3.org/2000/01/rdf-schema#comment", "en"),
                    "comment_zh": text(term, "http://www.w3.org/2000/01/rdf-schema#comment", "zh"),
                    "relations": [
                        (name, [t for o, _ in props.get(p, []) for t in targets(o)])
                        for name, p in (
                            ("subclass of", "http://www.w3.org/2000/01/rdf-schema#subClassOf"),
                            ("subproperty of", "http://www.w3.org/2000/01/rdf-schema#subPropertyOf"),
                            ("domain", "http://www.w3.org/2000/01/rdf-schema#domain"),
                            ("range", "http://www.w3.org/2000/01/rdf-schema#range"),
                            ("type", RDF_TYPE),
                        )
                        if props.get(p)
                    ],
                }
            )
        groups.append((title, entries))
    context = {
        "iri": ONTOLOGY_IRI,
        "title": next(
            (o for o, lg in header.get("http://purl.org/dc/terms/title", []) if lg == "en"), "makerkg ontology"
        ),
        "description": next((o for o, lg in header.get("http://purl.org/dc/terms/description", []) if lg == "en"), ""),
        "version": next((o for o, _ in header.get("http://www.w3.org/2002/07/owl#versionInfo", [])), ""),
        "version_iri": next((o for o, _ in header.get("http://www.w3.org/2002/07/owl#versionIRI", [])), ""),
        "groups": groups,
        "formats": list(EXTENSIONS),
    }
    schema = {
        "@context": SCHEMA_CONTEXT,
        "@type": "DefinedTermSet",
        "@id": ONTOLOGY_IRI,
        "name": context["title"],
        "description": context["description"],
        "version": context["version"],
    }
    response = Response(
        render_template("pages/ontology.html", **context, schema=schema), content_type="text/html; charset=utf-8"
    )
    response.headers["Vary"] = "Accept"
    return response
