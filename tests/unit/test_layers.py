"""Imports point left only: a stage uses the base modules and earlier stages, never a later one. Every module of
the package belongs to a stage or to the base (an unlisted one fails), and an import of ``a.b`` counts as one of
``a`` too, since importing a submodule runs its package's ``__init__``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import makerkg

PACKAGE = Path(makerkg.__file__).parent
# the pipeline in order; a module may import its own stage and any stage to its left
ORDER = [
    "parse", "link", "graph", "validate", "sparql", "store", "export", "queries", "diff", "synth", "pipeline", "web",
    "cli", "launch",
]  # fmt: skip
# what every stage may use: plain data, settings, names; none of them imports a stage
BASE = {
    "model", "errors", "resources", "config", "terminal", "namespaces", "formats", "iris", "metrics", "names", "__init__"
}  # fmt: skip


def _modules() -> dict[str, Path]:
    return {
        "makerkg" + "".join("." + p for p in path.relative_to(PACKAGE).with_suffix("").parts if p != "__init__"): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "node_modules" not in path.parts
    }


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """The makerkg modules a file imports, with every package on the way (its __init__ runs first)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("makerkg"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("makerkg")]
        for name in names:
            parts = name.split(".")
            found.update(".".join(parts[:n]) for n in range(2, len(parts) + 1))
    return found & set(_modules())


def test_every_module_belongs_somewhere() -> None:
    unplaced = [m for m in _modules() if m != "makerkg" and _stage(m) not in BASE | set(ORDER)]
    assert unplaced == []


def test_no_backward_import() -> None:
    backward = []
    for module, path in _modules().items():
        own = _stage(module)
        for imported in _imports(path):
            target = _stage(imported)
            if own in BASE and target not in BASE:
                backward.append(f"{module} (base) imports {imported}")
            elif own in ORDER and target in ORDER and ORDER.index(target) > ORDER.index(own):
                backward.append(f"{module} imports {imported}")
    assert backward == []


def test_parse_knows_no_rdf() -> None:
    for path in (PACKAGE / "parse").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "rdflib" not in text and "pyoxigraph" not in text, path


def _loaded_after(statement: str) -> list[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_the_web_process_loads_none_of_the_build() -> None:
    """Serving needs the store, the SPARQL side and the pages: none of parse, link, building the graph, validation
    or pySHACL (issue: one home for each concern)."""
    loaded = _loaded_after("import makerkg.web, makerkg.web.wsgi")
    unwanted = (
        "makerkg.parse",
        "makerkg.link",
        "makerkg.graph.build",
        "makerkg.validate",
        "makerkg.pipeline",
        "pyshacl",
    )
    assert [m for m in loaded if m.startswith(unwanted)] == []


def test_the_query_workers_import_no_rdflib() -> None:
    """A query worker imports makerkg.store.worker and what it runs; without rdflib it starts in a fraction of the
    time, which is most of a fresh server's time to its first answer."""
    loaded = _loaded_after("import makerkg.store.worker, makerkg.store.execute, makerkg.store.pool")
    assert [m for m in loaded if m.startswith(("rdflib", "pyshacl", "flask"))] == []


def test_a_web_process_on_its_own_store_loads_no_http_client_nor_rdflib() -> None:
    """The HTTP client serves only a remote store (``makerkg serve --store URL``), and rdflib only the service's and
    the dataset's descriptions: every other server would pay for importing them in each web process at every start
    (rdflib: about 0.1 s of CPU)."""
    loaded = _loaded_after("import makerkg.web.wsgi, makerkg.web.app, makerkg.web.engine")
    assert "makerkg.web.app" in loaded
    unwanted = ("requests", "urllib3", "makerkg.store.remote", "rdflib", "makerkg.graph")
    assert [m for m in loaded if m.startswith(unwanted)] == []


def test_a_query_workers_loader_imports_no_build_writer() -> None:
    """The loader (one per server, shared by its web processes) imports ``makerkg.store.worker`` and what its workers
    run; the machinery that writes a build (``store.build``: dumps, the store's bulk load) and the settings are not
    its."""
    loaded = _loaded_after("import makerkg.store.worker, makerkg.store.execute")
    assert [m for m in loaded if m.startswith(("makerkg.store.build", "makerkg.store.dumps", "makerkg.config"))] == []
