"""rdflib graphs (how the graph stage builds the graph) as Oxigraph triples (how the store holds and serialises it).

Not imported by ``makerkg.store`` itself: query workers import that package, and start faster without rdflib.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyoxigraph as ox
from rdflib import BNode, URIRef
from rdflib import Literal as RdfLiteral
from rdflib.term import Node


def term(node: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    """An rdflib term as an Oxigraph term."""
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


def triples_of(graph: Iterable[tuple[Node, Node, Node]]) -> list[ox.Triple]:
    """An rdflib graph's triples (or any triples of rdflib terms) as Oxigraph triples."""
    out = []
    iris: dict[URIRef, ox.NamedNode] = {}  # the same IRIs recur (predicates and classes in most triples)

    def convert(node: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
        if type(node) is URIRef:
            found = iris.get(node)
            if found is None:
                found = iris[node] = ox.NamedNode(str(node))
            return found
        return term(node)

    for s, p, o in graph:
        subject, predicate, obj = convert(s), convert(p), convert(o)
        if not isinstance(predicate, ox.NamedNode) or isinstance(subject, ox.Literal):
            raise TypeError(f"not an RDF triple: {s!r} {p!r} {o!r}")
        out.append(ox.Triple(subject, predicate, obj))
    return out
