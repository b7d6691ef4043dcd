"""rdflib graphs (how the graph stage builds the graph) as Oxigraph triples (how the store holds and serialises it).

Not imported by ``makerkg.store`` itself: query workers import that package, and start faster without rdflib.
"""

from __future__ import annotations

import pyoxigraph as ox
from rdflib import BNode, Graph, URIRef
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


def triples_of(graph: Graph) -> list[ox.Triple]:
    """An rdflib graph's triples as Oxigraph triples."""
    out = []
    for s, p, o in graph:
        subject, predicate, obj = term(s), term(p), term(o)
        if not isinstance(predicate, ox.NamedNode) or isinstance(subject, ox.Literal):
            raise TypeError(f"not an RDF triple: {s!r} {p!r} {o!r}")
        out.append(ox.Triple(subject, predicate, obj))
    return out
