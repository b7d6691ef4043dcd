"""Stage 4: SHACL validation of the graph with pySHACL."""

from __future__ import annotations

from dataclasses import dataclass
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


def union(ds: Dataset) -> Graph:
    """Every triple of every graph of ``ds`` in one graph, as the shapes see the data."""
    g = Graph()
    for s, p, o, _ in ds.quads((None, None, None, None)):
        g.add((s, p, o))
    return g


def check(data: Graph, shapes: Path) -> ValidationReport:
    """Validate ``data`` against the shapes file; the classes the data needs are asserted in it, so no inference."""
    shapes_graph = Graph().parse(shapes, format="turtle")
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
