"""Serialisations of a build: the same build always gives the same bytes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from makerkg.namespaces import PREFIXES
from makerkg.store.build import DUMPS_DIR, Build, Files


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


DUMP_NAME = "makerkg"
CONTEXT_FILE = "makerkg.context.jsonld"


def context() -> dict[str, object]:
    """The JSON-LD context the JSON-LD dump uses, published beside it: the graph's prefixes."""
    return {"@context": dict(sorted(PREFIXES.items()))}


def _compact(key: str, by_length: list[tuple[str, str]]) -> str:
    for prefix, namespace in by_length:
        if key.startswith(namespace) and len(key) > len(namespace):
            return f"{prefix}:{key[len(namespace) :]}"
    return key


def _compact_jsonld(expanded: bytes) -> list[object]:
    """The nodes of an expanded JSON-LD document with property names and datatypes shortened to prefixed names of
    ``context()``.

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

    nodes = walk(json.loads(expanded))
    if not isinstance(nodes, list):
        raise TypeError("pyoxigraph's JSON-LD is not a list of nodes")
    return nodes


def write(files: Files, fmt: Format, target: Path) -> None:
    """Write the build in ``fmt`` to ``target``, streaming from the build's files: the quad formats from
    ``graph.nq`` (JSON-LD graph by graph), the triple formats from the merge ``union.nt``. Memory stays that of
    one named graph whatever the size of the build."""
    source = files.graph_file if fmt.quads else files.union_file
    if fmt.rdf_format in (ox.RdfFormat.N_QUADS, ox.RdfFormat.N_TRIPLES):
        shutil.copyfile(source, target)  # already canonical N-Quads / N-Triples
    elif fmt.rdf_format == ox.RdfFormat.JSON_LD:
        _write_jsonld(files.graphs, target)
    else:
        input_format = ox.RdfFormat.N_QUADS if fmt.quads else ox.RdfFormat.N_TRIPLES
        # parse and serialise are both lazy: pyoxigraph writes each statement as it reads it
        ox.serialize(ox.parse(path=source, format=input_format), target, format=fmt.rdf_format, prefixes=PREFIXES)


def _write_jsonld(graphs: Sequence[Path], target: Path) -> None:
    """One JSON-LD document, ``{"@context": …, "@graph": [graph, …]}``, written a named graph at a time."""
    head = json.dumps(context(), ensure_ascii=False, separators=(",", ":"))[:-1]
    with target.open("wb") as out:
        out.write(f'{head},"@graph":['.encode())
        for i, graph in enumerate(graphs):
            expanded = ox.serialize(ox.parse(path=graph, format=ox.RdfFormat.N_QUADS), format=ox.RdfFormat.JSON_LD)
            for j, node in enumerate(_compact_jsonld(expanded or b"[]")):
                out.write(b"," if i or j else b"")
                out.write(json.dumps(node, ensure_ascii=False, separators=(",", ":")).encode())
        out.write(b"]}")


def export(build: Build, fmt: Format, target: Path | None) -> bytes | None:
    """The build in ``fmt``: its dump, written to ``target``, or the bytes when there is no target."""
    dump = build.path / DUMPS_DIR / f"{DUMP_NAME}.{fmt.extension}"
    if target is None:
        return dump.read_bytes()
    shutil.copyfile(dump, target)
    return None
