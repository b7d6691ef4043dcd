"""Stage 4: SHACL validation of the graph, with pySHACL (the reference) or pyshacl-turbo (a Rust engine)."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib import Graph, URIRef
from rdflib.extras.shacl import SHACLPathError, parse_shacl_path
from rdflib.namespace import RDF, SH
from rdflib.term import Node

from makerkg import resources
from makerkg.config import SHACL_ENGINES
from makerkg.errors import UsageError
from makerkg.formats import GRAPH_FORMATS, by_extension
from makerkg.iris import GraphKind, Layout

REFERENCE_ENGINE = SHACL_ENGINES[0]


@dataclass(frozen=True)
class Violation:
    """One validation result: where, on which path, and the shape's message."""

    focus: str
    path: str  # an IRI, or a SPARQL property path (^<iri> for an inverse path)
    component: str  # the constraint component's local name, e.g. MinCountConstraintComponent
    message: str
    severity: str
    value: str

    def __str__(self) -> str:
        path = f" {self.path}" if self.path else ""
        value = f" (value {self.value})" if self.value else ""
        return f"{self.severity}: {self.focus}{path}: {self.message}{value}"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating a graph against the shapes."""

    conforms: bool
    violations: tuple[Violation, ...]

    def text(self) -> str:
        """A readable report: one line per result, sorted."""
        if self.conforms:
            return "conforms"
        return "\n".join(str(v) for v in self.violations)


def check(data: bytes, shapes: Path, engine: str = REFERENCE_ENGINE) -> ValidationReport:
    """Validate ``data`` (N-Triples) against the shapes file with ``engine`` (one of SHACL_ENGINES); the classes the
    data needs are asserted in it, so no inference. Raises UsageError for an unknown engine."""
    if engine == "pyshacl":
        conforms, results = _pyshacl(data, shapes)
    elif engine == "pyshacl-turbo":
        conforms, results = _turbo(data, shapes)
    else:
        raise UsageError("shacl_engine", f"one of {', '.join(SHACL_ENGINES)}, found {engine!r}")
    return ValidationReport(conforms=conforms, violations=violations(results))


def violations(results: Graph) -> tuple[Violation, ...]:
    """The validation results of a SHACL results graph, sorted."""
    found = [
        Violation(
            focus=_text(results.value(result, SH.focusNode)),
            path=_path(results, results.value(result, SH.resultPath)),
            component=_text(results.value(result, SH.sourceConstraintComponent)).rsplit("#", 1)[-1],
            message="\n".join(sorted(str(m) for m in results.objects(result, SH.resultMessage))),
            severity=_text(results.value(result, SH.resultSeverity)).rsplit("#", 1)[-1],
            value=_text(results.value(result, SH.value)),
        )
        for result in results.subjects(RDF.type, SH.ValidationResult)
    ]
    return tuple(sorted(found, key=_order))


def _order(v: Violation) -> tuple[str, ...]:
    return (v.focus, v.path, v.message, v.value, v.component, v.severity)


@lru_cache(maxsize=4)
def _shapes(path: str) -> Graph:
    """The shapes graph, parsed once per process (pySHACL does not change it)."""
    return Graph().parse(path, format="turtle")


def _pyshacl(data: bytes, shapes: Path) -> tuple[bool, Graph]:
    from pyshacl import validate  # only the engine a process uses is imported

    conforms, results, _ = validate(
        Graph().parse(data=data, format="nt"),
        shacl_graph=_shapes(str(shapes)),
        inference="none",
        advanced=False,  # SHACL-SPARQL constraints run without pySHACL's "advanced" features
        allow_warnings=True,
    )
    if not isinstance(results, Graph):
        raise TypeError("pyshacl returned no results graph")
    return bool(conforms), results


@lru_cache(maxsize=4)
def _turbo_shapes(path: str) -> Any:
    """The shapes compiled by pyshacl-turbo, once per process."""
    import pyshacl_turbo

    return pyshacl_turbo.compile_shapes(path, advanced=False)


def _turbo(data: bytes, shapes: Path) -> tuple[bool, Graph]:
    # pyshacl-turbo's public entry points take N-Triples through an rdflib graph and back before its engine sees
    # them, which costs three to five times the validation itself; its Input record hands the text to the engine as
    # it is. A pyoxigraph Store, the other direct way in, is not used: pyshacl-turbo 0.6 reads its plain literals as
    # typed xsd:string and then finds "text/plain" outside sh:in ( "text/plain" ) (docs/scale.md).
    from pyshacl_turbo.rdf import Input

    conforms, results, _ = _turbo_shapes(str(shapes)).validate(
        Input(data.decode("utf-8"), "nt", None, {}), allow_warnings=True
    )
    if not isinstance(results, Graph):
        raise TypeError("pyshacl-turbo returned no results graph")
    return bool(conforms), results


def _text(node: Node | None) -> str:
    return "" if node is None else str(node)


def _path(results: Graph, node: Node | None) -> str:
    """A result's path: its IRI, or a SPARQL property path for a path that is a blank node (whose label is
    arbitrary, so two reports of one path would not compare equal)."""
    if node is None or isinstance(node, URIRef):
        return _text(node)
    try:
        return parse_shacl_path(results, node).n3()
    except SHACLPathError:  # a results graph without the path's own triples
        return "_:path"


def check_ntriples(path: Path, shapes: Path, engine: str = REFERENCE_ENGINE) -> ValidationReport:
    """Validate a graph given as an N-Triples file (what a worker process receives)."""
    return check(path.read_bytes(), shapes, engine)


class Validator:
    """Validates a graph given in chunks, each on its own, with ``engine`` (one of SHACL_ENGINES), in ``workers``
    processes once there are several.

    A chunk is some editions' graphs with the reference data they link to: every shape constrains nodes of one
    edition or of the reference data, so chunks give the same results as the whole graph, in time that grows
    linearly with the size of the graph (SHACL-SPARQL constraints over the whole graph do not). Chunks wait in
    files, so memory holds the ones being validated only; workers start on a chunk as soon as it is added.
    """

    def __init__(self, shapes: Path, workers: int, chunk_triples: int = 20_000, engine: str = REFERENCE_ENGINE) -> None:
        self.shapes = shapes
        self.engine = engine
        self.workers = workers
        self.chunk_triples = chunk_triples
        self.reference = b""  # N-Triples of the reference data, which every chunk of editions carries
        self._pending: list[bytes] = []
        self._pending_triples = 0
        self._directory = tempfile.TemporaryDirectory(prefix="makerkg-validate-")
        self._paths: list[Path] = []
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[ValidationReport]] = []

    def __enter__(self) -> Validator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def chunks(self) -> int:
        return len(self._paths)

    def add(self, *parts: bytes) -> None:
        """A chunk, as pieces of N-Triples (one piece per graph)."""
        path = Path(self._directory.name) / f"{len(self._paths)}.nt"
        with path.open("wb") as handle:
            handle.writelines(parts)
        self._paths.append(path)
        if self._pool is None and len(self._paths) > 1 and self.workers > 1:
            # spawn: the parent may hold threads and large structures a fork would copy
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"))
            self._futures.append(self._pool.submit(check_ntriples, self._paths[0], self.shapes, self.engine))
        if self._pool is not None:
            self._futures.append(self._pool.submit(check_ntriples, path, self.shapes, self.engine))

    def add_edition(self, ntriples: bytes, triples: int) -> None:
        """One edition's graph (N-Triples, ``triples`` of them): chunked with others and the reference data, and
        validated in a worker once the chunk holds ``chunk_triples``, while the caller makes the next ones."""
        self._pending.append(ntriples)
        self._pending_triples += triples
        if self._pending_triples >= self.chunk_triples:
            self.flush()

    def flush(self) -> None:
        """Make a chunk of the editions added since the last one (a chunk of the reference data alone when there
        has been no chunk at all)."""
        if self._pending or not self._paths:
            self.add(self.reference, *self._pending)
        self._pending, self._pending_triples = [], 0

    def report(self) -> ValidationReport:
        """The results of every chunk, merged (the editions still pending make the last); waits for the workers."""
        self.flush()
        if self._pool is None:
            reports = [check_ntriples(path, self.shapes, self.engine) for path in self._paths]
        else:
            reports = [future.result() for future in self._futures]
        violations = sorted({v for r in reports for v in r.violations}, key=_order)
        return ValidationReport(conforms=all(r.conforms for r in reports), violations=tuple(violations))

    def close(self) -> None:
        """Stop the workers (chunks not started are dropped) and remove the chunk files."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._directory.cleanup()


