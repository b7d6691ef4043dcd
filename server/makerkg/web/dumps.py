"""``/dumps/``: the build in every RDF format, and ``/.well-known/void``: the dataset described in VoID and DCAT."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, g, jsonify, render_template, request, send_file
from werkzeug.http import parse_range_header

from makerkg.errors import NotAcceptable
from makerkg.formats import Kind, by_media_type
from makerkg.namespaces import MKG
from makerkg.sparql.negotiate import negotiate
from makerkg.store.dumps import listing
from makerkg.store.layout import CHECKSUMS, DUMPS_DIR
from makerkg.store.query import select, value
from makerkg.web.engine import Snapshot, get_engine
from makerkg.web.errors import problem
from makerkg.web.sparql import GRAPH_ALIASES, RDF_OFFERS

if TYPE_CHECKING:
    from rdflib import Graph

bp = Blueprint("dumps", __name__)
SPDX = "http://spdx.org/rdf/terms#"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
IANA = "https://www.iana.org/assignments/media-types/"


@bp.get("/dumps/")
def index() -> Response:
    """The dumps with size, statement count, SHA-256 and build time; HTML or JSON by negotiation."""
    snapshot = get_engine().snapshot()
    files = listing(snapshot.build)
    try:
        media = negotiate(
            request.headers.get("Accept"),
            request.args.get("format"),
            ["text/html", "application/json"],
            {"json": "application/json", "html": "text/html"},
        )
    except NotAcceptable:
        media = "text/html"
    if media == "application/json":
        documents = [asdict(f) for f in files]
        response = jsonify(
            {"build": snapshot.build.info.id, "created": snapshot.build.info.created, "files": documents}
        )
    else:
        response = Response(
            render_template("dumps.html", files=files, info=snapshot.build.info),
            content_type="text/html; charset=utf-8",
        )
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/dumps/<name>")
def dump(name: str) -> Response:
    """One dump file, by name from the build's list, or the list of their SHA-256 sums (no other file is ever
    served), with its SHA-256 in ``Repr-Digest``."""
    snapshot = get_engine().snapshot()
    directory = snapshot.build.path / DUMPS_DIR
    if name == CHECKSUMS:
        sums = (directory / CHECKSUMS).read_bytes()
        media, sha256 = "text/plain; charset=utf-8", hashlib.sha256(sums).hexdigest()
    else:
        entry = next((f for f in listing(snapshot.build) if f.name == name), None)
        if entry is None:
            abort(404)
        media, sha256 = entry.media_type, entry.sha256
    serve_as_is(directory / name)
    response = send_file(
        directory / name,
        mimetype=media,
        as_attachment=False,
        conditional=True,
        etag=f"{snapshot.build.info.id}-{sha256[:16]}",
        max_age=3600,
    )
    response.headers["Repr-Digest"] = repr_digest(sha256)
    return response


def repr_digest(sha256: str) -> str:
    """An RFC 9530 ``Repr-Digest`` field value from a hex SHA-256: a structured-field dictionary whose byte
    sequence is base64 between colons.

    >>> repr_digest(hashlib.sha256(b"").hexdigest())
    'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'
    """
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"


AS_IS = "makerkg_as_is"  # the request-context flag of an answer sent as its file is, in no content coding


def serve_as_is(path: Path) -> None:
    """Prepare the request for the build's file at ``path``, sent as it is: in no content coding (the app's hook
    compresses every other answer), so that a range, an ETag and a ``Repr-Digest`` are of the file itself, which the
    server sends without compressing it again for each client (each dump has its .gz beside it); and with the
    request's Range read as RFC 9110 (14.2) says:

    - a Range the server cannot or will not serve is ignored, and the whole file sent with 200: an invalid one,
      another unit, several ranges (they would need multipart/byteranges) or several headers;
    - a suffix longer than the file is the whole file (14.1.2: 206), which werkzeug reads as unsatisfiable;
    - a single byte range past the end stays a 416 (15.5.17), and so does the last 0 bytes (``bytes=-0``: valid,
      and unsatisfiable, 14.1.2), which werkzeug reads as invalid.
    """
    g.setdefault(AS_IS, True)
    header = request.environ.get("HTTP_RANGE")
    if header is None:
        return
    if _SUFFIX_OF_NOTHING.fullmatch(header):
        length = path.stat().st_size
        why = f"Range: {header.strip()[:40]} asks for the last 0 bytes, which no range holds (the file has {length})"
        abort(problem(416, why, {"Content-Range": f"bytes */{length}"}, parameter="Range"))
    if not _one_byte_range(header):
        del request.environ["HTTP_RANGE"]
        return
    suffix = _SUFFIX.fullmatch(header)
    if suffix is not None and int(suffix[1]) > (length := path.stat().st_size) > 0:
        request.environ["HTTP_RANGE"] = f"bytes=-{length}"


_SUFFIX = re.compile(r"bytes=[ \t]*-([0-9]{1,30})[ \t]*")
_SUFFIX_OF_NOTHING = re.compile(r"bytes=[ \t]*-0+[ \t]*")


def _one_byte_range(header: str) -> bool:
    """Whether ``header`` asks for exactly one range of bytes.

    >>> _one_byte_range("bytes=0-99"), _one_byte_range("bytes=0-1,5-6"), _one_byte_range("bytes=abc")
    (True, False, False)
    """
    parsed = parse_range_header(header)
    return parsed is not None and parsed.units == "bytes" and len(parsed.ranges) == 1


def void(snapshot: Snapshot) -> Graph:
    """VoID and DCAT: counts, classes, vocabularies, examples, the endpoint, the dumps, licence and sources."""
    # rdflib, for the few pages that describe the dataset: the web processes start without it
    from rdflib import BNode, Graph, Literal, URIRef
    from rdflib.namespace import DCTERMS, FOAF, RDF, XSD

    from makerkg.graph.vocab import DCAT, PREFIXES, SD, VOID

    info = snapshot.build.info
    base = info.base
    stats = info.summary.statistics
    g = Graph()
    for prefix, namespace in {
        **PREFIXES,
        "void": str(VOID),
        "dcat": str(DCAT),
        "sd": str(SD),
        "foaf": str(FOAF),
        "spdx": SPDX,
    }.items():
        g.bind(prefix, namespace)
    layout = snapshot.layout
    dataset = URIRef(layout.dataset())
    endpoint = URIRef(layout.endpoint())
    g.add((dataset, RDF.type, VOID.Dataset))
    g.add((dataset, RDF.type, DCAT.Dataset))
    g.add(
        (
            dataset,
            DCTERMS.title,
            Literal("makerkg: the “创客中国” SME innovation and entrepreneurship contest", lang="en"),
        )
    )
    g.add((dataset, DCTERMS.title, Literal("“创客中国”中小企业创新创业大赛知识图谱", lang="zh")))
    g.add(
        (
            dataset,
            DCTERMS.description,
            Literal(
                "The contests of each edition's plan (national final, regional, thematic and overseas contests) "
                "with their places, host organizations (lead, host, undertaker) and registration sites, linked "
                "across editions.",
                lang="en",
            ),
        )
    )
    g.add((dataset, DCTERMS.license, URIRef(LICENSE)))
    g.add(
        (
            dataset,
            DCTERMS.modified,
            Literal(datetime.fromisoformat(info.created.replace("Z", "+00:00")), datatype=XSD.dateTime),
        )
    )
    g.add((dataset, DCTERMS.identifier, Literal(info.id)))
    g.add((dataset, FOAF.homepage, URIRef(base)))
    g.add((dataset, VOID.uriSpace, Literal(base)))
    g.add((dataset, VOID.sparqlEndpoint, endpoint))
    g.add((dataset, VOID.triples, Literal(info.triples, datatype=XSD.integer)))
    classes: dict[str, int] = {}
    properties: dict[str, int] = {}
    if stats is not None:
        for count, predicate in (
            (stats.entities, VOID.entities),
            (stats.distinct_subjects, VOID.distinctSubjects),
            (stats.distinct_objects, VOID.distinctObjects),
        ):
            g.add((dataset, predicate, Literal(count, datatype=XSD.integer)))
        classes, properties = stats.classes, stats.properties
    g.add((dataset, VOID.classes, Literal(len(classes), datatype=XSD.integer)))
    g.add((dataset, VOID.properties, Literal(len(properties), datatype=XSD.integer)))
    for index, (cls, count) in enumerate(classes.items()):
        part = BNode(f"class{index}")
        g.add((dataset, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, Literal(count, datatype=XSD.integer)))
    for index, (prop, count) in enumerate(properties.items()):
        part = BNode(f"property{index}")
        g.add((dataset, VOID.propertyPartition, part))
        g.add((part, VOID.property, URIRef(prop)))
        g.add((part, VOID.triples, Literal(count, datatype=XSD.integer)))
    used = {p for p in properties} | set(classes)
    for namespace in sorted(set(PREFIXES.values())):
        if any(term.startswith(namespace) for term in used):
            g.add((dataset, VOID.vocabulary, URIRef(namespace)))
    for name, count in info.quads_per_graph.items():
        subset = URIRef(name)
        g.add((dataset, VOID.subset, subset))
        g.add((subset, RDF.type, VOID.Dataset))
        g.add((subset, VOID.triples, Literal(count, datatype=XSD.integer)))
    for example in _examples(snapshot):
        g.add((dataset, VOID.exampleResource, URIRef(example)))
    for source in select(
        snapshot.pool, "PREFIX schema: <https://schema.org/> SELECT ?d WHERE { ?d a schema:DigitalDocument }"
    ):
        g.add((dataset, DCTERMS.source, URIRef(value(source, "d"))))
    service = URIRef(f"{endpoint}#service")
    g.add((dataset, DCAT.accessService, service))
    g.add((service, RDF.type, DCAT.DataService))
    g.add((service, DCAT.endpointURL, endpoint))
    g.add((service, DCTERMS.conformsTo, URIRef("https://www.w3.org/TR/sparql11-protocol/")))
    for entry in listing(snapshot.build):
        url = URIRef(layout.dump(entry.name))
        if entry.format != "jsonld-context" and not entry.compressed:
            g.add((dataset, VOID.dataDump, url))
        distribution = URIRef(f"{url}#distribution")
        g.add((dataset, DCAT.distribution, distribution))
        g.add((distribution, RDF.type, DCAT.Distribution))
        g.add((distribution, DCAT.downloadURL, url))
        g.add((distribution, DCAT.mediaType, URIRef(IANA + entry.content_type)))
        if entry.compressed:
            g.add((distribution, DCAT.compressFormat, URIRef(IANA + "application/gzip")))
        g.add((distribution, DCAT.byteSize, Literal(entry.bytes, datatype=XSD.nonNegativeInteger)))
        g.add((distribution, DCTERMS.license, URIRef(LICENSE)))
        checksum = BNode(f"checksum-{entry.name}")
        g.add((distribution, URIRef(SPDX + "checksum"), checksum))
        g.add((checksum, URIRef(SPDX + "algorithm"), URIRef(SPDX + "checksumAlgorithm_sha256")))
        g.add((checksum, URIRef(SPDX + "checksumValue"), Literal(entry.sha256, datatype=XSD.hexBinary)))
    return g


def _examples(snapshot: Snapshot) -> list[str]:
    """One resource of each main class, the first by IRI."""
    found: list[str] = []
    for cls in (
        f"{MKG}Edition",
        f"{MKG}Contest",
        "http://www.w3.org/ns/org#Organization",
        "https://schema.org/AdministrativeArea",
    ):
        first = select(snapshot.pool, f"SELECT ?x WHERE {{ ?x a <{cls}> FILTER(isIRI(?x)) }} ORDER BY ?x LIMIT 1")
        found.extend(value(r, "x") for r in first)
    return found


@bp.get("/.well-known/void")
def well_known_void() -> Response:
    """The VoID and DCAT description of the dataset, Turtle by default."""
    engine = get_engine()
    media = negotiate(
        request.headers.get("Accept"),
        request.args.get("format"),
        [*RDF_OFFERS, "text/html"],
        {**GRAPH_ALIASES, "html": "text/html"},
    )
    snapshot = engine.snapshot()
    g = void(snapshot)
    if media == "text/html":  # a browser following the home page's link: the Turtle, readable
        turtle = g.serialize(format="turtle")
        response = Response(render_template("void.html", turtle=turtle), content_type="text/html; charset=utf-8")
    else:
        response = Response(
            g.serialize(format=by_media_type(media, [Kind.GRAPH]).rdflib_name, encoding="utf-8"),
            content_type=f"{media}; charset=utf-8",
        )
    response.headers["Vary"] = "Accept"
    return response
