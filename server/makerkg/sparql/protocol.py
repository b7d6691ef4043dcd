"""SPARQL 1.1 Protocol, query operation only (https://www.w3.org/TR/sparql11-protocol/#query-operation).

One function turns an HTTP request, as plain values, into a ``QueryRequest`` or a ``ProtocolError`` carrying the
status to answer; Oxigraph's HTTP server is the reference for the details the recommendation leaves open.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from werkzeug.http import parse_options_header

from makerkg.config import iri
from makerkg.errors import ProtocolError, cut

ALLOW = "GET, HEAD, POST"
FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"
READ_ONLY = "this endpoint is read-only: SPARQL Update is not accepted"
MAX_FORM_FIELDS = 1000
GRAPH_PARAMETERS = ("default-graph-uri", "named-graph-uri")


@dataclass(frozen=True)
class QueryRequest:
    """A query operation as the protocol defines it, before the query itself is parsed."""

    query: str | None  # None: no query given (GET with no query: the caller serves the service description)
    default_graphs: tuple[str, ...]
    named_graphs: tuple[str, ...]
    format: str | None  # the non-standard but common `format=` parameter: a short name or a media type


def parse_request(
    method: str, content_type: str | None, args: Mapping[str, Sequence[str]], body: bytes, max_bytes: int
) -> QueryRequest:
    """Read a query request from its method, content type, URL arguments and body; raises ProtocolError."""
    if method not in ("GET", "HEAD", "POST"):
        raise ProtocolError(405, "method", f"{_shown(method)} is not allowed; use GET, HEAD or POST", allow=ALLOW)
    if "update" in args:
        raise ProtocolError(403, "update", READ_ONLY)
    url_query = args.get("query", ())
    size = sum(len(value.encode("utf-8", "surrogateescape")) for value in url_query)
    if size > max_bytes:
        raise ProtocolError(413, "query", f"{size} bytes, over the limit of {max_bytes}")
    if method != "POST":
        return _request(url_query, args, required=False)

    media_type = media_type_of(content_type)
    if media_type == SPARQL_UPDATE:
        raise ProtocolError(403, "Content-Type", READ_ONLY)
    if media_type not in (FORM, SPARQL_QUERY):
        got = _shown(media_type) if media_type else "none"
        raise ProtocolError(415, "Content-Type", f"{got} is not accepted; send {FORM} or {SPARQL_QUERY}")
    charset = parse_options_header(content_type)[1].get("charset")
    if charset is not None and charset.strip().lower() not in ("utf-8", "utf8"):
        raise ProtocolError(415, "Content-Type", f"charset={_shown(charset)} is not accepted; send UTF-8")
    if len(body) > max_bytes:
        raise ProtocolError(413, "body", f"{len(body)} bytes, over the limit of {max_bytes}")
    text = decode_utf8(body)

    if media_type == SPARQL_QUERY:
        if url_query:
            raise ProtocolError(400, "query", "given both in the URL and in the body")
        return _request([text], args, required=True)

    form = parse_form(text)
    if "update" in form:
        raise ProtocolError(403, "update", READ_ONLY)
    if url_query and "query" in form:
        raise ProtocolError(400, "query", "given both in the URL and in the body")
    # The protocol puts a form POST's graph parameters in the body; they are also taken from the URL, as clients do.
    merged = {name: [*args.get(name, ()), *form.get(name, ())] for name in ("query", "format", *GRAPH_PARAMETERS)}
    return _request(merged["query"], merged, required=True)


def _request(queries: Sequence[str], params: Mapping[str, Sequence[str]], *, required: bool) -> QueryRequest:
    """Check the one query and the graph parameters and build the request; raises ProtocolError."""
    if len(queries) > 1:
        raise ProtocolError(400, "query", "given more than once")
    if not queries and required:
        raise ProtocolError(400, "query", "missing")
    query = queries[0] if queries else None
    if query is not None and not query.strip():
        raise ProtocolError(400, "query", "empty")
    default_graphs, named_graphs = (_graphs(name, params.get(name, ())) for name in GRAPH_PARAMETERS)
    return QueryRequest(query, default_graphs, named_graphs, pick_format(params.get("format", ())))


def _graphs(parameter: str, values: Sequence[str]) -> tuple[str, ...]:
    """The distinct graph IRIs of one parameter, in order; raises ProtocolError for one that is not an IRI."""
    for value in values:
        if not is_graph_iri(value):
            raise ProtocolError(400, parameter, f"{_shown(value)} is not an absolute IRI")
    return tuple(dict.fromkeys(values))


def media_type_of(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower-cased and without parameters ('' for none).

    >>> media_type_of("Application/SPARQL-Query; charset=UTF-8")
    'application/sparql-query'
    """
    return parse_options_header(content_type)[0].strip().lower()


