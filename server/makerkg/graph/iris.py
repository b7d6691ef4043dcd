"""The IRI scheme for rdflib: ``makerkg.iris.Layout`` minting ``URIRef`` terms (the scheme is in docs/model.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rdflib import URIRef

from makerkg.config import DEFAULT_BASE as DEFAULT_BASE
from makerkg.iris import Layout


@dataclass(frozen=True)
class Minter(Layout[URIRef]):
    """Mints every IRI of the graph under one base as rdflib terms.

    >>> Minter("https://example.org/kg/").contest(8, "regional", "110000")
    rdflib.term.URIRef('https://example.org/kg/edition/8/regional/110000')
    """

    base: str = DEFAULT_BASE
    wrap: Callable[[str], URIRef] = field(default=URIRef)
