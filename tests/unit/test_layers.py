"""Imports point left only: a stage uses model, errors, resources and earlier stages, never a later one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import makerkg

PACKAGE = Path(makerkg.__file__).parent
# the pipeline in order; a module may import its own stage and any stage to its left
ORDER = ["parse", "link", "graph", "validate", "sparql", "store", "export", "queries", "diff", "pipeline", "web", "cli"]
BASE = {"model", "errors", "resources", "config", "terminal", "__init__"}


def _stage(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("makerkg"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("makerkg"))
    return found


def test_no_backward_import() -> None:
    backward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "makerkg." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        own = _stage(module)
        if own in BASE or own not in ORDER:
            continue
        for imported in _imports(path):
            target = _stage(imported)
            if target in BASE or target == own or target not in ORDER:
                continue
            if ORDER.index(target) > ORDER.index(own):
                backward.append(f"{module} imports {imported}")
    assert backward == []


def test_parse_knows_no_rdf() -> None:
    for path in (PACKAGE / "parse").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "rdflib" not in text and "pyoxigraph" not in text, path


def test_only_store_and_its_users_know_the_engine() -> None:
    allowed = {"store", "formats", "export", "pipeline", "sparql", "queries", "diff", "cli", "web"}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if "pyoxigraph" in path.read_text(encoding="utf-8"):
            assert module.split(".")[0] in allowed, module


def test_the_query_workers_package_imports_no_rdflib() -> None:
    """A query worker imports makerkg.store.pool and the store package; without rdflib it starts in a fraction of
    the time, which is most of a fresh server's time to its first answer."""
    code = (
        "import sys, makerkg.store.pool, makerkg.store.execute; print(sorted(m for m in sys.modules if 'rdflib' in m))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
