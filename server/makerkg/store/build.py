"""A published build on disk: ``OUT/current`` points at ``OUT/builds/ID``, swapped atomically.

A build is written as files first and never held whole in memory: each named graph goes to its own sorted N-Quads
file as it is made (``Draft.add``); ``Draft.publish`` concatenates them into ``graph.nq``, writes their merge as
sorted N-Triples (``union.nt``), bulk-loads both into a new Oxigraph store from the files, and only then swaps
``OUT/current``. At a million triples the Python side holds lines of text, never a million term objects.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from types import TracebackType
from typing import Any

import pyoxigraph as ox

from makerkg.model import BuildSummary, Statistics
from makerkg.store.dumps import finish_dumps, shares, write_dumps, write_formats
from makerkg.store.layout import (
    BUILDS,
    CURRENT,
    DUMPS_DIR,
    GRAPH_FILE,
    SOURCES_DIR,
    STORE_DIR,
    UNION_FILE,
    Build,
    BuildInfo,
    Files,
    write_info,
)

log = logging.getLogger(__name__)

PARTS_DIR = ".parts"  # one sorted N-Quads file per named graph while a build is written
DRAFT_PREFIX = ".new-"  # a build being written; one left by a killed build is removed by the next build
LOCK_FILE = ".lock"  # in OUT: held by the build writing there
SUPERSEDED = ".superseded"  # in a build directory: when another build replaced it as current
KEEP = 2  # the current build and the one before are never pruned
GRACE = 600.0  # seconds a replaced build stays, whoever reads it, before it may be pruned (setting build_grace)
# Past this many quads the dumps are written by two processes of their own (dumps.shares) while this one loads the
# store: at a million triples the dumps take a core for 14 s, the store 9 s; below it, starting processes costs
# more than it saves.
DUMPS_APART_QUADS = 50_000


def canonical_lines(graph: str, triples: Sequence[ox.Triple]) -> list[bytes]:
    """One named graph's quads as N-Quads lines, each once, sorted: the same graph always gives the same bytes.

    Blank nodes (the ontology's owl:unionOf lists) get labels by W3C RDF Dataset Canonicalization (RDFC-1.0):
    a parser gives them fresh random labels each time.
    """
    if any(isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode) for t in triples):
        name = ox.NamedNode(graph)
        dataset = ox.Dataset(ox.Quad(t.subject, t.predicate, t.object, name) for t in triples)
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
        data = ox.serialize(dataset, format=ox.RdfFormat.N_QUADS) or b""
        return sorted(set(data.splitlines(keepends=True)))
    # an N-Quads line is the N-Triples line with the graph's name before its " .": a third of the time of making
    # and serialising a quad object per triple
    suffix = f" <{graph}> .\n".encode()
    data = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""
    return sorted({line[:-3] + suffix for line in data.splitlines(keepends=True)})


class OutLock:
    """The lock on an out directory that one build at a time holds (``flock``, released when its process ends,
    however it ends). A second build waits for the first, saying so through ``waiting``."""

    def __init__(self, out: Path, waiting: Callable[[str], None] | None = None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / LOCK_FILE
        self._handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.seek(0)
            holder = self._handle.read().strip() or "another process"
            if waiting is not None:
                waiting(f"waiting for the build running in {holder} to finish with {out}")
            fcntl.flock(self._handle, fcntl.LOCK_EX)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(f"process {os.getpid()}\n")
        self._handle.flush()

    def release(self) -> None:
        self._handle.close()  # closing releases the lock


class Draft:
    """A build being written in a directory beside the published ones; removed unless it is published.

    Use as a context manager: ``add`` each named graph, then ``publish``. Any error on the way (a graph that does
    not validate, a full disk) leaves ``OUT/current`` as it was and removes the draft. A draft holds the out
    directory's lock from start to end, so builds into one directory never overlap; drafts that a killed build
    left behind are removed when the next one starts.
    """

    def __init__(self, out: Path, waiting: Callable[[str], None] | None = None, grace: float = GRACE) -> None:
        self.out = out
        self.grace = grace
        self._lock = OutLock(out, waiting)
        builds = out / BUILDS
        builds.mkdir(parents=True, exist_ok=True)
        for stale in builds.glob(DRAFT_PREFIX + "*"):  # no other build runs: these are left by killed ones
            shutil.rmtree(stale, ignore_errors=True)
        self.path = Path(tempfile.mkdtemp(prefix=DRAFT_PREFIX, dir=builds))
        self._parts = self.path / PARTS_DIR
        self._parts.mkdir()
        self._graphs: dict[str, tuple[Path, int]] = {}
        self._published = False
        # Creating the Oxigraph store waits on the disk a tenth of a second (the processor is idle): begun here, in
        # a thread, it is done by the time the graph is made.
        self._opener = ThreadPoolExecutor(1)
        self._store: Future[ox.Store] | None = self._opener.submit(ox.Store, str(self.path / STORE_DIR))

    def __enter__(self) -> Draft:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the draft (nothing, once it is published) and release the out directory."""
        self._opener.shutdown(wait=True)
        self._store = None  # closes the store, if publish has not
        if not self._published:
            shutil.rmtree(self.path, ignore_errors=True)
        self._lock.release()

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

    def publish(self, base: str, summary: BuildSummary, sources: Sequence[Path] = ()) -> Build:
        """Write ``graph.nq``, ``union.nt``, the store, the dumps and a copy of the ``sources`` (the plans, byte for
        byte, for pages to show the lines a fact came from), then swap ``OUT/current``."""
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
        files = Files(self.path, self.path / GRAPH_FILE, self.path / UNION_FILE, parts)
        with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as apart:
            # spawn: this process may hold threads (the validation pool) that a fork would copy in a bad state
            dumps: list[Future[None]] = []
            if self.quads > DUMPS_APART_QUADS:
                (self.path / DUMPS_DIR).mkdir()
                dumps = [apart.submit(write_formats, files, names) for names in shares()]
            if self._store is None:
                raise RuntimeError("a draft is published once")
            store, self._store = self._store.result(), None
            load_files(store, self.path)
            store.flush()
            store.optimize()
            summary = replace(summary, statistics=statistics(store))
            del store  # closed before the build is moved into place
            (self.path / SOURCES_DIR).mkdir()
            for plan in sources:
                shutil.copyfile(plan, self.path / SOURCES_DIR / plan.name)
            if not dumps:
                write_dumps(files)
            else:
                for done in dumps:
                    done.result()
                finish_dumps(files)
        now = datetime.now(UTC).replace(microsecond=0)
        content = digest.hexdigest()
        build_id = _unique_id(self.out / BUILDS, f"{now.strftime('%Y%m%dT%H%M%SZ')}-{content[:8]}")
        info = BuildInfo(
            id=build_id,
            created=now.isoformat().replace("+00:00", "Z"),
            content_sha256=content,
            base=base,
            triples=triples,
            quads_per_graph={g: self._graphs[g][1] for g in sorted(self._graphs)},
            summary=summary,
        )
        shutil.rmtree(self._parts)
        write_info(self.path, info)
        builds = self.out / BUILDS
        final = builds / build_id
        self.path.rename(final)
        self._published = True
        replaced = _swap(self.out, final)
        if replaced is not None:
            (replaced / SUPERSEDED).write_text(f"{time.time():.3f}\n", encoding="ascii")
        prune(builds, keep={final.name}, grace=self.grace)
        return Build(final, info)


def load_files(store: ox.Store, directory: Path) -> None:
    """Load a build's ``graph.nq`` and ``union.nt`` into ``store``: every named graph, and the default graph as the
    RDF merge of the named graphs, each triple once, as SPARQL defines a merge (Oxigraph's
    use_default_graph_as_union would answer a triple once per graph that holds it). Blank nodes keep their labels,
    so the default graph and the named graphs share them (``bulk_load`` would give each file fresh ones)."""
    for name, fmt in ((GRAPH_FILE, ox.RdfFormat.N_QUADS), (UNION_FILE, ox.RdfFormat.N_TRIPLES)):
        path = directory / name
        try:
            store.bulk_extend(ox.parse(path=path, format=fmt, rename_blank_nodes=False))
        except (OSError, SyntaxError) as err:  # the engine's message names neither the file nor, for I/O, the path
            raise type(err)(f"{path}: {err}") from err


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


def statistics(store: ox.Store) -> Statistics:
    """VoID figures of the merged (default) graph, counted by the store: entities per class, triples per property,
    distinct subjects and objects, and entities (subjects that are IRIs)."""
    out: dict[str, Any] = {}
    for key, query in _GROUPED.items():
        rows = _solutions(store, query)
        out[key] = dict(sorted((_value(row[0]), int(_value(row[1]))) for row in rows))
    for key, query in _COUNTS.items():
        rows = _solutions(store, query)
        out[key] = int(_value(next(iter(rows))[0]))
    return Statistics(**out)


def _solutions(store: ox.Store, query: str) -> ox.QuerySolutions:
    rows = store.query(query)
    if not isinstance(rows, ox.QuerySolutions):
        raise TypeError(f"not a SELECT query: {query}")
    return rows


def _value(term: object) -> str:
    if not isinstance(term, ox.NamedNode | ox.Literal):
        raise TypeError(f"a statistic is not a value: {term!r}")
    return term.value


def _unique_id(builds: Path, wanted: str) -> str:
    """``wanted``, or ``wanted-2``, ``-3``… where a build of that id exists (two builds of one content in one
    second): a published build is never replaced in place."""
    candidate, n = wanted, 1
    while (builds / candidate).exists():
        n += 1
        candidate = f"{wanted}-{n}"
    return candidate


def _swap(out: Path, target: Path) -> Path | None:
    """Point ``OUT/current`` at ``target`` in one rename, so readers see the old build or the new one; returns
    the build it pointed at before, if any."""
    link = out / CURRENT
    before = link.resolve() if link.is_symlink() and link.exists() else None
    tmp_link = out / f".{CURRENT}-{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(Path(BUILDS) / target.name)
    os.replace(tmp_link, link)
    return before if before != target.resolve() else None


def prune(builds: Path, keep: set[str], grace: float = GRACE) -> list[str]:
    """Remove published builds no one needs: beyond the newest ``KEEP``, not in ``keep``, replaced more than
    ``grace`` seconds ago, and held open by no process (a query worker holds its build's directory for its whole
    life). Returns the names removed."""
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    candidates = [old for old in done[:-KEEP] if old.name not in keep and _replaced_before(old, time.time() - grace)]
    in_use = _held_open([old.resolve() for old in candidates])
    removed = []
    for old in candidates:
        if old.resolve() not in in_use:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
    return removed


def _replaced_before(build: Path, moment: float) -> bool:
    """Whether ``build`` was replaced as current before ``moment`` (a build never marked counts as long ago)."""
    try:
        return float((build / SUPERSEDED).read_text(encoding="ascii")) < moment
    except (OSError, ValueError):
        return True


def _held_open(builds: list[Path]) -> set[Path]:
    """Which of ``builds`` some process holds a file or directory open in, as far as /proc shows (all processes
    for root, one's own otherwise; on systems without /proc, none, and the grace period alone protects them)."""
    if not builds:
        return set()
    prefixes = {str(b): b for b in builds}
    held: set[Path] = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            fds = list(fd_dir.iterdir())
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            held.update(b for prefix, b in prefixes.items() if target == prefix or target.startswith(prefix + os.sep))
    return held