# Edition triples validated together (about twelve editions): every chunk validates the reference data again
# (8k triples at 100k, 27k at 1M: the places the editions use), and past this size an engine's time grows faster
# than linearly with a chunk's; both engines take least time a triple here (docs/scale.md).
CHUNK_TRIPLES = 20_000


def ntriples(triples: list[ox.Triple]) -> bytes:
    return ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""


def validate_file(path: Path, engine: str = REFERENCE_ENGINE) -> ValidationReport:
    """Validate an RDF file (its format named by its extension) against the shapes; raises UsageError for a file
    that is not RDF of that format, naming the line and column."""
    try:
        fmt = by_extension(path.suffix)
    except KeyError as err:
        known = ", ".join(f".{f.extension}" for f in GRAPH_FORMATS)
        raise UsageError("FILE", f"{path}: not a known RDF file extension (known: {known})") from err
    try:
        quads = list(ox.parse(path=path, format=fmt.rdf))
    except SyntaxError as err:
        raise UsageError("FILE", f"{path}: not readable as {fmt.name} ({' '.join(str(err).split())})") from err
    return validate_quads(quads, engine)


def validate_quads(quads: Sequence[ox.Quad], engine: str = REFERENCE_ENGINE) -> ValidationReport:
    """Validate a build's quads against the shapes: the triples of all its graphs together, as the shapes see the
    data."""
    triples = list(dict.fromkeys(q.triple for q in quads))
    return check(ntriples(triples), resources.shapes_file(), engine)


