"""Stage 5: the published build on disk and the engine that answers queries over it.

Nothing here imports rdflib: the query worker processes import this package, and start faster without it. For the
same reason importing the package loads only the build's layout: ``Draft``, which writes a build (its dumps, its
store), is loaded when it is first asked for (PEP 562); a query workers' loader never asks, and starts about 0.1 s
sooner (the server starts one per web process, and one to check the store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from makerkg.store.layout import Build, BuildInfo, Files, current

if TYPE_CHECKING:
    from makerkg.store.build import Draft as Draft

__all__ = [
    "Build",
    "BuildInfo",
    "Draft",
    "Files",
    "current",
]


def __getattr__(name: str) -> Any:
    if name == "Draft":
        from makerkg.store.build import Draft

        return Draft
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
