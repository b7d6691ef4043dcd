"""The one place IRIs are minted (the scheme is documented in docs/model.md)."""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import URIRef

from makerkg.config import DEFAULT_BASE as DEFAULT_BASE
from makerkg.model import LineRange, Role, Section


@dataclass(frozen=True)
class Minter:
    """Mints every IRI of the graph under one base; each IRI depends only on its keys.

    >>> Minter("https://example.org/kg/").contest(8, Section.REGIONAL, "110000")
    rdflib.term.URIRef('https://example.org/kg/edition/8/regional/110000')
    """

    base: str = DEFAULT_BASE

    def __post_init__(self) -> None:
        if not self.base.endswith("/"):
            raise ValueError(f"the IRI base must end with '/': {self.base!r}")

    def _iri(self, path: str) -> URIRef:
        return URIRef(self.base + path)

    def series(self) -> URIRef:
        return self._iri("series")

    def edition(self, ordinal: int) -> URIRef:
        return self._iri(f"edition/{ordinal}")

    def declared(self, ordinal: int, section: Section) -> URIRef:
        return self._iri(f"edition/{ordinal}#declared-{section.value}")

    def contest(self, ordinal: int, section: Section, key: str) -> URIRef:
        return self._iri(f"edition/{ordinal}/{section.value}" + (f"/{key}" if key else ""))

    def association(self, contest: URIRef, role: Role, position: int) -> URIRef:
        return URIRef(f"{contest}#{role.value}-{position}")

    def source(self, file: str) -> URIRef:
        return self._iri(f"source/{file}")

    def excerpt(self, file: str, lines: LineRange) -> URIRef:
        # RFC 5147 text/plain fragment: line=a,b selects the lines between positions a and b, i.e. a+1 … b
        return self._iri(f"source/{file}#line={lines.first - 1},{lines.last}")

    def organization(self, id: str) -> URIRef:
        return self._iri(f"org/{id}")

    def change(self, id: str) -> URIRef:
        return self._iri(f"org-change/{id}")

    def org_kind(self, id: str) -> URIRef:
        return self._iri(f"org-kind/{id}")

    def place(self, id: str) -> URIRef:
        return self._iri(f"place/{id}")

    def track(self, id: str) -> URIRef:
        return self._iri(f"track/{id}")

    def scheme(self, name: str) -> URIRef:
        return self._iri(f"scheme/{name}")

    def edition_graph(self, ordinal: int) -> URIRef:
        return self._iri(f"graph/edition/{ordinal}")

    def ontology_graph(self) -> URIRef:
        return self._iri("graph/ontology")

    def reference_graph(self) -> URIRef:
        return self._iri("graph/reference")

    def dataset(self) -> URIRef:
        return self._iri("dataset")
