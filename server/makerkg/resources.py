"""Where the ontology, shapes, named queries and data live: in the installed package, or in the checkout."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def root() -> Path:
    """The folder that holds ``ontology/`` and ``data/``.

    A wheel carries copies inside the package; an editable install resolves to ``server/makerkg``, where they are
    absent, so it falls back to the repository root.
    """
    installed = Path(str(files("makerkg")))
    return installed if installed.joinpath("ontology").is_dir() else Path(__file__).resolve().parents[2]


def ontology_file() -> Path:
    """The OWL ontology (Turtle)."""
    return root() / "ontology" / "makerkg.ttl"


def shapes_file() -> Path:
    """The SHACL shapes (Turtle)."""
    return root() / "ontology" / "shapes.ttl"


def queries_dir() -> Path:
    """The named queries, one ``NAME.rq`` each."""
    return root() / "ontology" / "queries"


def sources_dir() -> Path:
    """The plans as published and their manifest."""
    return root() / "data" / "sources"


def reference_dir() -> Path:
    """The curated reference tables."""
    return root() / "data" / "reference"
