"""Query checks made before any engine sees a query: parse once, then refuse what would reach outside the dataset.

rdflib fetches ``FROM`` IRIs from the web by default and pyoxigraph makes ``SERVICE`` calls itself, so both are
refused here. rdflib's SPARQL parser only parses: nothing here executes a query.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from pyparsing import ParseBaseException, ParseResults
from rdflib.plugins.sparql.algebra import translatePrologue
from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.plugins.sparql.sparql import Prologue
from rdflib.term import URIRef, Variable

from makerkg.errors import QueryRefused, QuerySyntaxError
from makerkg.sparql.protocol import READ_ONLY

FORMS = {"SelectQuery": "SELECT", "AskQuery": "ASK", "ConstructQuery": "CONSTRUCT", "DescribeQuery": "DESCRIBE"}
ONLY_DATASET = "only the dataset's graphs may be named"
# Longer texts are parsed on every call, so that the cache stays small (1024 entries of at most this many characters).
CACHED_CHARS = 16_384
# pyparsing is not thread-safe (pyparsing issue #89): when two threads first run a parse action at once, its arity
# can be fixed wrongly for good, and from then on every parse in the process fails. So: one parse at a time.
_PARSING = threading.Lock()


@dataclass(frozen=True)
class CheckedQuery:
    """A query that parsed, with its form and the graphs its dataset clause names."""

    text: str
    form: str  # "SELECT", "ASK", "CONSTRUCT", "DESCRIBE"
    from_graphs: tuple[str, ...]  # FROM IRIs
    from_named: tuple[str, ...]  # FROM NAMED IRIs


@dataclass(frozen=True)
class _Outcome:
    """What the text alone says about a query: cached, so it holds no exception objects and no dataset."""

    form: str = ""
    from_graphs: tuple[str, ...] = ()
    from_named: tuple[str, ...] = ()
    refused: str | None = None  # a QueryRefused reason
    syntax_error: str | None = None  # a QuerySyntaxError message


def check_query(text: str, dataset_graphs: Collection[str]) -> CheckedQuery:
    """Parse and check a query; raises QuerySyntaxError, or QueryRefused for an update, SERVICE or an outside graph."""
    outcome = _examine_cached(text) if len(text) <= CACHED_CHARS else _examine(text)
    if outcome.syntax_error is not None:
        raise QuerySyntaxError(outcome.syntax_error)
    if outcome.refused is not None:
        raise QueryRefused(outcome.refused)
    refuse_outside("FROM", outcome.from_graphs, dataset_graphs)
    refuse_outside("FROM NAMED", outcome.from_named, dataset_graphs)
    return CheckedQuery(text, outcome.form, outcome.from_graphs, outcome.from_named)


def refuse_outside(clause: str, iris: Iterable[str], dataset_graphs: Collection[str]) -> None:
    """Raise QueryRefused for the first IRI that is not a graph of the dataset (also for protocol graph parameters).

    >>> refuse_outside("FROM", ["http://example.org/g"], {"http://example.org/g"})
    """
    for iri in iris:
        if iri not in dataset_graphs:
            raise QueryRefused(f"{clause} <{iri}> is not a graph of this dataset: {ONLY_DATASET}")


def _examine(text: str) -> _Outcome:
    """Parse a query once and say what its text alone allows: its form and graphs, or why it is refused."""
    try:
        with _PARSING:
            tree = parseQuery(text)
    except ParseBaseException as err:
        return _Outcome(refused=READ_ONLY) if _is_update(text) else _Outcome(syntax_error=syntax_message(err))
    except RecursionError:  # pyparsing recurses once per nesting level of the query
        return _Outcome(syntax_error="SPARQL syntax error: the query is nested too deeply to parse")
    except ValueError as err:  # rdflib's expansion of \u and \U escapes, before parsing
        return _Outcome(syntax_error=f"SPARQL syntax error: {err}")
    service = _first_service(tree)
    if service is not None:
        return _Outcome(refused=f"SERVICE {_term_text(service)} is refused: this endpoint queries only its own dataset")
    query: CompValue = tree[1]
    from_graphs: list[str] = []
    from_named: list[str] = []
    prologue: Prologue | None = None
    for clause in dict.get(query, "datasetClause") or ():
        named = "named" in clause
        iri = dict.get(clause, "named" if named else "default")
        if isinstance(iri, CompValue) or (isinstance(iri, URIRef) and ":" not in iri):  # a prefixed or relative IRI
            prologue = prologue or translatePrologue(tree[0], None)
            prefix = dict.get(iri, "prefix") if isinstance(iri, CompValue) else None
            if isinstance(iri, CompValue) and prologue.namespace_manager.store.namespace(prefix or "") is None:
                return _Outcome(syntax_error=f"SPARQL syntax error: unknown prefix {prefix or ''}: in FROM")
            iri = prologue.absolutize(iri)
        (from_named if named else from_graphs).append(str(iri))
    return _Outcome(FORMS[query.name], tuple(from_graphs), tuple(from_named))


# Module-level by necessity: the cache is shared by every request a process serves; it holds only parse outcomes.
_examine_cached = functools.lru_cache(maxsize=1024)(_examine)


def _is_update(text: str) -> bool:
    """Whether the text is a SPARQL Update with at least one operation (an empty update is valid syntax too)."""
    try:
        with _PARSING:
            return "request" in parseUpdate(text)
    except (ParseBaseException, RecursionError, ValueError):
        return False


def _first_service(tree: object) -> CompValue | None:
    """The first SERVICE pattern anywhere in an rdflib parse tree, however deeply nested, or None."""
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, CompValue):
            if node.name == "ServiceGraphPattern":
                return node
            children = list(dict.values(node))  # dict's own view: CompValue's accessors would resolve variables
        elif isinstance(node, ParseResults | list | tuple):
            children = list(node)
        else:
            continue
        stack.extend(reversed(children))
    return None


def _term_text(service: CompValue) -> str:
    """The endpoint of a SERVICE pattern as written: <iri>, prefix:name or ?var."""
    term = dict.get(service, "term")
    if isinstance(term, Variable):
        return f"?{term}"
    if isinstance(term, CompValue):
        return f"{dict.get(term, 'prefix') or ''}:{dict.get(term, 'localname') or ''}"
    return f"<{term}>"


def syntax_message(err: ParseBaseException) -> str:
    """A parser error as one line: the parser's message, what it found, and the line and column.

    >>> from pyparsing import ParseException
    >>> syntax_message(ParseException("ASK {}\\nLIMIT x", 7, "Expected end of text"))
    "SPARQL syntax error at line 2, column 1: Expected end of text, found 'LIMIT'"
    """
    if err.loc >= len(err.pstr):
        found = "end of text"
    else:
        word = re.match(r"\w{1,30}|\S", err.pstr[err.loc :])
        found = repr(word[0]) if word else repr(err.pstr[err.loc])
    return f"SPARQL syntax error at line {err.lineno}, column {err.col}: {err.msg}, found {found}"
