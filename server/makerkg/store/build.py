"""A published build on disk: ``OUT/current`` points at ``OUT/builds/ID``, swapped atomically."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib import BNode, Dataset, Graph, URIRef
from rdflib import Literal as RdfLiteral
from rdflib.term import Node

from makerkg.errors import StoreMissing

log = logging.getLogger(__name__)

CURRENT = "current"
BUILDS = "builds"
GRAPH_FILE = "graph.nq"
STORE_DIR = "store"
INFO_FILE = "build.json"
SOURCES_DIR = "sources"  # the plans the build was read from
DUMPS_DIR = "dumps"
CHECKSUMS = "SHA256SUMS"  # in DUMPS_DIR, the format sha256sum -c reads
KEEP = 2  # the current build and the one before, which a server may still be reading


@dataclass(frozen=True)
class BuildInfo:
    """What a build holds: its id, when it was made, a digest of its content, and counts."""

    id: str
    created: str
    content_sha256: str
    base: str
    triples: int
    quads_per_graph: dict[str, int]
    summary: dict[str, Any]


@dataclass(frozen=True)
class Build:
    """A build directory and its description."""

    path: Path
    info: BuildInfo

    @property
    def graph_file(self) -> Path:
        return self.path / GRAPH_FILE

    @property
    def store_dir(self) -> Path:
        return self.path / STORE_DIR


def sort_key(quad: ox.Quad) -> tuple[str, str]:
    """Graph first (TriG writes one block per graph), then the quad's N-Quads text: two strings, not four, per quad
    (at a million quads the sort keys are most of the build's memory)."""
    return (str(quad.graph_name), str(quad))


def _term(node: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    if isinstance(node, URIRef):
        return ox.NamedNode(str(node))
    if isinstance(node, BNode):
        return ox.BlankNode(str(node))
    if isinstance(node, RdfLiteral):
        if node.language:
            return ox.Literal(str(node), language=node.language)
        if node.datatype:
            return ox.Literal(str(node), datatype=ox.NamedNode(str(node.datatype)))
        return ox.Literal(str(node))
    raise TypeError(f"not an RDF term: {node!r}")


def triples_of(graph: Graph) -> list[ox.Triple]:
    """An rdflib graph's triples as Oxigraph triples."""
    out = []
    for s, p, o in graph:
        subject, predicate, obj = _term(s), _term(p), _term(o)
        if not isinstance(predicate, ox.NamedNode) or isinstance(subject, ox.Literal):
            raise TypeError(f"not an RDF triple: {s!r} {p!r} {o!r}")
        out.append(ox.Triple(subject, predicate, obj))
    return out


def from_rdflib(ds: Dataset) -> list[ox.Quad]:
    """The quads of an rdflib dataset as Oxigraph quads, in canonical order (the default graph is left out)."""
    quads = []
    for s, p, o, g in ds.quads((None, None, None, None)):
        graph = getattr(g, "identifier", g)
        if not isinstance(graph, URIRef) or str(graph) == "urn:x-rdflib:default":
            continue
        subject, predicate, obj = _term(s), _term(p), _term(o)
        if not isinstance(predicate, ox.NamedNode) or isinstance(subject, ox.Literal):
            raise TypeError(f"not an RDF triple: {s!r} {p!r} {o!r}")
        quads.append(ox.Quad(subject, predicate, obj, ox.NamedNode(str(graph))))
    return canonical(quads)


def canonical(quads: Iterable[ox.Quad]) -> list[ox.Quad]:
    """Quads without duplicates in one fixed order, so that the same graph always serialises to the same bytes.

    Blank nodes (the ontology's owl:unionOf lists) get labels by W3C RDF Dataset Canonicalization (RDFC-1.0):
    a parser gives them fresh random labels each time.
    """
    unique = set(quads)
    blank = {q.graph_name for q in unique if isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode)}
    if blank:
        with_blanks = [q for q in unique if q.graph_name in blank]
        dataset = ox.Dataset(with_blanks)
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
        unique = {q for q in unique if q.graph_name not in blank} | set(dataset)
    return sorted(unique, key=sort_key)


def publish(
    quads: list[ox.Quad],
    out: Path,
    base: str,
    summary: dict[str, Any],
    extras: Callable[[Path, list[ox.Quad]], None] | None = None,
) -> Build:
    """Write a build beside the current one and swap ``OUT/current`` to it only when it is complete.

    ``extras`` writes further files (dumps) into the new build directory before the swap. A failure anywhere
    leaves the previous build in place and removes the partial one.
    """
    builds = out / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=builds))
    try:
        nquads = ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b""
        (tmp / GRAPH_FILE).write_bytes(nquads)
        digest = hashlib.sha256(nquads).hexdigest()
        store = ox.Store(str(tmp / STORE_DIR))
        store.bulk_extend(quads)
        # The default graph is the RDF merge of the named graphs, each triple once, as SPARQL defines a merge;
        # Oxigraph's use_default_graph_as_union would answer a triple once per graph that holds it.
        store.bulk_extend(ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in _triples(quads))
        store.flush()
        store.optimize()
        del store
        per_graph: dict[str, int] = {}
        for quad in quads:
            name = str(quad.graph_name)[1:-1]  # <iri> → iri: every quad of a build is in a named graph
            per_graph[name] = per_graph.get(name, 0) + 1
        now = datetime.now(UTC).replace(microsecond=0)
        build_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"
        info = BuildInfo(
            id=build_id,
            created=now.isoformat().replace("+00:00", "Z"),
            content_sha256=digest,
            base=base,
            triples=len(_triples(quads)),
            quads_per_graph=dict(sorted(per_graph.items())),
            summary=summary,
        )
        if extras is not None:
            extras(tmp, quads)
        (tmp / INFO_FILE).write_text(json.dumps(asdict(info), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        final = builds / build_id
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap(out, final)
    _prune(builds, keep={final.name})
    return Build(final, info)


def _triples(quads: list[ox.Quad]) -> list[ox.Triple]:
    return sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads}, key=str)


def _swap(out: Path, target: Path) -> None:
    """Point ``OUT/current`` at ``target`` in one rename, so readers see the old build or the new one."""
    link = out / CURRENT
    tmp_link = out / f".{CURRENT}-{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(Path(BUILDS) / target.name)
    os.replace(tmp_link, link)


def _prune(builds: Path, keep: set[str]) -> None:
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in done[:-KEEP]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def current(out: Path) -> Build:
    """The build ``OUT/current`` points at; raises StoreMissing if there is none or it is incomplete."""
    link = out / CURRENT
    if not link.exists():
        raise StoreMissing(out, "no built graph here")
    path = link.resolve()
    info_file = path / INFO_FILE
    if not info_file.is_file() or not (path / STORE_DIR).is_dir():
        raise StoreMissing(path, "the build is incomplete (no build.json or store)")
    try:
        raw = json.loads(info_file.read_text(encoding="utf-8"))
        info = BuildInfo(**raw)
    except (ValueError, TypeError) as err:
        raise StoreMissing(info_file, f"unreadable build description ({err})") from err
    return Build(path, info)
