"""One graph of a build, read from the build's files and written in any RDF format of the format table a part at a
time: what the graph store (``GET /store?graph=…``, ``?default``) and the named graphs' own IRIs answer.

Whole graphs are read from the files rather than through the query workers: a graph store request asks for the
whole graph, which a row or byte cap would cut, and a file read costs no query worker and is linear in the graph's
size. Memory stays that of one part (``PART_STATEMENTS``) whatever the size of the graph.

Each part is serialised by pyoxigraph; the parts are joined as each format allows: N-Triples and N-Quads line by
line, Turtle and TriG with the prefix lines of the first part only (a TriG graph block may repeat), RDF/XML inside one
``rdf:RDF`` element, JSON-LD as the nodes of one ``@graph``. Blank nodes keep their labels across parts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import pyoxigraph as ox

from makerkg.formats import Format
from makerkg.namespaces import PREFIXES
from makerkg.store import jsonld
from makerkg.store.layout import Build

PART_STATEMENTS = 10_000


def statements(build: Build, graph: str | None) -> Iterator[ox.Quad]:
    """The statements of a named graph (``graph.nq`` holds each graph's lines together, so the reading stops after
    them), or of the default graph (``graph=None``: ``union.nt``, the merge, as quads of the default graph)."""
    if graph is None:
        default = ox.DefaultGraph()
        for triple in ox.parse(path=build.union_file, format=ox.RdfFormat.N_TRIPLES):
            yield ox.Quad(triple.subject, triple.predicate, triple.object, default)
        return
    name = ox.NamedNode(graph)
    seen = False
    for quad in ox.parse(path=build.graph_file, format=ox.RdfFormat.N_QUADS):
        if quad.graph_name == name:
            seen = True
            yield quad
        elif seen:
            return


def serialise(quads: Iterable[ox.Quad], fmt: Format, part: int = PART_STATEMENTS) -> Iterator[bytes]:
    """The statements in ``fmt``, a part at a time: as quads in N-Quads and TriG (a named graph keeps its name), as
    triples in the others; raises KeyError for a format that is not RDF.

    >>> from makerkg.formats import by_name
    >>> name, g = ox.NamedNode("https://schema.org/name"), ox.NamedNode("https://w3id.org/makerkg/graph/x")
    >>> quads = [ox.Quad(ox.NamedNode(f"https://schema.org/{n}"), name, ox.Literal(n), g) for n in "ab"]
    >>> text = b"".join(serialise(quads, by_name("ttl"), part=1)).decode()
    >>> text.count("@prefix schema:"), text.splitlines()[-2:]
    (1, ['schema:a schema:name "a" .', 'schema:b schema:name "b" .'])
    """
    rdf = fmt.rdf
    parts = _parts(iter(quads), part, keep_graph=fmt.quads and rdf != ox.RdfFormat.JSON_LD)
    if rdf == ox.RdfFormat.JSON_LD:
        yield from jsonld.stream(jsonld.nodes(chunk) for chunk in parts)
    elif rdf in (ox.RdfFormat.N_TRIPLES, ox.RdfFormat.N_QUADS):
        for chunk in parts:
            yield ox.serialize(chunk, format=rdf) or b""
    elif rdf in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG):
        first = True
        for chunk in parts:
            text = ox.serialize(chunk, format=rdf, prefixes=PREFIXES) or b""
            yield text if first else _without_prefixes(text)
            first = False
    elif rdf == ox.RdfFormat.RDF_XML:
        empty = ox.serialize([], format=rdf, prefixes=PREFIXES) or b""
        tail = b"</rdf:RDF>"
        head = empty[: empty.rindex(tail)]
        yield head
        for chunk in parts:
            text = ox.serialize(chunk, format=rdf, prefixes=PREFIXES) or b""
            if not (text.startswith(head) and text.rstrip().endswith(tail)):
                raise ValueError("pyoxigraph's RDF/XML does not open and close as an empty document does")
            yield text[len(head) : text.rstrip().rindex(tail)]
        yield empty[len(head) :]
    else:
        raise KeyError(fmt.name)


def _parts(
    quads: Iterator[ox.Quad], size: int, *, keep_graph: bool
) -> Iterator[list[ox.Quad]] | Iterator[list[ox.Triple]]:
    """The statements in lists of ``size``: quads, or their triples."""
    if keep_graph:
        return iter(lambda: list(itertools.islice(quads, size)), [])
    triples = (quad.triple for quad in quads)
    return iter(lambda: list(itertools.islice(triples, size)), [])


def _without_prefixes(text: bytes) -> bytes:
    """A Turtle or TriG part without the prefix lines pyoxigraph writes first (the first part declared them)."""
    while text.startswith(b"@prefix "):
        text = text[text.index(b"\n") + 1 :]
    return text
