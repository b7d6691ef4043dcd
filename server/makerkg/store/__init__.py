"""Stage 5: the published build on disk and the engine that answers queries over it.

Nothing here imports rdflib: the query worker processes import this package, and start faster without it.
"""

from makerkg.store.build import Draft
from makerkg.store.layout import Build, BuildInfo, Files, current

__all__ = [
    "Build",
    "BuildInfo",
    "Draft",
    "Files",
    "current",
]
