"""The one table of formats makerkg reads and writes: RDF serialisations and SPARQL result formats.

Export, the command line, the query workers, the endpoint, pages and dumps all read this table; an unknown name
or media type raises ``KeyError`` rather than falling back to another format. The media types each format also
answers to come from pyoxigraph's own registry (``RdfFormat.from_media_type``,
``QueryResultsFormat.from_media_type``), so that ``application/json`` or ``application/xml`` mean here what they
mean to Oxigraph's server.

>>> by_name("ttl").media_type, by_media_type("application/x-turtle").name
('text/turtle', 'ttl')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

import pyoxigraph as ox


class Kind(Enum):
    """What a format carries."""

    GRAPH = "graph"  # RDF: CONSTRUCT and DESCRIBE answers, pages, dumps
    RESULTS = "results"  # SPARQL query results: SELECT and ASK answers
    ROWS = "rows"  # the named-query API's own JSON rows


@dataclass(frozen=True)
class Format:
    """A format: its short name and aliases (``format=`` values, CLI choices), media type, file extension, the
    engine's format, rdflib's name for it, the W3C's IRI for it (service descriptions), and whether it keeps named
    graphs."""

    name: str
    aliases: tuple[str, ...]
    media_type: str
    extension: str
    kind: Kind
    oxigraph: ox.RdfFormat | ox.QueryResultsFormat | None
    rdflib: str | None
    w3c: str | None
    quads: bool = False

    @property
    def is_text(self) -> bool:
        """Whether the format is text, whose Content-Type carries ``charset=utf-8``."""
        return True

    @property
    def content_type(self) -> str:
        """The Content-Type header of an answer in this format."""
        return f"{self.media_type}; charset=utf-8" if self.is_text else self.media_type

    @property
    def rdf(self) -> ox.RdfFormat:
        """The engine's RDF format; raises KeyError for a format that is not RDF."""
        if not isinstance(self.oxigraph, ox.RdfFormat):
            raise KeyError(self.name)
        return self.oxigraph

    @property
    def rdflib_name(self) -> str:
        """rdflib's name for the format; raises KeyError for one rdflib does not write."""
        if self.rdflib is None:
            raise KeyError(self.name)
        return self.rdflib

    def other_media_types(self) -> tuple[str, ...]:
        """Media types that name this format besides its own (from pyoxigraph's registry where it knows them)."""
        return _ALSO.get(self.name, ())


_W3C = "http://www.w3.org/ns/formats/"

FORMATS: tuple[Format, ...] = (
    # RDF serialisations, in the order dumps and pages list them
    Format("ttl", ("turtle", "n3"), "text/turtle", "ttl", Kind.GRAPH, ox.RdfFormat.TURTLE, "turtle", _W3C + "Turtle"),
    Format(
        "nt", ("ntriples", "n-triples"), "application/n-triples", "nt", Kind.GRAPH, ox.RdfFormat.N_TRIPLES, "nt",
        _W3C + "N-Triples",
    ),
    Format(
        "nq", ("nquads", "n-quads"), "application/n-quads", "nq", Kind.GRAPH, ox.RdfFormat.N_QUADS, "nquads",
        _W3C + "N-Quads", quads=True,
    ),
    Format("trig", (), "application/trig", "trig", Kind.GRAPH, ox.RdfFormat.TRIG, "trig", _W3C + "TriG", quads=True),
    Format(
        "jsonld", ("json-ld",), "application/ld+json", "jsonld", Kind.GRAPH, ox.RdfFormat.JSON_LD, "json-ld",
        _W3C + "JSON-LD", quads=True,
    ),
    Format(
        "rdfxml", ("rdf", "rdf+xml", "xml"), "application/rdf+xml", "rdf", Kind.GRAPH, ox.RdfFormat.RDF_XML, "xml",
        _W3C + "RDF_XML",
    ),
    # SPARQL 1.1 query results
    Format(
        "json", (), "application/sparql-results+json", "srj", Kind.RESULTS, ox.QueryResultsFormat.JSON, None,
        _W3C + "SPARQL_Results_JSON",
    ),
    Format(
        "xml", (), "application/sparql-results+xml", "srx", Kind.RESULTS, ox.QueryResultsFormat.XML, None,
        _W3C + "SPARQL_Results_XML",
    ),
    Format("csv", (), "text/csv", "csv", Kind.RESULTS, ox.QueryResultsFormat.CSV, None, _W3C + "SPARQL_Results_CSV"),
    Format(
        "tsv", (), "text/tab-separated-values", "tsv", Kind.RESULTS, ox.QueryResultsFormat.TSV, None,
        _W3C + "SPARQL_Results_TSV",
    ),
    # the named-query API's rows
    Format("rows", ("json",), "application/json", "json", Kind.ROWS, None, None, None),
)  # fmt: skip


