"""A remote SPARQL 1.1 server instead of the embedded store: queries over the Protocol, loading over the Graph
Store HTTP Protocol. For data that outgrows one machine (Virtuoso, Apache Jena Fuseki, QLever, GraphDB, Oxigraph).

The web layer's pre-check runs before a query is sent (read-only, no SERVICE), so makerkg's only outbound requests
are to the one store the operator configured (which must not itself dereference FROM IRIs). A text without a query
form after its prologue is not sent: a store's own extensions there (Virtuoso's ``define get:soft``, which asks its
sponger to fetch) never reach it. Answers are parsed and re-serialised here, so the caps, the media types and the
cut-off notice are the same as with the embedded store.

The store is told what the embedded engine is given beside the text: the build's base IRI (a ``BASE`` where the
query sets none) and the predefined prefixes (a ``PREFIX`` for each the query does not declare), inserted on the
lines the query already has, so that the store's line numbers stay the query's. A store whose default graph is not
the dataset's (Virtuoso's is the union of every graph it holds, its own system graphs too) gets the merge of the
named graphs in a graph of its own (``store_default_graph``), and a query that names no dataset is sent with that
graph as its default graph and, when it has a GRAPH pattern, the build's graphs as its named graphs.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from makerkg.errors import QuerySyntaxError, QueryTimeout, StoreUnavailable, UsageError
from makerkg.formats import Kind, by_media_type
from makerkg.namespaces import PREFIXES
from makerkg.sparql.precheck import Outline, outline
from makerkg.store.execute import answers, output
from makerkg.store.layout import Build
from makerkg.store.query import Answer, Job, Reply

log = logging.getLogger(__name__)

NOT_A_QUERY = (
    "not a SPARQL query: SELECT, ASK, CONSTRUCT or DESCRIBE is expected after the BASE and PREFIX declarations "
    "(a store's own extensions are not passed on)"
)
STORE_CUT = "X-SPARQL-MaxRows"  # Virtuoso's header on an answer it cut at its ResultSetMaxRows
PROBE_GRAPH = "urn:makerkg:no-such-graph"  # asked for once before loading, to meet the store's authentication


def _check_url(parameter: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(parameter, f"an http(s) URL is needed, found {url!r}")
    return url


def graph_store_url(query_url: str) -> str:
    """The Graph Store endpoint beside a query endpoint, as Oxigraph and Fuseki lay them out.

    >>> graph_store_url("http://127.0.0.1:7878/query"), graph_store_url("http://h/ds/sparql")
    ('http://127.0.0.1:7878/store', 'http://h/ds/data')
    """
    if query_url.endswith("/query"):
        return query_url[: -len("query")] + "store"
    if query_url.endswith("/sparql"):
        return query_url[: -len("sparql")] + "data"
    raise UsageError("store_graphs", f"cannot guess the Graph Store endpoint of {query_url}; set store_graphs")


def remote_text(job: Job, read: Outline) -> str:
    """The query as the store is sent it: the build's base where the query sets none, and a PREFIX for each
    predefined prefix it does not declare, after its own declarations (Virtuoso takes BASE first only), on the
    lines the query already has.

    >>> job = Job("PREFIX ex: <urn:x#>\\nASK { ?s ex:p ?o }", "ASK", "", 1, base_iri="https://b/", prefixes=True)
    >>> remote_text(job, outline(job.query)).startswith("BASE <https://b/> PREFIX ex: <urn:x#>\\nPREFIX mkg: <")
    True
    """
    text = job.query
    declared = ""
    if job.prefixes:
        declared = "".join(f"PREFIX {n}: <{iri}> " for n, iri in PREFIXES.items() if f"{n}:" not in read.prefixes)
    base = f"BASE <{job.base_iri}> " if job.base_iri and not read.base else ""
    return base + text[: read.body] + declared + text[read.body :]


class RemotePool:
    """Runs jobs on a remote SPARQL endpoint, with the same interface as the embedded QueryPool.

    ``graphs`` are the build's named graphs and ``default_graph`` the store's graph holding their merge, for a store
    whose own default graph is something else (None: the store's default graph is the merge)."""

    def __init__(self, url: str, timeout: float, graphs: Iterable[str] = (), default_graph: str | None = None) -> None:
        self.url = _check_url("store", url)
        self.timeout = timeout
        self.graphs = tuple(sorted(graphs))
        self.default_graph = default_graph

    def dataset(self, job: Job, read: Outline) -> list[tuple[str, str]]:
        """The protocol's dataset parameters to send: the request's own, and, for a store whose default graph is
        not the merge, the parts of the dataset that neither the request nor the query names, as the embedded
        engine reads them (the merge as the default graph; the build's graphs as the named graphs)."""
        default, named = list(job.default_graphs), list(job.named_graphs)
        if self.default_graph is not None and not (read.from_default or read.from_named):
            default = default or [self.default_graph]
            if read.graph:  # only a GRAPH pattern reads the named graphs: the others are spared the list
                named = named or list(self.graphs)
        return [("default-graph-uri", g) for g in default] + [("named-graph-uri", g) for g in named]

    def execute(self, job: Job) -> Reply:
        """Run ``job`` remotely; raises QueryTimeout, QuerySyntaxError or StoreUnavailable."""
        if job.form is None:
            raise QuerySyntaxError(NOT_A_QUERY)
        read = outline(job.query)
        select = job.form in ("SELECT", "ASK")
        accept = "application/sparql-results+json" if select else "application/n-triples"
        fields = [("query", remote_text(job, read)), *self.dataset(job, read)]
        request = urllib.request.Request(  # noqa: S310 - the operator's http(s) URL, checked in __init__
            self.url,
            data=urllib.parse.urlencode(fields).encode(),
            method="POST",
            headers={"Accept": accept, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - operator's URL
                body = response.read()
                headers: Message = response.headers
        except TimeoutError as err:
            raise QueryTimeout(self.timeout) from err
        except urllib.error.HTTPError as err:
            message = err.read(2000).decode("utf-8", "replace").strip()
            if err.code == 400:
                raise QuerySyntaxError(f"the store says: {message}") from err
            raise StoreUnavailable(self.url, f"answered {err.code}: {message[:300]}") from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise QueryTimeout(self.timeout) from err
            raise StoreUnavailable(self.url, f"cannot be reached ({err.reason})") from err
        content_type = headers.get_content_type()
        result: ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]
        try:
            if select:
                result = parse_results(body, content_type)
            else:
                result = list(ox.parse(body, format=by_media_type(content_type, [Kind.GRAPH]).rdf))
        except (KeyError, ValueError, SyntaxError) as err:
            raise StoreUnavailable(self.url, f"answered what cannot be read as {content_type} ({err})") from err
        cut = headers.get(STORE_CUT)
        messages = answers(output(result, job, f"store_max_rows={cut}" if cut else None))  # type: ignore[arg-type]
        first = next(messages)
        assert isinstance(first, Answer)  # noqa: S101 - answers() begins with one
        rest = b"".join(m for m in messages if isinstance(m, bytes))
        return Reply(Answer(first.body + rest, first.media_type, first.form, first.truncated))

    def ready(self) -> RemotePool:
        """Nothing to wait for: the store is its operator's, and answers or not at each request."""
        return self

    def pids(self) -> list[int]:
        return []

    def close(self) -> None:
        """Nothing to stop: the store belongs to its operator."""


XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"


def parse_results(body: bytes, content_type: str) -> ox.QuerySolutions | ox.QueryBoolean:
    """A store's SELECT or ASK answer; raises ValueError or SyntaxError. A blank node label that is not one in
    SPARQL's syntax (Virtuoso's ``nodeID://b10000``) is replaced by one that is, the same for the same label, and
    a boolean written ``1`` or ``0`` (as Virtuoso's JSON writes every one) by its canonical form, as the embedded
    engine writes it."""
    fmt = ox.QueryResultsFormat.from_media_type(content_type)
    if fmt == ox.QueryResultsFormat.JSON and (b'"bnode"' in body or XSD_BOOLEAN.encode() in body):
        document = json.loads(body)
        for row in document.get("results", {}).get("bindings", []):
            for cell in row.values():
                _tidy(cell)
        body = json.dumps(document).encode()
    return ox.parse_query_results(body, format=fmt)


def _tidy(cell: dict[str, Any]) -> None:
    """Give a blank node cell (or the blank nodes of a quoted triple's cells) labels in SPARQL's syntax, and a
    boolean cell its canonical form (the same value).

    >>> cell = {"type": "bnode", "value": "nodeID://b1"}; _tidy(cell); cell["value"]
    'x6e6f646549443a2f2f6231'
    >>> cell = {"type": "typed-literal", "datatype": XSD_BOOLEAN, "value": "0"}; _tidy(cell); cell["value"]
    'false'
    """
    if cell.get("type") == "bnode":
        try:
            ox.BlankNode(cell["value"])
        except ValueError:
            cell["value"] = "x" + cell["value"].encode().hex()
    elif cell.get("type") == "triple":
        for part in cell["value"].values():
            _tidy(part)
    elif cell.get("datatype") == XSD_BOOLEAN:
        cell["value"] = {"1": "true", "0": "false"}.get(cell["value"], cell["value"])


PART_TRIPLES = 50_000  # triples a Graph Store request carries (Virtuoso keeps only part of a PUT of 1M triples)
COUNTS = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
DEFAULT_COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def load(
    build: Build,
    graphs_url: str,
    query_url: str,
    default_graph: str | None = None,
    user: str | None = None,
    password: str | None = None,
    timeout: float = 600.0,
    part_triples: int = PART_TRIPLES,
) -> dict[str, int]:
    """Replace the store's content with the build: each named graph, and the default graph as their merge (Graph Store
    HTTP Protocol), into the store's default graph or into ``default_graph``; then check, through ``query_url``, that
    the store holds each graph's triples. Returns the triples sent per graph; raises StoreUnavailable (also when the
    store holds other counts than the build's), or UsageError for a ``default_graph`` that is a graph of the build.

    A graph goes in parts of ``part_triples`` triples, a PUT and then POSTs (which add to it): Virtuoso 7.2
    answered a PUT of the 1M-triple build's merge with 500, or with 201, keeping 68 or 84 % of it; in parts it keeps
    every triple. With ``user``, the store's authentication (Basic or Digest, as it asks) is met once, by asking for
    a graph it does not hold, before any graph is sent: a store asking for Digest answers a PUT without it before
    reading the body (Virtuoso closes the connection), and requests' Digest sends the header with every later request
    once it has the store's challenge."""
    _check_url("store_graphs", graphs_url)
    if default_graph in build.info.quads_per_graph:
        raise UsageError("store_default_graph", f"{default_graph} is a graph of the build; name a graph of its own")
    sent = {}
    with requests.Session() as session:
        if user is not None:
            session.auth = _authentication(session, graphs_url, user, password or "", timeout)
            _send(session, "GET", graphs_url, {"graph": PROBE_GRAPH}, None, timeout, accept=(404,))
        # graph.nq holds each graph's quads together: one graph in memory at a time
        for graph, quads in itertools.groupby(
            ox.parse(path=build.graph_file, format=ox.RdfFormat.N_QUADS), key=lambda q: q.graph_name
        ):
            # a triple's str() is its N-Triples form, escaped by pyoxigraph
            lines = [f"{ox.Triple(q.subject, q.predicate, q.object)} .\n".encode() for q in quads]
            name = str(graph)[1:-1]
            sent[name] = _put_in_parts(
                session, graphs_url, {"graph": name}, functools.partial(iter, lines), part_triples, timeout
            )
        target = {"default": ""} if default_graph is None else {"graph": default_graph}
        merged = _put_in_parts(session, graphs_url, target, lambda: _lines(build.union_file), part_triples, timeout)
    sent[f"{default_graph} (the merge)" if default_graph else "(default graph: the merge)"] = merged
    _check_counts(query_url, build, default_graph, timeout)
    return sent


def _put_in_parts(
    session: requests.Session,
    url: str,
    params: dict[str, str],
    lines: Callable[[], Iterator[bytes]],
    size: int,
    timeout: float,
) -> int:
    """Replace a graph with N-Triples lines (``lines()`` gives them, each time from the start): a PUT, then POSTs
    (which add), of ``size`` lines each. Every line that may name a blank node (it holds ``_:``) goes in the PUT, so
    that the store reads each blank node's lines as one document: a blank node is one within a request only.
    Returns the triples sent."""
    blank = [line for line in lines() if b"_:" in line]
    rest = (line for line in lines() if b"_:" not in line)
    part = blank + list(itertools.islice(rest, max(size - len(blank), 1)))
    method, count = "PUT", 0
    while part or method == "PUT":
        _send(session, method, url, params, b"".join(part), timeout)
        method, count = "POST", count + len(part)
        part = list(itertools.islice(rest, size))
    return count


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        yield from file


def _check_counts(query_url: str, build: Build, default_graph: str | None, timeout: float) -> None:
    """Raise StoreUnavailable unless the store holds as many triples in each graph as the build (and the merge)."""
    expected = dict(build.info.quads_per_graph)
    found = {row["g"]: int(row["n"]) for row in _select(query_url, COUNTS, timeout)}
    if default_graph is None:
        found[""] = int(_select(query_url, DEFAULT_COUNT, timeout)[0]["n"])
    expected[default_graph or ""] = build.info.triples
    for graph, count in expected.items():
        if found.get(graph, 0) != count:
            name = graph or "the default graph"
            raise StoreUnavailable(
                query_url, f"holds {found.get(graph, 0)} triples in {name} after loading, where the build has {count}"
            )


def _select(url: str, query: str, timeout: float) -> list[dict[str, str]]:
    """The rows of a SELECT query, as the values of their cells (no authentication: the query endpoint's)."""
    try:
        response = requests.post(
            url, data={"query": query}, headers={"Accept": "application/sparql-results+json"}, timeout=timeout
        )
        response.raise_for_status()
        rows = response.json()["results"]["bindings"]
    except (requests.RequestException, ValueError, KeyError) as err:
        raise StoreUnavailable(url, f"did not answer the count of the graphs loaded ({err})") from err
    return [{name: cell["value"] for name, cell in row.items()} for row in rows]


def _authentication(session: requests.Session, url: str, user: str, password: str, timeout: float) -> AuthBase:
    """Basic or Digest authentication, whichever the store's challenge names (Basic when it asks for none)."""
    response = _send(session, "GET", url, {"graph": PROBE_GRAPH}, None, timeout, accept=(401, 404))
    challenge = response.headers.get("WWW-Authenticate", "")
    if challenge.lower().startswith("digest"):
        return HTTPDigestAuth(user, password)
    return HTTPBasicAuth(user, password)


def _send(
    session: requests.Session,
    method: str,
    url: str,
    params: dict[str, str],
    data: bytes | None,
    timeout: float,
    accept: tuple[int, ...] = (),
) -> requests.Response:
    """One Graph Store request; a status below 300 or in ``accept`` is an answer, any other raises
    StoreUnavailable."""
    headers = {"Content-Type": "application/n-triples"} if data is not None else {}
    try:
        response = session.request(method, url, params=params, data=data, headers=headers, timeout=timeout)
    except requests.RequestException as err:
        raise StoreUnavailable(url, f"cannot be reached ({err})") from err
    if response.status_code >= 300 and response.status_code not in accept:
        why = "refused the credentials" if response.status_code in (401, 403) else "refused the graph"
        raise StoreUnavailable(url, f"{why} ({response.status_code}: {response.text[:300].strip()})")
    return response
