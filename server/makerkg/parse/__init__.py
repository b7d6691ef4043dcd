"""Stage 1: the published plans and their manifest → typed records (no RDF here)."""

from __future__ import annotations

from pathlib import Path

from makerkg.model import Sources
from makerkg.parse.manifest import read_manifest
from makerkg.parse.plan import read_plan

__all__ = ["read_manifest", "read_plan", "read_sources"]


def read_sources(directory: Path) -> Sources:
    """The series and every plan the manifest in ``directory`` lists, parsed, in edition order; raises PlanError."""
    series, entries = read_manifest(directory)
    return Sources(directory, series, tuple(read_plan(entry) for entry in entries))
