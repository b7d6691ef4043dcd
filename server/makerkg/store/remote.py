"""A remote SPARQL 1.1 server instead of the embedded store: queries over the Protocol, loading over the Graph
Store HTTP Protocol. For data that outgrows one machine (Virtuoso, Apache Jena Fuseki, QLever, GraphDB, Oxigraph).

The web layer's pre-check runs before a query is sent (read-only, no SERVICE), so makerkg's only outbound requests
are to the one store the operator configured (which must not itself dereference FROM IRIs). Answers are parsed and
re-serialised here, so the caps, the media types and the cut-off notice are the same as with the embedded store.
"""

from __future__ import annotations

import itertools
import logging
import urllib.error
import urllib.parse
import urllib.request

import pyoxigraph as ox

from makerkg.errors import MakerkgError, QuerySyntaxError, QueryTimeout, UsageError
from makerkg.store.execute import answers, output
from makerkg.store.layout import Build
from makerkg.store.query import Answer, Job, Reply

log = logging.getLogger(__name__)


class StoreUnavailable(MakerkgError):
    """The remote store did not answer, or answered with an error of its own."""

    def __init__(self, url: str, why: str) -> None:
        self.url = url
        self.why = why
        super().__init__(f"the SPARQL store at {url} {why}")


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


class RemotePool:
    """Runs jobs on a remote SPARQL endpoint, with the same interface as the embedded QueryPool."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = _check_url("store", url)
        self.timeout = timeout

    def execute(self, job: Job) -> Reply:
        """Run ``job`` remotely; raises QueryTimeout, QuerySyntaxError or StoreUnavailable."""
        select = job.form in ("SELECT", "ASK")
        accept = "application/sparql-results+json" if select else "application/n-triples"
        fields: list[tuple[str, str]] = [("query", job.query)]
        fields += [("default-graph-uri", g) for g in job.default_graphs]
        fields += [("named-graph-uri", g) for g in job.named_graphs]
        request = urllib.request.Request(  # noqa: S310 - the operator's http(s) URL, checked in __init__
            self.url,
            data=urllib.parse.urlencode(fields).encode(),
            method="POST",
            headers={"Accept": accept, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - operator's URL
                body = response.read()
                content_type = response.headers.get_content_type()
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
        result: ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]
        if content_type in ("application/sparql-results+json", "application/json"):
            result = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
        else:
            result = list(ox.parse(body, format=ox.RdfFormat.N_TRIPLES))
        messages = answers(output(result, job))  # type: ignore[arg-type]
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


def load(build: Build, graphs_url: str, timeout: float = 600.0) -> dict[str, int]:
    """Replace the store's content with the build: each named graph, and the default graph as their merge (PUT with
    the Graph Store HTTP Protocol). Returns the triples sent per graph."""
    _check_url("store_graphs", graphs_url)
    sent = {}
    # graph.nq holds each graph's quads together: one graph in memory at a time
    for graph, quads in itertools.groupby(
        ox.parse(path=build.graph_file, format=ox.RdfFormat.N_QUADS), key=lambda q: q.graph_name
    ):
        triples = [ox.Triple(q.subject, q.predicate, q.object) for q in quads]
        name = str(graph)[1:-1]
        _put(graphs_url, {"graph": name}, triples, timeout)
        sent[name] = len(triples)
    _put(graphs_url, {"default": ""}, build.union_file.read_bytes(), timeout)
    sent["(default graph: the merge)"] = build.info.triples
    return sent


def _put(url: str, params: dict[str, str], triples: list[ox.Triple] | bytes, timeout: float) -> None:
    """PUT a graph, given as triples or as N-Triples."""
    data = triples if isinstance(triples, bytes) else ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""
    target = f"{url}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(  # noqa: S310 - the operator's http(s) URL, checked by load()
        target, data=data, method="PUT", headers={"Content-Type": "application/n-triples"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator's URL
            response.read()
    except urllib.error.HTTPError as err:
        raise StoreUnavailable(
            url, f"refused the graph ({err.code}: {err.read(300).decode('utf-8', 'replace')})"
        ) from err
    except urllib.error.URLError as err:
        raise StoreUnavailable(url, f"cannot be reached ({err.reason})") from err
