"""A published build on disk: ``OUT/current`` points at ``OUT/builds/ID``, swapped atomically.

A build is written as files first and never held whole in memory: each named graph goes to its own sorted N-Quads
file as it is made (``Draft.add``); ``Draft.publish`` concatenates them into ``graph.nq``, writes their merge as
sorted N-Triples (``union.nt``), bulk-loads both into a new Oxigraph store from the files, and only then swaps
``OUT/current``. At a million triples the Python side holds lines of text, never a million term objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pyoxigraph as ox

from makerkg.errors import StoreMissing

log = logging.getLogger(__name__)

CURRENT = "current"
BUILDS = "builds"
GRAPH_FILE = "graph.nq"  # every named graph, sorted by graph then by line
UNION_FILE = "union.nt"  # the merge of the named graphs (the default graph), each triple once, sorted
STORE_DIR = "store"
INFO_FILE = "build.json"
SOURCES_DIR = "sources"  # the plans the build was read from
DUMPS_DIR = "dumps"
CHECKSUMS = "SHA256SUMS"  # in DUMPS_DIR, the format sha256sum -c reads
PARTS_DIR = ".parts"  # one sorted N-Quads file per named graph while a build is written
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

    @property
    def editions(self) -> list[int]:
        """The edition ordinals the build holds, ascending."""
        return sorted(int(e) for e in self.summary.get("contests", {}))


@dataclass(frozen=True)
class Build:
    """A build directory and its description."""

    path: Path
    info: BuildInfo

    @property
    def graph_file(self) -> Path:
        return self.path / GRAPH_FILE

    @property
    def union_file(self) -> Path:
        return self.path / UNION_FILE

    @property
    def store_dir(self) -> Path:
        return self.path / STORE_DIR


@dataclass(frozen=True)
class Files:
    """The files of a build being written, for the writers of further files (dumps): the whole dataset, its merge,
    and each named graph's own file in the order ``graph.nq`` holds them."""

    directory: Path
    graph_file: Path
    union_file: Path
    graphs: Sequence[Path]


def canonical_lines(graph: str, triples: Sequence[ox.Triple]) -> list[bytes]:
    """One named graph's quads as N-Quads lines, each once, sorted: the same graph always gives the same bytes.

    Blank nodes (the ontology's owl:unionOf lists) get labels by W3C RDF Dataset Canonicalization (RDFC-1.0):
    a parser gives them fresh random labels each time.
    """
    name = ox.NamedNode(graph)
    quads = [ox.Quad(t.subject, t.predicate, t.object, name) for t in triples]
    if any(isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode) for q in quads):
        dataset = ox.Dataset(quads)
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
        quads = list(dataset)
    data = ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b""
    return sorted(set(data.splitlines(keepends=True)))