def _registry_aliases() -> dict[str, tuple[str, ...]]:
    """Media types pyoxigraph maps to each of the formats above, besides the format's own, from a list of the
    names in use for RDF and SPARQL results (pyoxigraph decides which of them it accepts and for what)."""
    candidates = (
        "application/json", "application/xml", "text/xml", "application/x-turtle", "text/n3", "text/rdf+n3",
        "text/plain", "application/x-trig", "application/x-n-quads", "text/x-nquads", "application/rdf+json",
        "application/sparql-results+xml", "application/sparql-results+json", "text/csv", "text/tab-separated-values",
        "application/activity+json",
    )  # fmt: skip
    found: dict[str, list[str]] = {}
    for media in candidates:
        for fmt in FORMATS:
            if fmt.oxigraph is None or media == fmt.media_type:
                continue
            kind = ox.RdfFormat if fmt.kind is Kind.GRAPH else ox.QueryResultsFormat
            if kind.from_media_type(media) == fmt.oxigraph:
                found.setdefault(fmt.name, []).append(media)
    return {name: tuple(media) for name, media in found.items()}


_ALSO = _registry_aliases()


def of_kind(*kinds: Kind) -> tuple[Format, ...]:
    """The formats carrying any of ``kinds``, in table order."""
    return tuple(f for f in FORMATS if f.kind in kinds)


def by_name(name: str, kinds: Iterable[Kind] = (Kind.GRAPH, Kind.RESULTS, Kind.ROWS)) -> Format:
    """The format a short name or alias names, among ``kinds`` (first in table order); raises KeyError."""
    wanted = name.strip().lower()
    for fmt in of_kind(*kinds):
        if wanted == fmt.name or wanted in fmt.aliases:
            return fmt
    raise KeyError(name)


def named(name: str) -> tuple[Format, ...]:
    """Every format a short name or alias names, of any kind, in table order.

    >>> [f.media_type for f in named("json")]
    ['application/sparql-results+json', 'application/json']
    """
    wanted = name.strip().lower()
    return tuple(fmt for fmt in FORMATS if wanted == fmt.name or wanted in fmt.aliases)


def by_media_type(media_type: str, kinds: Iterable[Kind] = (Kind.GRAPH, Kind.RESULTS, Kind.ROWS)) -> Format:
    """The format a media type (parameters ignored) names, among ``kinds``; raises KeyError."""
    wanted = media_type.split(";", 1)[0].strip().lower()
    candidates = of_kind(*kinds)
    for fmt in candidates:
        if wanted == fmt.media_type:
            return fmt
    for fmt in candidates:
        if wanted in fmt.other_media_types():
            return fmt
    raise KeyError(media_type)


def aliases_of(media_type: str) -> tuple[str, ...]:
    """The other media types that name the format whose own media type is ``media_type`` (pyoxigraph's registry
    decides which), none for a media type outside the table.

    >>> aliases_of("application/sparql-results+json"), aliases_of("text/html")
    (('application/json',), ())
    """
    wanted = media_type.split(";", 1)[0].strip().lower()
    return next((fmt.other_media_types() for fmt in FORMATS if fmt.media_type == wanted), ())


def by_extension(extension: str) -> Format:
    """The RDF format a file extension names (``ttl``, ``nq``, ``jsonld``, ``rdf``…); raises KeyError.

    >>> by_extension(".rdf").name
    'rdfxml'
    """
    wanted = extension.lower().lstrip(".")
    for fmt in of_kind(Kind.GRAPH):
        if wanted in (fmt.extension, fmt.name, *fmt.aliases):
            return fmt
    raise KeyError(extension)


GRAPH_FORMATS = of_kind(Kind.GRAPH)
TRIPLE_FORMATS = tuple(f for f in GRAPH_FORMATS if not f.quads or f.name == "jsonld")  # can carry a graph's triples
RESULT_FORMATS = of_kind(Kind.RESULTS)
