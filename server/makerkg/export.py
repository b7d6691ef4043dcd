"""Serialisations of a build: the same build always gives the same bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from makerkg.namespaces import PREFIXES
from makerkg.store.build import Build


@dataclass(frozen=True)
class Format:
    """An RDF serialisation makerkg writes."""

    name: str  # as the command line and the format= parameter say it
    media_type: str
    extension: str
    rdf_format: ox.RdfFormat
    quads: bool  # keeps named graphs


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("ttl", "text/turtle", "ttl", ox.RdfFormat.TURTLE, quads=False),
        Format("nt", "application/n-triples", "nt", ox.RdfFormat.N_TRIPLES, quads=False),
        Format("nq", "application/n-quads", "nq", ox.RdfFormat.N_QUADS, quads=True),
        Format("trig", "application/trig", "trig", ox.RdfFormat.TRIG, quads=True),
        Format("jsonld", "application/ld+json", "jsonld", ox.RdfFormat.JSON_LD, quads=True),
        Format("rdfxml", "application/rdf+xml", "rdf", ox.RdfFormat.RDF_XML, quads=False),
    )
}


def read_quads(build: Build) -> list[ox.Quad]:
    """The build's quads in their canonical order (``graph.nq`` is written sorted)."""
    with build.graph_file.open("rb") as handle:
        return list(ox.parse(handle, format=ox.RdfFormat.N_QUADS))


def triples(quads: Sequence[ox.Quad]) -> list[ox.Triple]:
    """The union of all graphs: each triple once, sorted."""
    unique = {ox.Triple(q.subject, q.predicate, q.object) for q in quads}
    return sorted(unique, key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))


CONTEXT_FILE = "makerkg.context.jsonld"


def context() -> dict[str, object]:
    """The JSON-LD context the JSON-LD dump uses, published beside it: the graph's prefixes."""
    return {"@context": dict(sorted(PREFIXES.items()))}


def _compact(key: str, by_length: list[tuple[str, str]]) -> str:
    for prefix, namespace in by_length:
        if key.startswith(namespace) and len(key) > len(namespace):
            return f"{prefix}:{key[len(namespace) :]}"
    return key


def _compact_jsonld(expanded: bytes) -> bytes:
    """Expanded JSON-LD with property names and datatypes shortened to prefixed names of ``context()``.

    Hand-written because only keys and ``@type`` values change (@id values stay whole IRIs): a general JSON-LD
    compaction (pyld) does far more work than this needs and is slow on large dumps; a round-trip test checks it.
    """
    by_length = sorted(((p, n) for p, n in PREFIXES.items()), key=lambda item: -len(item[1]))

    def walk(node: object) -> object:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            out: dict[str, object] = {}
            for key, value in node.items():
                if key == "@type" and isinstance(value, str):
                    out[key] = _compact(value, by_length)
                elif key == "@type" and isinstance(value, list):
                    out[key] = [_compact(v, by_length) if isinstance(v, str) else v for v in value]
                elif key.startswith("@"):
                    out[key] = walk(value)
                else:
                    out[_compact(key, by_length)] = walk(value)
            return out
        return node

    document = {"@context": context()["@context"], "@graph": walk(json.loads(expanded))}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def serialise(quads: Sequence[ox.Quad], fmt: Format, merged: Sequence[ox.Triple] | None = None) -> bytes:
    """``quads`` (canonical order) in ``fmt``; triple-only formats get the union of the graphs (``merged``, when
    the caller has it already)."""
    data: Sequence[ox.Quad] | Sequence[ox.Triple] = quads if fmt.quads else (merged or triples(quads))
    prefixes = None if fmt.rdf_format in (ox.RdfFormat.N_TRIPLES, ox.RdfFormat.N_QUADS) else PREFIXES
    out = ox.serialize(data, format=fmt.rdf_format, prefixes=prefixes)
    if fmt.rdf_format == ox.RdfFormat.JSON_LD and isinstance(out, bytes):
        out = _compact_jsonld(out)
    if not isinstance(out, bytes):
        raise TypeError("pyoxigraph returned no bytes")
    return out


def export(build: Build, fmt: Format, target: Path | None) -> bytes | None:
    """Write the build in ``fmt`` to ``target``, or return the bytes when there is no target."""
    data = serialise(read_quads(build), fmt)
    if target is None:
        return data
    target.write_bytes(data)
    return None
