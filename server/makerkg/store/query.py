"""What every way of running a query shares: the job, its answer, and the interface a query runner implements.

Three runners implement ``QueryRunner``: the pool of sandboxed worker processes the server uses
(``store.pool.QueryPool``), a remote SPARQL store (``store.remote.RemotePool``) and one in-process runner for the
command line (``store.local.LocalRunner``). Callers pass a ``Job``, whose form the pre-check found, and get a
``Reply``; ``select`` gives typed terms for code that reads rows itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyoxigraph as ox

from makerkg.formats import by_name

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
SPARQL_JSON = by_name("json").media_type
DEFAULT_MAX_BYTES = 32 << 20


@dataclass(frozen=True)
class Job:
    """A query to run: its text and form (from the pre-check; None when it has none, which the engine must then
    reject), the media type to answer in, the caps, the protocol's dataset, and how to read names in the text."""

    query: str
    form: str | None
    media_type: str
    max_rows: int
    max_bytes: int = DEFAULT_MAX_BYTES
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    base_iri: str | None = None  # relative IRIs in the query resolve against it
    prefixes: bool = False  # the graph's prefixes are predefined (a query's own PREFIX wins)
    check_only: bool = False  # parse and plan, answer nothing (to tell a syntax error before a format error)


@dataclass(frozen=True)
class Answer:
    """A serialised answer: its bytes (the first part, when ``streamed``), media type, form, and the cap that cut
    it, if any (e.g. ``max_rows=10000``)."""

    body: bytes
    media_type: str
    form: str  # select, ask, graph
    truncated: str | None = None
    streamed: bool = False  # further parts follow


@dataclass
class Reply:
    """An answer and an iterator of its further parts (empty for a whole answer). Iterate the parts to the end, or
    close them, exactly once: a worker stays with the reply until then."""

    answer: Answer
    parts: Iterator[bytes] = field(default_factory=lambda: iter(()))

    def read(self) -> bytes:
        """The whole body."""
        return self.answer.body + b"".join(self.parts)

    def close(self) -> None:
        """Give up the further parts (the worker making them is let go); nothing for a whole answer."""
        close = getattr(self.parts, "close", None)
        if close is not None:
            close()


class QueryRunner(Protocol):
    """Runs jobs; raises QuerySyntaxError, QueryRefused, QueryTimeout, QueryTooLarge, Busy or WorkerLost."""

    def execute(self, job: Job) -> Reply: ...

    def close(self) -> None: ...


def select(runner: QueryRunner, sparql: str, max_rows: int = 10_000, *, whole: bool = False) -> list[dict[str, Term]]:
    """The rows of one of makerkg's own SELECT queries as typed terms (unbound variables left out); ``whole``:
    raises RuntimeError when a cap cut the answer, for a reader that part of it would mislead."""
    return solutions(runner, sparql, max_rows, whole=whole)[1]


def solutions(
    runner: QueryRunner, sparql: str, max_rows: int = 10_000, *, prefixes: bool = False, whole: bool = False
) -> tuple[list[str], list[dict[str, Term]]]:
    """The variables and rows of a SELECT query, as typed terms (unbound variables left out); ``prefixes``: the
    graph's prefixes are predefined, as for a user's query; ``whole``: as for ``select``."""
    reply = runner.execute(Job(sparql, "SELECT", SPARQL_JSON, max_rows, prefixes=prefixes))
    body = reply.read()
    if whole and reply.answer.truncated:
        raise RuntimeError(f"the answer to makerkg's own query was cut ({reply.answer.truncated})")
    document = json.loads(body)
    variables: list[str] = document["head"]["vars"]
    return variables, [{v: term_of(cell) for v, cell in row.items()} for row in document["results"]["bindings"]]


def term_of(cell: dict[str, Any]) -> Term:
    """A term from its SPARQL JSON form, blank nodes keeping their labels (pyoxigraph's results parser gives them
    fresh ones, and one query's blank nodes must match the next one's).

    >>> term_of({"type": "bnode", "value": "b0"})
    <BlankNode value=b0>
    """
    kind = cell["type"]
    if kind == "uri":
        return ox.NamedNode(cell["value"])
    if kind == "bnode":
        return ox.BlankNode(cell["value"])
    if kind == "triple":
        parts = cell["value"]
        subject, predicate, obj = (term_of(parts[k]) for k in ("subject", "predicate", "object"))
        return ox.Triple(subject, predicate, obj)  # type: ignore[arg-type]
    if "xml:lang" in cell:
        return ox.Literal(cell["value"], language=cell["xml:lang"])
    if "datatype" in cell:
        return ox.Literal(cell["value"], datatype=ox.NamedNode(cell["datatype"]))
    return ox.Literal(cell["value"])


def value(row: Mapping[str, Term], name: str) -> str:
    """A variable's lexical value in a row, or "" where it is unbound.

    >>> value({"x": ox.Literal("杭州")}, "x"), value({}, "x")
    ('杭州', '')
    """
    term = row.get(name)
    return "" if term is None else lexical(term)


def lexical(term: Term) -> str:
    """A term's lexical value: an IRI's text, a blank node's label, a literal's lexical form (a quoted triple in
    N-Triples).

    >>> lexical(ox.Literal("1", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")))
    '1'
    """
    return str(term) if isinstance(term, ox.Triple) else term.value


def language(term: Term | None) -> str:
    """A literal's language tag, or "" (a literal without one, an IRI, a blank node, nothing).

    >>> language(ox.Literal("杭州", language="zh")), language(ox.NamedNode("https://w3id.org/makerkg/x"))
    ('zh', '')
    """
    return (term.language or "") if isinstance(term, ox.Literal) else ""
