"""SPARQL 1.1 query results, written a row at a time, so that a row cap and a byte cap can stop between rows.

Written here rather than taken from pyoxigraph's serialiser because the caps must cut a result between two rows
and say so in its head, which a whole-result serialiser cannot; each format is a few lines of a W3C
recommendation: JSON (https://www.w3.org/TR/sparql11-results-json/), XML (https://www.w3.org/TR/rdf-sparql-XMLres/),
CSV and TSV (https://www.w3.org/TR/sparql11-results-csv-tsv/). XML 1.0 cannot carry most control characters, even
escaped; the XML writer replaces them (and lone surrogates) with U+FFFD, so that its output is always well-formed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
Row = Sequence[Term | None]
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
TRUNCATED = "urn:makerkg:result-truncated"  # the link a cut SPARQL JSON or XML result carries in its head


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


_quote = json.JSONEncoder(ensure_ascii=False).encode  # a JSON string, escaped as json.dumps escapes it


def _json_term(term: Term) -> str:
    """``term_json(term)`` as JSON text, written directly.

    >>> _json_term(ox.Literal("1", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")))
    '{"type":"literal","value":"1","datatype":"http://www.w3.org/2001/XMLSchema#integer"}'
    """
    if isinstance(term, ox.NamedNode):
        return '{"type":"uri","value":' + _quote(term.value) + "}"
    if isinstance(term, ox.Literal):
        value = _quote(term.value)
        if term.language:
            return '{"type":"literal","value":' + value + ',"xml:lang":' + _quote(term.language) + "}"
        datatype = term.datatype.value
        if datatype != XSD_STRING:
            return '{"type":"literal","value":' + value + ',"datatype":' + _quote(datatype) + "}"
        return '{"type":"literal","value":' + value + "}"
    return json.dumps(term_json(term), ensure_ascii=False, separators=(",", ":"))


# XML 1.0's Char production: tab, newline, carriage return, and U+0020 upwards but surrogates and U+FFFE/U+FFFF
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """Text escaped for XML 1.0, with the characters it cannot carry replaced by U+FFFD.

    >>> xml_text("a\\x01<b>")
    'a\\ufffd&lt;b&gt;'
    """
    return escape(_NOT_XML.sub("\ufffd", value))


def xml_attribute(value: str) -> str:
    """A quoted XML attribute value, with the characters XML 1.0 cannot carry replaced by U+FFFD."""
    return quoteattr(_NOT_XML.sub("\ufffd", value))


def _xml_term(term: Term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{xml_text(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{xml_text(term.value)}</bnode>"
    if isinstance(term, ox.Triple):
        return (
            f"<triple><subject>{_xml_term(term.subject)}</subject><predicate>{_xml_term(term.predicate)}"
            f"</predicate><object>{_xml_term(term.object)}</object></triple>"
        )
    if term.language:
        return f"<literal xml:lang={xml_attribute(term.language)}>{xml_text(term.value)}</literal>"
    if term.datatype.value != XSD_STRING:
        return f"<literal datatype={xml_attribute(term.datatype.value)}>{xml_text(term.value)}</literal>"
    return f"<literal>{xml_text(term.value)}</literal>"


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


def _tsv_cell(term: Term | None) -> str:
    """TSV carries terms in Turtle syntax; tabs and newlines inside literals are escaped."""
    if term is None:
        return ""
    return str(term).replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n'


@dataclass(frozen=True)
class ResultWriter:
    """One SPARQL results format, written as head, rows (each a string, joined by ``separator``) and tail."""

    name: str

    def head(self, variables: Sequence[str], truncated: bool) -> str:
        if self.name == "json":
            head: dict[str, object] = {"vars": list(variables)}
            if truncated:
                head["link"] = [TRUNCATED]
            return '{"head": ' + json.dumps(head, ensure_ascii=False) + ', "results": {"bindings": [\n'
        if self.name == "xml":
            names = "".join(f"<variable name={xml_attribute(v)}/>" for v in variables)
            link = f"<link href={xml_attribute(TRUNCATED)}/>" if truncated else ""
            return _XML_HEAD + f"<head>{names}{link}</head>\n<results>\n"
        if self.name == "csv":
            return ",".join(_csv_cell(ox.Literal(v)) for v in variables) + "\r\n"
        return "\t".join(f"?{v}" for v in variables) + "\n"

    @property
    def separator(self) -> str:
        return ",\n" if self.name == "json" else ""

    def row(self, variables: Sequence[str], row: Row) -> str:
        if self.name == "json":
            # written as text, not through a dict and json.dumps: the writer is most of a small answer's cost
            cells = ",".join(
                f"{_quote(v)}:{_json_term(t)}" for v, t in zip(variables, row, strict=True) if t is not None
            )
            return "{" + cells + "}"
        if self.name == "xml":
            cells = "".join(
                f"<binding name={xml_attribute(v)}>{_xml_term(t)}</binding>"
                for v, t in zip(variables, row, strict=True)
                if t is not None
            )
            return f"<result>{cells}</result>\n"
        if self.name == "csv":
            return ",".join(_csv_cell(t) for t in row) + "\r\n"
        return "\t".join(_tsv_cell(t) for t in row) + "\n"

    def tail(self) -> str:
        if self.name == "json":
            return "\n]}}\n"
        if self.name == "xml":
            return "</results>\n</sparql>\n"
        return ""

    def boolean(self, value: bool) -> str:
        """An ASK answer: JSON and XML have a form for it; CSV and TSV carry one cell.

        >>> ResultWriter("csv").boolean(True)
        '_askResult\\r\\ntrue\\r\\n'
        """
        word = "true" if value else "false"
        if self.name == "json":
            return json.dumps({"head": {}, "boolean": value}) + "\n"
        if self.name == "xml":
            return _XML_HEAD + f"<head/>\n<boolean>{word}</boolean>\n</sparql>\n"
        if self.name == "csv":
            return f"_askResult\r\n{word}\r\n"
        return f"?_askResult\n{word}\n"


WRITERS = {name: ResultWriter(name) for name in ("json", "xml", "csv", "tsv")}