class Draft:
    """A build being written in a directory beside the published ones; removed unless it is published.

    Use as a context manager: ``add`` each named graph, then ``publish``. Any error on the way (a graph that does
    not validate, a full disk) leaves ``OUT/current`` as it was and removes the draft.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        builds = out / BUILDS
        builds.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=".new-", dir=builds))
        self._parts = self.path / PARTS_DIR
        self._parts.mkdir()
        self._graphs: dict[str, tuple[Path, int]] = {}
        self._published = False

    def __enter__(self) -> Draft:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the draft (nothing, once it is published)."""
        if not self._published:
            shutil.rmtree(self.path, ignore_errors=True)

    @property
    def quads(self) -> int:
        """The quads added so far."""
        return sum(count for _, count in self._graphs.values())

    def add(self, graph: str, triples: Sequence[ox.Triple]) -> int:
        """Write one named graph; returns the number of its quads."""
        if graph in self._graphs:
            raise ValueError(f"graph {graph} is added twice")
        lines = canonical_lines(graph, triples)
        part = self._parts / f"{len(self._graphs)}.nq"
        with part.open("wb") as handle:
            handle.writelines(lines)
        self._graphs[graph] = (part, len(lines))
        return len(lines)

    def publish(self, base: str, summary: dict[str, Any], extras: Callable[[Files], None] | None = None) -> Build:
        """Write ``graph.nq``, ``union.nt`` and the store, then ``extras`` (dumps), and swap ``OUT/current``."""
        # graph by graph in the order of their N-Triples form, as the lines within each graph
        order = sorted(self._graphs, key=lambda g: f"<{g}>")
        parts = [self._graphs[g][0] for g in order]
        digest = hashlib.sha256()
        with (self.path / GRAPH_FILE).open("wb") as target:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        target.write(block)
        triples = _write_union(self._graphs, self.path / UNION_FILE)
        store = ox.Store(str(self.path / STORE_DIR))
        store.bulk_load(path=self.path / GRAPH_FILE, format=ox.RdfFormat.N_QUADS)
        # The default graph is the RDF merge of the named graphs, each triple once, as SPARQL defines a merge;
        # Oxigraph's use_default_graph_as_union would answer a triple once per graph that holds it.
        store.bulk_load(path=self.path / UNION_FILE, format=ox.RdfFormat.N_TRIPLES)
        store.flush()
        store.optimize()
        summary = {**summary, "statistics": statistics(store)}
        del store
        now = datetime.now(UTC).replace(microsecond=0)
        content = digest.hexdigest()
        build_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{content[:8]}"
        info = BuildInfo(
            id=build_id,
            created=now.isoformat().replace("+00:00", "Z"),
            content_sha256=content,
            base=base,
            triples=triples,
            quads_per_graph={g: self._graphs[g][1] for g in sorted(self._graphs)},
            summary=summary,
        )
        if extras is not None:
            extras(Files(self.path, self.path / GRAPH_FILE, self.path / UNION_FILE, parts))
        shutil.rmtree(self._parts)
        (self.path / INFO_FILE).write_text(
            json.dumps(asdict(info), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        builds = self.out / BUILDS
        final = builds / build_id
        if final.exists():
            shutil.rmtree(final)
        self.path.rename(final)
        self._published = True
        _swap(self.out, final)
        _prune(builds, keep={final.name})
        return Build(final, info)


def _write_union(graphs: dict[str, tuple[Path, int]], target: Path) -> int:
    """The merge of the named graphs as sorted N-Triples; returns its number of triples.

    Each quad line ends with its graph's name, so the triple is the line without it: lines, not parsed terms,
    because a million lines of bytes take a fifth of the memory of a million pyoxigraph triples.
    """
    union: set[bytes] = set()
    for graph, (part, _) in graphs.items():
        suffix = f" <{graph}> .\n".encode()
        with part.open("rb") as handle:
            for line in handle:
                if not line.endswith(suffix):
                    raise ValueError(f"{part}: a line of graph {graph} ends otherwise: {line!r}")
                union.add(line[: -len(suffix)] + b" .\n")
    ordered = sorted(union)
    del union
    with target.open("wb") as handle:
        handle.writelines(ordered)
    return len(ordered)


_GROUPED = {  # figure → a query of (key, count) rows
    "classes": "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c FILTER isIRI(?c) } GROUP BY ?c",
    "properties": "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p",
}
_COUNTS = {  # figure → a query of one count
    "distinct_subjects": "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }",
    "distinct_objects": "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }",
    "entities": "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o FILTER isIRI(?s) }",
}


def statistics(store: ox.Store) -> dict[str, Any]:
    """VoID figures of the merged (default) graph, counted by the store: entities per class, triples per property,
    distinct subjects and objects, and entities (subjects that are IRIs)."""
    out: dict[str, Any] = {}
    for key, query in _GROUPED.items():
        rows = _solutions(store, query)
        out[key] = dict(sorted((_value(row[0]), int(_value(row[1]))) for row in rows))
    for key, query in _COUNTS.items():
        rows = _solutions(store, query)
        out[key] = int(_value(next(iter(rows))[0]))
    return out


def _solutions(store: ox.Store, query: str) -> ox.QuerySolutions:
    rows = store.query(query)
    if not isinstance(rows, ox.QuerySolutions):
        raise TypeError(f"not a SELECT query: {query}")
    return rows


def _value(term: object) -> str:
    if not isinstance(term, ox.NamedNode | ox.Literal):
        raise TypeError(f"a statistic is not a value: {term!r}")
    return term.value


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
