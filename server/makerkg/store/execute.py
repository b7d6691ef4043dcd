"""Run one query on an Oxigraph store and serialise its answer in the requested media type, rows capped."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pyoxigraph as ox

from makerkg.namespaces import PREFIXES
from makerkg.sparql.results import ROW_WRITERS, SELECT_TYPES, Row, boolean_text
from makerkg.store.embedded import text
from makerkg.store.pool import Answer, Job

RDF_TYPES = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}
TRUNCATED = "urn:makerkg:result-truncated"  # the link a cut SPARQL JSON or XML result carries in its head
ROWS_JSON = "application/json"  # the named-query API's rows: {"columns": [...], "rows": [{...}], "truncated": …}


def run(store: ox.Store, job: Job) -> Answer:
    """Evaluate ``job`` on ``store``; raises SyntaxError for a query the engine rejects."""
    kwargs: dict[str, object] = {}
    if job.default_graphs:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in job.default_graphs]
    if job.named_graphs:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in job.named_graphs]
    return answer(store.query(job.query, **kwargs), job)  # type: ignore[arg-type]


def answer(result: ox.QueryBoolean | ox.QuerySolutions | ox.QueryTriples | list[ox.Triple], job: Job) -> Answer:
    """Serialise a query's result (local, or parsed from a remote store's answer) in the job's media type."""
    if isinstance(result, ox.QueryBoolean):
        kind = SELECT_TYPES.get(job.media_type, "json")
        return Answer(boolean_text(bool(result), kind).encode("utf-8"), job.media_type, False, "ask")
    if isinstance(result, ox.QuerySolutions):
        variables = [v.value for v in result.variables]
        rows: list[Row] = [tuple(s[v] for v in variables) for s in itertools.islice(result, job.max_rows + 1)]
        truncated = len(rows) > job.max_rows
        rows = rows[: job.max_rows]
        if job.media_type == ROWS_JSON:
            document = {
                "columns": variables,
                "rows": [{v: text(t) for v, t in zip(variables, row, strict=True)} for row in rows],
                "truncated": truncated,
            }
            return Answer(json.dumps(document, ensure_ascii=False).encode("utf-8"), ROWS_JSON, truncated, "select")
        kind = SELECT_TYPES.get(job.media_type, "json")
        body = "".join(_rows(kind, variables, rows, truncated)).encode("utf-8")
        return Answer(body, job.media_type, truncated, "select")
    triples = list(itertools.islice(result, job.max_rows + 1))
    truncated = len(triples) > job.max_rows
    fmt = RDF_TYPES.get(job.media_type, ox.RdfFormat.TURTLE)
    prefixes = PREFIXES if fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML, ox.RdfFormat.JSON_LD) else None
    body = ox.serialize(triples[: job.max_rows], format=fmt, prefixes=prefixes) or b""
    return Answer(body, job.media_type, truncated, "graph")


def _rows(kind: str, variables: list[str], rows: list[Row], truncated: bool) -> Iterator[str]:
    if kind == "json":
        return ROW_WRITERS["json"](variables, rows, {"link": [TRUNCATED]} if truncated else None)  # type: ignore[call-arg]
    if kind == "xml":
        return ROW_WRITERS["xml"](variables, rows, TRUNCATED if truncated else None)  # type: ignore[call-arg]
    return ROW_WRITERS[kind](variables, rows)