def decode_utf8(body: bytes) -> str:
    """The body as text; raises ProtocolError (400) naming the first byte that is not UTF-8.

    >>> decode_utf8("杭州".encode())
    '杭州'
    """
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProtocolError(400, "body", f"not valid UTF-8 at byte {err.start}") from err


def parse_form(text: str, where: str = "body") -> dict[str, list[str]]:
    """The fields of a form body (or of a URL's query string, ``where="query string"``); raises ProtocolError for
    too many fields (413) or a value not UTF-8 (400).

    >>> parse_form("query=ASK%7B%7D&format=json&format=")
    {'query': ['ASK{}'], 'format': ['json', '']}
    """
    try:
        fields = urllib.parse.parse_qs(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="surrogateescape",  # keeps bad percent-escapes visible, to be reported below, not replaced
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as err:  # parse_qs raises it only for max_num_fields
        raise ProtocolError(413, where, f"more than {MAX_FORM_FIELDS} fields") from err
    for name, values in fields.items():
        _check_decoded(where, name)
        for value in values:
            _check_decoded(name, value)
    return fields


def parse_query_string(raw: bytes) -> dict[str, list[str]]:
    """The arguments of a URL's query string, from its bytes as the request carries them; raises ProtocolError (400)
    naming a parameter whose percent-decoded value is not UTF-8, (413) for too many.

    werkzeug's ``request.args`` decodes such bytes to U+FFFD, so that a query holding them would run changed.

    >>> parse_query_string(b"query=ASK%7B%7D&default-graph-uri=http://a/g")
    {'query': ['ASK{}'], 'default-graph-uri': ['http://a/g']}
    """
    # bytes outside ASCII sent unencoded are read as UTF-8, the ones that are not kept as surrogates to be reported
    return parse_form(raw.decode("utf-8", "surrogateescape"), "query string")


def _check_decoded(parameter: str, value: str) -> None:
    """Raise ProtocolError (400) if a percent-decoded value holds bytes that are not UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        offset = len(value[: err.start].encode("utf-8"))
        raise ProtocolError(400, parameter, f"not valid UTF-8 at byte {offset} of the percent-decoded value") from err


def is_graph_iri(value: str) -> bool:
    """Whether the value can name a graph: an absolute IRI (RFC 3987) as the engine reads one, of any scheme, with a
    host if it is an http(s) IRI. The engine's reading decides: a graph so named that it could not read (a stray
    ``%``, say) stopped the query worker that was given it.

    >>> is_graph_iri("https://example.org/graph"), is_graph_iri("urn:x:g"), is_graph_iri("http:///g")
    (True, True, False)
    >>> is_graph_iri("http://example.org/%zz"), is_graph_iri("graph/8"), is_graph_iri("urn:x y")
    (False, False, False)
    """
    if not iri(value):
        return False
    try:
        return value.split(":", 1)[0].lower() not in ("http", "https") or bool(urllib.parse.urlsplit(value).hostname)
    except ValueError:  # an unclosed IPv6 literal
        return False


def pick_format(values: Sequence[str]) -> str | None:
    """The `format=` value to use, or None: a media type wins over a short name, the first of each otherwise.

    SPARQLWrapper sends both for some formats (``format=tsv&format=text/tab-separated-values``).

    >>> pick_format(["tsv", "text/tab-separated-values"]), pick_format(["json"]), pick_format([""])
    ('text/tab-separated-values', 'json', None)
    """
    given = [value.strip() for value in values if value.strip()]
    return next((value for value in given if "/" in value), given[0] if given else None)


def _shown(value: str) -> str:
    """A value quoted for a one-line message, cut to 60 characters.

    >>> _shown("PUT")
    "'PUT'"
    """
    return repr(cut(value))
