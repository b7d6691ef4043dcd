"""SPARQL 1.1 Protocol, query operation: what a request becomes, and the status and message of each refusal."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from makerkg.errors import ProtocolError
from makerkg.sparql.protocol import QueryRequest, parse_query_string, parse_request

MAX = 8192
FORM = "application/x-www-form-urlencoded"
QUERY = "application/sparql-query"
G1 = "http://ex.org/g1"
G2 = "https://ex.org/g2"
READ_ONLY = "this endpoint is read-only: SPARQL Update is not accepted"


def url(query_string: str) -> dict[str, list[str]]:
    """URL arguments as werkzeug decodes them (``request.args.to_dict(flat=False)``)."""
    return parse_qs(query_string, keep_blank_values=True)


def request(
    query: str | None, default: tuple[str, ...] = (), named: tuple[str, ...] = (), fmt: str | None = None
) -> QueryRequest:
    return QueryRequest(query, default, named, fmt)


@pytest.mark.parametrize(
    ("method", "content_type", "args", "body", "expected"),
    [
        pytest.param("GET", None, "", b"", request(None), id="GET without query: service description"),
        pytest.param("HEAD", None, "", b"", request(None), id="HEAD without query"),
        pytest.param("GET", None, "query=ASK%20%7B%7D", b"", request("ASK {}"), id="GET query"),
        pytest.param("HEAD", None, "query=ASK%7B%7D", b"", request("ASK{}"), id="HEAD query"),
        pytest.param("GET", None, "query=ASK{}", b"\xff\xfe", request("ASK{}"), id="GET ignores a body"),
        pytest.param(
            "GET",
            "application/sparql-update",
            "query=ASK{}",
            b"",
            request("ASK{}"),
            id="GET ignores the content type",
        ),
        pytest.param(
            "GET",
            None,
            f"query=ASK{{}}&default-graph-uri={G1}&named-graph-uri={G2}&named-graph-uri={G1}&format=json",
            b"",
            request("ASK{}", (G1,), (G2, G1), "json"),
            id="GET graphs and format",
        ),
        pytest.param(
            "GET",
            None,
            f"query=ASK{{}}&default-graph-uri={G1}&default-graph-uri={G1}",
            b"",
            request("ASK{}", (G1,)),
            id="a repeated graph counts once",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&default-graph-uri=urn:x:g&named-graph-uri=tag:ex.org,2026:g&named-graph-uri=ftp://ex.org/g",
            b"",
            request("ASK{}", ("urn:x:g",), ("tag:ex.org,2026:g", "ftp://ex.org/g")),
            id="graphs of any scheme (SPARQL 1.1 Protocol 2.1.4: IRIs, not only http)",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&format=tsv&format=text/tab-separated-values&output=tsv&results=tsv",
            b"",
            request("ASK{}", fmt="text/tab-separated-values"),
            id="SPARQLWrapper's doubled format: the media type wins",
        ),
        pytest.param(
            "GET", None, "query=ASK{}&format=json&format=", b"", request("ASK{}", fmt="json"), id="blank format ignored"
        ),
        pytest.param("GET", None, "query=ASK{}&format=", b"", request("ASK{}"), id="only a blank format"),
        pytest.param(
            "GET",
            None,
            "query=SELECT%20%3Fs%20%7B%20%3Fs%20%3Fp%20%22%E6%9D%AD%E5%B7%9E%22%20%7D",
            b"",
            request('SELECT ?s { ?s ?p "杭州" }'),
            id="GET percent-encoded UTF-8",
        ),
        pytest.param(
            "POST",
            FORM,
            "",
            f"query=SELECT+*+%7B%7D&default-graph-uri={G1}&format=csv".encode(),
            request("SELECT * {}", (G1,), fmt="csv"),
            id="form",
        ),
        pytest.param(
            "POST",
            "Application/X-WWW-Form-URLEncoded; Charset=UTF-8",
            "",
            b"query=ASK{}",
            request("ASK{}"),
            id="form content type in any case, with charset",
        ),
        pytest.param(
            "POST",
            FORM,
            f"default-graph-uri={G1}&format=xml",
            f"query=ASK{{}}&default-graph-uri={G2}".encode(),
            request("ASK{}", (G1, G2), fmt="xml"),
            id="form: graphs and format from the URL too, URL first",
        ),
        pytest.param("POST", FORM, "query=ASK{}", b"", request("ASK{}"), id="form: the query in the URL alone"),
        pytest.param(
            "POST",
            FORM,
            "",
            'query=ASK { ?s ?p "杭州" }'.encode(),
            request('ASK { ?s ?p "杭州" }'),
            id="form body with raw UTF-8",
        ),
        pytest.param(
            "POST",
            QUERY,
            f"named-graph-uri={G2}&format=json",
            'SELECT * { ?s ?p "杭州" }'.encode(),
            request('SELECT * { ?s ?p "杭州" }', named=(G2,), fmt="json"),
            id="sparql-query: the body is the query, graphs from the URL",
        ),
        pytest.param(
            "POST",
            "application/SPARQL-query;charset=utf-8",
            "",
            b"ASK {}",
            request("ASK {}"),
            id="sparql-query content type in any case, with charset",
        ),
        pytest.param(
            "POST", QUERY, "", b"ASK {}" + b" " * (MAX - 6), request("ASK {}" + " " * (MAX - 6)), id="body at the cap"
        ),
        pytest.param("GET", None, "query=" + "A" * MAX, b"", request("A" * MAX), id="URL query at the cap"),
    ],
)
def test_accepted(method: str, content_type: str | None, args: str, body: bytes, expected: QueryRequest) -> None:
    assert parse_request(method, content_type, url(args), body, MAX) == expected


@pytest.mark.parametrize(
    ("method", "content_type", "args", "body", "status", "message"),
    [
        pytest.param("PUT", FORM, "", b"", 405, "method: 'PUT' is not allowed; use GET, HEAD or POST", id="PUT"),
        pytest.param(
            "DELETE", None, "", b"", 405, "method: 'DELETE' is not allowed; use GET, HEAD or POST", id="DELETE"
        ),
        pytest.param(
            "get", None, "query=ASK{}", b"", 405, "method: 'get' is not allowed; use GET, HEAD or POST", id="lower case"
        ),
        pytest.param(
            "POST",
            "text/plain",
            "",
            b"ASK {}",
            415,
            "Content-Type: 'text/plain' is not accepted; send application/x-www-form-urlencoded or application/sparql-query",
            id="text/plain",
        ),
        pytest.param(
            "POST",
            "multipart/form-data; boundary=x",
            "",
            b"",
            415,
            "Content-Type: 'multipart/form-data' is not accepted; send application/x-www-form-urlencoded or application/sparql-query",
            id="multipart form",
        ),
        pytest.param(
            "POST",
            None,
            "",
            b"ASK {}",
            415,
            "Content-Type: none is not accepted; send application/x-www-form-urlencoded or application/sparql-query",
            id="no content type",
        ),
        pytest.param(
            "POST",
            "application/sparql-update",
            "",
            b"INSERT DATA {}",
            403,
            f"Content-Type: {READ_ONLY}",
            id="sparql-update body",
        ),
        pytest.param(
            "POST",
            "Application/SPARQL-Update; charset=utf-8",
            "",
            b"",
            403,
            f"Content-Type: {READ_ONLY}",
            id="sparql-update body, any case",
        ),
        pytest.param("GET", None, "update=CLEAR%20ALL", b"", 403, f"update: {READ_ONLY}", id="update in the URL"),
        pytest.param("POST", FORM, "", b"update=CLEAR+ALL", 403, f"update: {READ_ONLY}", id="update in a form"),
        pytest.param(
            "POST", FORM, "", b"query=ASK{}&update=DROP+ALL", 403, f"update: {READ_ONLY}", id="update beside a query"
        ),
        pytest.param(
            "POST", QUERY, "update=DROP+ALL", b"ASK {}", 403, f"update: {READ_ONLY}", id="update in the URL of a POST"
        ),
        pytest.param(
            "POST", QUERY, "", b" " * (MAX + 1), 413, "body: 8193 bytes, over the limit of 8192", id="body over the cap"
        ),
        pytest.param(
            "POST",
            FORM,
            "",
            b"query=" + b"A" * MAX,
            413,
            "body: 8198 bytes, over the limit of 8192",
            id="form body over the cap",
        ),
        pytest.param(
            "GET",
            None,
            "query=" + "A" * (MAX + 1),
            b"",
            413,
            "query: 8193 bytes, over the limit of 8192",
            id="URL query over the cap",
        ),
        pytest.param(
            "GET",
            None,
            "query=" + "杭" * 2731,
            b"",
            413,
            "query: 8193 bytes, over the limit of 8192",
            id="URL query cap counts UTF-8 bytes",
        ),
        pytest.param(
            "GET",
            None,
            "query=" + "A" * 5000 + "&query=" + "A" * 5000,
            b"",
            413,
            "query: 10000 bytes, over the limit of 8192",
            id="URL query cap counts every value",
        ),
        pytest.param(
            "POST", QUERY, "", b"ASK {\xff}", 400, "body: not valid UTF-8 at byte 5", id="sparql-query body not UTF-8"
        ),
        pytest.param(
            "POST",
            QUERY,
            "",
            'ASK { "杭州'.encode()[:-1],
            400,
            "body: not valid UTF-8 at byte 10",
            id="sparql-query body cut inside a character",
        ),
        pytest.param(
            "POST", FORM, "", b"query=\xe6\x9d", 400, "body: not valid UTF-8 at byte 6", id="form body not UTF-8"
        ),
        pytest.param(
            "POST",
            FORM,
            "",
            b"query=ASK%20%7B%22%E6%9D%22%7D",
            400,
            "query: not valid UTF-8 at byte 6 of the percent-decoded value",
            id="form value percent-encoded, not UTF-8",
        ),
        pytest.param(
            "POST",
            FORM,
            "",
            b"query=ASK{}&%FF=1",
            400,
            "body: not valid UTF-8 at byte 0 of the percent-decoded value",
            id="form field name not UTF-8",
        ),
        pytest.param(
            "POST",
            FORM,
            "",
            b"a=1&" * 1000 + b"query=ASK{}",
            413,
            "body: more than 1000 fields",
            id="too many form fields",
        ),
        pytest.param("GET", None, "query=ASK{}&query=ASK{}", b"", 400, "query: given more than once", id="query twice"),
        pytest.param(
            "POST", FORM, "", b"query=ASK{}&query=ASK{}", 400, "query: given more than once", id="query twice in a form"
        ),
        pytest.param(
            "POST",
            FORM,
            "query=ASK{}",
            b"query=ASK{}",
            400,
            "query: given both in the URL and in the body",
            id="form query in URL and body",
        ),
        pytest.param(
            "POST",
            QUERY,
            "query=ASK{}",
            b"ASK {}",
            400,
            "query: given both in the URL and in the body",
            id="sparql-query with a query in the URL",
        ),
        pytest.param(
            "POST",
            QUERY + "; charset=UTF-16",
            "",
            "ASK {}".encode("utf-16"),
            415,
            "Content-Type: charset='UTF-16' is not accepted; send UTF-8",
            id="sparql-query in UTF-16 (W3C bad_query_non_utf8)",
        ),
        pytest.param(
            "POST",
            FORM + ";charset=iso-8859-1",
            "",
            b"query=ASK%7B%7D",
            415,
            "Content-Type: charset='iso-8859-1' is not accepted; send UTF-8",
            id="form in Latin-1",
        ),
        pytest.param("GET", None, "query=", b"", 400, "query: empty", id="empty query"),
        pytest.param("GET", None, "query=%20%0A%09", b"", 400, "query: empty", id="blank query"),
        pytest.param("POST", QUERY, "", b"", 400, "query: empty", id="empty sparql-query body"),
        pytest.param("POST", FORM, "", b"query=", 400, "query: empty", id="empty form query"),
        pytest.param("POST", FORM, "", b"format=json", 400, "query: missing", id="form without a query"),
        pytest.param("POST", FORM, "", b"", 400, "query: missing", id="empty form"),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&named-graph-uri=/g",
            b"",
            400,
            "named-graph-uri: '/g' is not an absolute IRI",
            id="relative graph",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&default-graph-uri=",
            b"",
            400,
            "default-graph-uri: '' is not an absolute IRI",
            id="blank graph",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&named-graph-uri=http:///g",
            b"",
            400,
            "named-graph-uri: 'http:///g' is not an absolute IRI",
            id="graph without a host",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&named-graph-uri=http://[::1/g",
            b"",
            400,
            "named-graph-uri: 'http://[::1/g' is not an absolute IRI",
            id="graph with a broken IPv6 host",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&default-graph-uri=http://ex.org/a%20b",
            b"",
            400,
            "default-graph-uri: 'http://ex.org/a b' is not an absolute IRI",
            id="graph with a space",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&named-graph-uri=http://ex.org/%25zz",
            b"",
            400,
            "named-graph-uri: 'http://ex.org/%zz' is not an absolute IRI",
            id="graph the engine cannot read (a stray percent sign stopped the query worker: 503)",
        ),
        pytest.param(
            "GET",
            None,
            "query=ASK{}&default-graph-uri=http://ex.org/%3Cg%3E%0A",
            b"",
            400,
            "default-graph-uri: 'http://ex.org/<g>\\n' is not an absolute IRI",
            id="graph with brackets and a newline, shown on one line",
        ),
        pytest.param(
            "GET",
            None,
            f"query=ASK{{}}&default-graph-uri={G1}&default-graph-uri=urn:{'x' * 70}%25",
            b"",
            400,
            f"default-graph-uri: 'urn:{'x' * 56}…' is not an absolute IRI",  # the % ends it, past the cut
            id="second graph bad, long value cut",
        ),
        pytest.param(
            "POST",
            FORM,
            "",
            b"query=ASK{}&named-graph-uri=g",
            400,
            "named-graph-uri: 'g' is not an absolute IRI",
            id="bad graph in a form",
        ),
    ],
)
def test_refused(method: str, content_type: str | None, args: str, body: bytes, status: int, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(method, content_type, url(args), body, MAX)
    err = caught.value
    assert (err.status, str(err), err.parameter) == (status, message, message.split(": ", 1)[0])
    assert err.allow == ("GET, HEAD, POST" if status == 405 else None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"", {}, id="empty"),
        pytest.param(b"query=ASK%20%7B%7D&format=", {"query": ["ASK {}"], "format": [""]}, id="blank kept"),
        pytest.param(b"query=%E6%9D%AD%E5%B7%9E", {"query": ["杭州"]}, id="percent-encoded UTF-8"),
        pytest.param("query=杭州".encode(), {"query": ["杭州"]}, id="UTF-8 sent unencoded"),
        pytest.param(b"query=a+b&query=c", {"query": ["a b", "c"]}, id="plus is a space; repeated kept"),
    ],
)
def test_query_string(raw: bytes, expected: dict[str, list[str]]) -> None:
    assert parse_query_string(raw) == expected


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        pytest.param(
            b"query=ASK%7B%22%FF%22%7D", 400, "query: not valid UTF-8 at byte 5 of the percent-decoded value", id="%FF"
        ),
        pytest.param(
            b"query=ASK%7B%7D&default-graph-uri=http://a/%C3",
            400,
            "default-graph-uri: not valid UTF-8 at byte 9 of the percent-decoded value",
            id="truncated sequence in a graph",
        ),
        pytest.param(
            b"query=ASK\xe6{}", 400, "query: not valid UTF-8 at byte 3 of the percent-decoded value", id="raw byte"
        ),
        pytest.param(
            b"%FF=1", 400, "query string: not valid UTF-8 at byte 0 of the percent-decoded value", id="in a name"
        ),
        pytest.param(b"a=1&" * 1001, 413, "query string: more than 1000 fields", id="too many fields"),
    ],
)
def test_query_string_refused(raw: bytes, status: int, message: str) -> None:
    """Regression: invalid UTF-8 in a GET query string was decoded as U+FFFD and the query run (issue 13)."""
    with pytest.raises(ProtocolError) as caught:
        parse_query_string(raw)
    assert (caught.value.status, str(caught.value)) == (status, message)
