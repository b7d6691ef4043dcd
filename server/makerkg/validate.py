"""Stage 4: SHACL validation of the graph with pySHACL."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from pyshacl import validate
from rdflib import Dataset, Graph
from rdflib.namespace import SH
from rdflib.term import Node


@dataclass(frozen=True)
class Violation:
    """One validation result: where, on which path, and the shape's message."""

    focus: str
    path: str
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


@lru_cache(maxsize=4)
def _shapes(path: str) -> Graph:
    """The shapes graph, parsed once per process (pyshacl does not change it)."""
    return Graph().parse(path, format="turtle")


def union(ds: Dataset) -> Graph:
    """Every triple of every graph of ``ds`` in one graph, as the shapes see the data."""
    g = Graph()
    for s, p, o, _ in ds.quads((None, None, None, None)):
        g.add((s, p, o))
    return g


def check(data: Graph, shapes: Path) -> ValidationReport:
    """Validate ``data`` against the shapes file; the classes the data needs are asserted in it, so no inference."""
    shapes_graph = _shapes(str(shapes))
    conforms, results, _ = validate(
        data,
        shacl_graph=shapes_graph,
        inference="none",
        advanced=False,  # SHACL-SPARQL constraints run without pySHACL's "advanced" features
        allow_warnings=True,
    )
    if not isinstance(results, Graph):
        raise TypeError("pyshacl returned no results graph")
    violations = []
    for result in results.subjects(predicate=SH.focusNode):
        violations.append(
            Violation(
                focus=_text(results.value(result, SH.focusNode)),
                path=_text(results.value(result, SH.resultPath)),
                message=_text(results.value(result, SH.resultMessage)),
                severity=_text(results.value(result, SH.resultSeverity)).rsplit("#", 1)[-1],
                value=_text(results.value(result, SH.value)),
            )
        )
    violations.sort(key=lambda v: (v.focus, v.path, v.message, v.value))
    return ValidationReport(conforms=bool(conforms), violations=tuple(violations))


def _text(node: Node | None) -> str:
    return "" if node is None else str(node)


def check_ntriples(data: bytes, shapes: Path) -> ValidationReport:
    """Validate a graph given as N-Triples (what a worker process receives)."""
    return check(Graph().parse(data=data, format="nt"), shapes)


def check_chunks(chunks: Sequence[bytes], shapes: Path, workers: int) -> ValidationReport:
    """Validate each chunk (N-Triples) on its own, in ``workers`` processes when there are several chunks.

    A chunk is some editions' graphs with the reference data they link to: every shape constrains nodes of one
    edition or of the reference data, so chunks give the same results as the whole graph, in time that grows
    linearly with the size of the graph (SHACL-SPARQL constraints over the whole graph do not).
    """
    if len(chunks) <= 1 or workers <= 1:
        reports = [check_ntriples(chunk, shapes) for chunk in chunks]
    else:
        # spawn: the parent may hold threads and large structures a fork would copy
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            reports = list(pool.map(check_ntriples, chunks, [shapes] * len(chunks)))
    violations = sorted({v for r in reports for v in r.violations}, key=lambda v: (v.focus, v.path, v.message, v.value))
    return ValidationReport(conforms=all(r.conforms for r in reports), violations=tuple(violations))
