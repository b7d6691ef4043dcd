"""SPARQL 1.1 query results, one streaming serialiser per media type.

Written here rather than taken from a library because the rows come from makerkg's own row cap and worker
process, not from a library's result object; each format is a few lines of a W3C recommendation:
JSON (https://www.w3.org/TR/sparql11-results-json/), XML (https://www.w3.org/TR/rdf-sparql-XMLres/),
CSV and TSV (https://www.w3.org/TR/sparql11-results-csv-tsv/).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
Row = Sequence[Term | None]
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

SELECT_TYPES = {
    "application/sparql-results+json": "json",
    "application/sparql-results+xml": "xml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
}


def term_json(term: Term) -> dict[str, object]:
    """A term as SPARQL JSON results encode it.

    >>> term_json(ox.Literal("杭州", language="zh"))
    {'type': 'literal', 'value': '杭州', 'xml:lang': 'zh'}
    """
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Triple):
        return {
            "type": "triple",
            "value": {
                "subject": term_json(term.subject),
                "predicate": term_json(term.predicate),
                "object": term_json(term.object),
            },
        }
    out: dict[str, object] = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
    elif term.datatype.value != XSD_STRING:
        out["datatype"] = term.datatype.value
    return out


def json_rows(variables: Sequence[str], rows: Iterable[Row], extra: dict[str, object] | None = None) -> Iterator[str]:
    """SPARQL 1.1 Query Results JSON, row by row. ``extra`` goes into the head (e.g. a cut-off notice)."""
    head: dict[str, object] = {"vars": list(variables)}
    if extra:
        head.update(extra)
    yield '{"head": ' + json.dumps(head, ensure_ascii=False) + ', "results": {"bindings": ['
    first = True
    for row in rows:
        binding = {v: term_json(t) for v, t in zip(variables, row, strict=True) if t is not None}
        yield ("" if first else ",") + "\n" + json.dumps(binding, ensure_ascii=False)
        first = False
    yield "\n]}}\n"


def json_boolean(value: bool) -> str:
    return json.dumps({"head": {}, "boolean": value}) + "\n"


def _xml_term(term: Term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, ox.Triple):
        return (
            f"<triple><subject>{_xml_term(term.subject)}</subject><predicate>{_xml_term(term.predicate)}"
            f"</predicate><object>{_xml_term(term.object)}</object></triple>"
        )
    if term.language:
        return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
    if term.datatype.value != XSD_STRING:
        return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
    return f"<literal>{escape(term.value)}</literal>"


_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n'


def xml_rows(variables: Sequence[str], rows: Iterable[Row], link: str | None = None) -> Iterator[str]:
    """SPARQL Query Results XML, row by row; ``link`` is an href in the head (used for a cut-off notice)."""
    head = "".join(f"<variable name={quoteattr(v)}/>" for v in variables)
    if link:
        head += f"<link href={quoteattr(link)}/>"
    yield _XML_HEAD + f"<head>{head}</head>\n<results>\n"
    for row in rows:
        cells = "".join(
            f"<binding name={quoteattr(v)}>{_xml_term(t)}</binding>"
            for v, t in zip(variables, row, strict=True)
            if t is not None
        )
        yield f"<result>{cells}</result>\n"
    yield "</results>\n</sparql>\n"


def xml_boolean(value: bool) -> str:
    return _XML_HEAD + f"<head/>\n<boolean>{'true' if value else 'false'}</boolean>\n</sparql>\n"


def _csv_cell(term: Term | None) -> str:
    """CSV carries values only (no language or datatype), quoted when needed."""
    if term is None:
        return ""
    if isinstance(term, ox.Triple):
        value = str(term)
    elif isinstance(term, ox.BlankNode):
        value = f"_:{term.value}"
    else:
        value = term.value
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_rows(variables: Sequence[str], rows: Iterable[Row]) -> Iterator[str]:
    """SPARQL 1.1 Query Results CSV (lines end with CRLF, as RFC 4180 says)."""
    yield ",".join(_csv_cell(ox.Literal(v)) for v in variables) + "\r\n"
    for row in rows:
        yield ",".join(_csv_cell(t) for t in row) + "\r\n"


def _tsv_cell(term: Term | None) -> str:
    """TSV carries terms in Turtle syntax; tabs and newlines inside literals are escaped."""
    if term is None:
        return ""
    return str(term).replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def tsv_rows(variables: Sequence[str], rows: Iterable[Row]) -> Iterator[str]:
    """SPARQL 1.1 Query Results TSV."""
    yield "\t".join(f"?{v}" for v in variables) + "\n"
    for row in rows:
        yield "\t".join(_tsv_cell(t) for t in row) + "\n"


def boolean_text(value: bool, kind: str) -> str:
    """An ASK answer in a SELECT media type: JSON and XML have a form for it; CSV and TSV carry one cell."""
    if kind == "json":
        return json_boolean(value)
    if kind == "xml":
        return xml_boolean(value)
    return (
        ("_askResult\r\n" if kind == "csv" else "?_askResult\n")
        + ("true" if value else "false")
        + ("\r\n" if kind == "csv" else "\n")
    )


ROW_WRITERS: dict[str, Callable[[Sequence[str], Iterable[Row]], Iterator[str]]] = {
    "json": json_rows,
    "xml": xml_rows,
    "csv": csv_rows,
    "tsv": tsv_rows,
}