WHOLE_GRAPH_TRIPLES = 50_000  # `makerkg validate` checks a build up to this size whole, a larger one in chunks


def validate_build(
    graph_file: Path, triples: int, base: str, workers: int, engine: str = REFERENCE_ENGINE
) -> ValidationReport:
    """Validate a published build against the shapes: whole when it is small, so the check does not rest on the
    chunking; else in chunks of editions with the reference data, as the build validated it, from ``graph.nq``
    one graph at a time (a whole 1M-triple graph in pySHACL takes gigabytes and hours)."""
    if triples <= WHOLE_GRAPH_TRIPLES:
        return validate_quads(list(ox.parse(path=graph_file, format=ox.RdfFormat.N_QUADS)), engine)
    layout: Layout[str] = Layout(base)

    def graphs() -> Iterator[tuple[GraphKind, list[ox.Triple]]]:
        quads = ox.parse(path=graph_file, format=ox.RdfFormat.N_QUADS)
        for name, group in itertools.groupby(quads, key=lambda q: q.graph_name):
            yield layout.graph_kind(str(name)[1:-1]), [q.triple for q in group]

    # the reference graph sorts after the editions in graph.nq: one pass for it, one for the editions
    reference = next((ntriples(t) for kind, t in graphs() if kind is GraphKind.REFERENCE), b"")
    with Validator(resources.shapes_file(), workers, CHUNK_TRIPLES, engine) as validator:
        validator.reference = reference
        for kind, found in graphs():
            if kind is GraphKind.EDITION:
                validator.add_edition(ntriples(found), len(found))
        return validator.report()
