"""Stage 5: the published build on disk and the engine that answers queries over it."""

from makerkg.store.build import Build, BuildInfo, canonical, current, from_rdflib, publish
from makerkg.store.embedded import EmbeddedStore, Result, Term, text

__all__ = [
    "Build",
    "BuildInfo",
    "EmbeddedStore",
    "Result",
    "Term",
    "canonical",
    "current",
    "from_rdflib",
    "publish",
    "text",
]
