"""The IRI scheme, as plain strings: every IRI makerkg mints under a base, and the way back from an IRI to the
server path that serves it. ``graph.iris.Minter`` wraps it for rdflib; the server, the named queries and the
pages use it as it is. The scheme is documented in docs/model.md.

>>> layout = Layout("https://example.org/kg/")
>>> layout.contest(8, "regional", "110000"), layout.local_path("https://example.org/kg/org/miit#x")
('https://example.org/kg/edition/8/regional/110000', '/org/miit#x')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from makerkg.namespaces import ONTOLOGY_IRI

T = TypeVar("T", bound=str)


class GraphKind(Enum):
    """What a named graph of the dataset holds."""

    ONTOLOGY = "ontology"
    REFERENCE = "reference"
    EDITION = "edition"


# the first segment of a resource's path, and the kind of resource it names
RESOURCE_KINDS = {
    "edition": "edition",
    "org": "organization",
    "place": "place",
    "track": "track",
    "org-kind": "organization kind",
    "org-change": "change",
    "scheme": "concept scheme",
    "source": "source document",
    "graph": "named graph",
    "dataset": "dataset",
}


@dataclass(frozen=True)
class Layout(Generic[T]):
    """Every IRI of the graph under one base; each depends only on its keys. ``wrap`` makes the term type
    (``str`` here; rdflib's ``URIRef`` in ``graph.iris``)."""

    base: str
    wrap: Callable[[str], T] = field(default=str)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not self.base.endswith("/"):
            raise ValueError(f"the IRI base must end with '/': {self.base!r}")

    def _iri(self, path: str) -> T:
        return self.wrap(self.base + path)

    def series(self) -> T:
        return self._iri("series")

    def edition(self, ordinal: int) -> T:
        return self._iri(f"edition/{ordinal}")

    def declared(self, ordinal: int, section: str) -> T:
        return self._iri(f"edition/{ordinal}#declared-{section}")

    def contest(self, ordinal: int, section: str, key: str) -> T:
        return self._iri(f"edition/{ordinal}/{section}" + (f"/{key}" if key else ""))

    def association(self, contest: str, role: str, position: int) -> T:
        return self.wrap(f"{contest}#{role}-{position}")

    def source(self, file: str) -> T:
        return self._iri(f"source/{file}")

    def excerpt(self, file: str, first: int, last: int) -> T:
        # RFC 5147 text/plain fragment: line=a,b selects the lines between positions a and b, i.e. a+1 … b
        return self._iri(f"source/{file}#line={first - 1},{last}")

    def organization(self, id: str) -> T:
        return self._iri(f"org/{id}")

    def change(self, id: str) -> T:
        return self._iri(f"org-change/{id}")

    def org_kind(self, id: str) -> T:
        return self._iri(f"org-kind/{id}")

    def place(self, id: str) -> T:
        return self._iri(f"place/{id}")

    def track(self, id: str) -> T:
        return self._iri(f"track/{id}")

    def listing(self, segment: str) -> T:
        """The list of every resource whose path starts with ``segment`` (``org/``, ``place/``…), at ``segment/``."""
        return self._iri(f"{segment}/")

    def scheme(self, name: str) -> T:
        return self._iri(f"scheme/{name}")

    def edition_graph(self, ordinal: int) -> T:
        return self._iri(f"graph/edition/{ordinal}")

    def ontology_graph(self) -> T:
        return self._iri("graph/ontology")

    def reference_graph(self) -> T:
        return self._iri("graph/reference")

    def dataset(self) -> T:
        return self._iri("dataset")

    def endpoint(self) -> T:
        """The SPARQL endpoint, where the base is served."""
        return self._iri("sparql")

    def graph_store(self) -> T:
        """The graph store (SPARQL 1.1 Graph Store HTTP Protocol, read side), where the base is served."""
        return self._iri("store")

    def dump(self, name: str) -> T:
        return self._iri(f"dumps/{name}")

    def graph_kind(self, name: str) -> GraphKind:
        """What the named graph ``name`` holds; raises ValueError for a name that is none of the dataset's."""
        if name == self.ontology_graph():
            return GraphKind.ONTOLOGY
        if name == self.reference_graph():
            return GraphKind.REFERENCE
        if name.startswith(self.base + "graph/edition/"):
            return GraphKind.EDITION
        raise ValueError(f"not a graph of the dataset: {name}")

    def local_path(self, iri: str) -> str | None:
        """The server path that serves ``iri`` (fragment kept), or None for an IRI the server does not serve."""
        if iri.startswith(self.base):
            return "/" + iri[len(self.base) :]
        if iri == ONTOLOGY_IRI or iri.startswith(ONTOLOGY_IRI + "#"):
            return "/ontology" + iri[len(ONTOLOGY_IRI) :]
        return None

    def resource_kind(self, iri: str) -> str | None:
        """The kind of resource an IRI under the base names, from the first segment of its path."""
        path = self.local_path(iri)
        if path is None or not iri.startswith(self.base):
            return None
        return RESOURCE_KINDS.get(path[1:].split("/", 1)[0].split("#", 1)[0])
