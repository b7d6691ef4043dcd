"""JSON-LD as makerkg writes it: compacted with one context, the graph's prefixes, which the JSON-LD dump publishes
beside it. The dumps, the graph store, pages and CONSTRUCT answers all write JSON-LD through here.

>>> x, name = ox.NamedNode("https://schema.org/x"), ox.NamedNode("https://schema.org/name")
>>> document(nodes([ox.Triple(x, name, ox.Literal("杭州"))]))["@graph"]
[{'@id': 'https://schema.org/x', 'schema:name': [{'@value': '杭州'}]}]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import pyoxigraph as ox

from makerkg.namespaces import PREFIXES

_BY_LENGTH = sorted(PREFIXES.items(), key=lambda item: -len(item[1]))  # the longest namespace first


def context() -> dict[str, object]:
    """The JSON-LD context makerkg's JSON-LD uses: the graph's prefixes."""
    return {"@context": dict(sorted(PREFIXES.items()))}


def _compact(key: str) -> str:
    for prefix, namespace in _BY_LENGTH:
        if key.startswith(namespace) and len(key) > len(namespace):
            return f"{prefix}:{key[len(namespace) :]}"
    return key


def compact(expanded: bytes) -> list[object]:
    """The nodes of an expanded JSON-LD document (pyoxigraph's) with property names and datatypes shortened to
    prefixed names of ``context()``.

    Hand-written because only keys and ``@type`` values change (@id values stay whole IRIs): a general JSON-LD
    compaction (pyld) does far more work than this needs and is slow on large dumps; a round-trip test checks it.
    """

    def walk(node: object) -> object:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            out: dict[str, object] = {}
            for key, value in node.items():
                if key == "@type" and isinstance(value, str):
                    out[key] = _compact(value)
                elif key == "@type" and isinstance(value, list):
                    out[key] = [_compact(v) if isinstance(v, str) else v for v in value]
                elif key.startswith("@"):
                    out[key] = walk(value)
                else:
                    out[_compact(key)] = walk(value)
            return out
        return node

    nodes = walk(json.loads(expanded or b"[]"))
    if not isinstance(nodes, list):
        raise TypeError("pyoxigraph's JSON-LD is not a list of nodes")
    return nodes


def nodes(statements: Iterable[ox.Triple] | Iterable[ox.Quad]) -> list[object]:
    """Triples (or quads, a named graph's nodes under its ``@id``) as compacted JSON-LD nodes."""
    return compact(ox.serialize(statements, format=ox.RdfFormat.JSON_LD) or b"[]")


def document(found: list[object]) -> dict[str, object]:
    """A JSON-LD document of compacted nodes: the context, and the nodes as its default graph."""
    return {**context(), "@graph": found}


def dumps(value: object) -> bytes:
    """JSON as makerkg writes JSON-LD: UTF-8, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def stream(chunks: Iterator[list[object]]) -> Iterator[bytes]:
    """One JSON-LD document written a chunk of nodes at a time: ``{"@context": …, "@graph": [node, …]}``."""
    yield dumps(context())[:-1] + b',"@graph":['
    first = True
    for chunk in chunks:
        for node in chunk:
            yield (b"" if first else b",") + dumps(node)
            first = False
    yield b"]}"
