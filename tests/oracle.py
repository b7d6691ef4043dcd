"""An oracle for tests: a build's on-disk Oxigraph store, read directly with pyoxigraph, apart from the code under
test (the server answers through its own query runners)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib import Dataset, Graph, URIRef

from makerkg.errors import QuerySyntaxError, StoreMissing

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple


def text(term: Term | None) -> str:
    """A term's lexical value ("" when unbound); a quoted triple in N-Triples syntax.

    >>> text(ox.Literal("杭州市", language="zh")), text(None)
    ('杭州市', '')
    """
    if term is None:
        return ""
    if isinstance(term, ox.Triple):
        return str(term)
    return term.value


@dataclass(frozen=True)
class Result:
    """A query's answer: rows for SELECT, a boolean for ASK, triples for CONSTRUCT and DESCRIBE."""

    kind: str  # select, ask, graph
    variables: tuple[str, ...] = ()
    rows: tuple[tuple[Term | None, ...], ...] = ()
    boolean: bool | None = None
    triples: tuple[ox.Triple, ...] = ()


class Oracle:
    """Queries over a build's Oxigraph store; its default graph holds the merge of all named graphs."""

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise StoreMissing(path, "no store directory")
        try:
            self._store = ox.Store.read_only(str(path))
        except OSError as err:
            raise StoreMissing(path, f"the store cannot be opened ({err})") from err
        self.path = path

    def graphs(self) -> list[str]:
        """The named graphs of the dataset, sorted."""
        return sorted(str(g.value) for g in self._store.named_graphs() if isinstance(g, ox.NamedNode))

    def query(
        self,
        sparql: str,
        *,
        default_graphs: Sequence[str] | None = None,
        named_graphs: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Result:
        """Run a SPARQL query; raises QuerySyntaxError with the parser's message.

        ``default_graphs`` replaces the default graph (the merge of all graphs) by the named graphs given;
        ``limit`` stops reading rows after that many (the caller learns of the cut by getting ``limit + 1`` rows).
        """
        kwargs: dict[str, object] = {}
        if default_graphs:
            kwargs["default_graph"] = [ox.NamedNode(g) for g in default_graphs]
        if named_graphs:
            kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
        try:
            answer = self._store.query(sparql, **kwargs)  # type: ignore[arg-type]
        except SyntaxError as err:
            raise QuerySyntaxError(str(err)) from err
        if isinstance(answer, ox.QueryBoolean):
            return Result("ask", boolean=bool(answer))
        if isinstance(answer, ox.QuerySolutions):
            variables = tuple(v.value for v in answer.variables)
            rows = []
            for solution in answer:
                rows.append(tuple(solution[v] for v in variables))
                if limit is not None and len(rows) > limit:
                    break
            return Result("select", variables=variables, rows=tuple(rows))
        triples = []
        for triple in answer:
            triples.append(triple)
            if limit is not None and len(triples) > limit:
                break
        return Result("graph", triples=tuple(triples))


def graph_of(graph_file: Path, name: str | None) -> Graph:
    """A graph of a build as its N-Quads file holds it, read by rdflib: one named graph, or (None) the merge of them
    all, the default graph."""
    dataset = Dataset()
    dataset.parse(data=graph_file.read_bytes(), format="nquads")
    if name is not None:
        return dataset.graph(URIRef(name))
    merged = Graph()
    for graph in dataset.graphs():
        if graph.identifier != dataset.default_graph.identifier:
            for triple in graph:
                merged.add(triple)
    return merged
