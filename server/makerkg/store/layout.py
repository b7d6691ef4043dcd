"""The layout of an out directory and of a build in it: every name, and the build's typed description.

``OUT/current`` points at ``OUT/builds/ID``, swapped in one rename when a new build is complete. A build holds
``build.json`` (``BuildInfo``), ``graph.nq`` (every named graph, sorted), ``union.nt`` (their merge, the default
graph), ``store/`` (Oxigraph), ``dumps/`` (every RDF format, gzipped too, with ``SHA256SUMS``) and ``sources/``
(the plans it was read from). Writers (``store.build``, ``store.dumps``) and readers (the server, the CLI) take
every name from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from makerkg.errors import StoreMissing
from makerkg.model import BuildSummary

CURRENT = "current"
BUILDS = "builds"
GRAPH_FILE = "graph.nq"  # every named graph, sorted by graph then by line
UNION_FILE = "union.nt"  # the merge of the named graphs (the default graph), each triple once, sorted
STORE_DIR = "store"
INFO_FILE = "build.json"
SOURCES_DIR = "sources"  # the plans the build was read from
DUMPS_DIR = "dumps"
CHECKSUMS = "SHA256SUMS"  # in DUMPS_DIR, the format sha256sum -c reads


@dataclass(frozen=True)
class BuildInfo:
    """What a build holds: its id, when it was made, a digest of its content, and counts."""

    id: str
    created: str
    content_sha256: str
    base: str
    triples: int
    quads_per_graph: dict[str, int]
    summary: BuildSummary

    @property
    def editions(self) -> list[int]:
        """The edition ordinals the build holds, ascending."""
        return sorted(self.summary.contests)


@dataclass(frozen=True)
class Build:
    """A build directory and its description."""

    path: Path
    info: BuildInfo

    @property
    def graph_file(self) -> Path:
        return self.path / GRAPH_FILE

    @property
    def union_file(self) -> Path:
        return self.path / UNION_FILE

    @property
    def store_dir(self) -> Path:
        return self.path / STORE_DIR

    @property
    def dumps_dir(self) -> Path:
        return self.path / DUMPS_DIR

    @property
    def sources_dir(self) -> Path:
        return self.path / SOURCES_DIR

    def source(self, name: str) -> Path | None:
        """A plan the build was read from, by file name, or None (no other file is ever named)."""
        if "/" in name or name.startswith(".") or not name:
            return None
        path = self.sources_dir / name
        return path if path.is_file() else None


@dataclass(frozen=True)
class Files:
    """The files of a build being written, for the writers of further files (dumps): the whole dataset, its merge,
    and each named graph's own file in the order ``graph.nq`` holds them."""

    directory: Path
    graph_file: Path
    union_file: Path
    graphs: Sequence[Path]


def write_info(directory: Path, info: BuildInfo) -> None:
    """Write a build's description."""
    text = json.dumps(asdict(info), ensure_ascii=False, indent=2) + "\n"
    (directory / INFO_FILE).write_text(text, encoding="utf-8")


def read_info(path: Path) -> BuildInfo:
    """Read a build's description; raises StoreMissing for one that is not a build description."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(BuildInfo)}  # a later version's build may say more: read what this one knows
        return BuildInfo(
            **{**{k: v for k, v in raw.items() if k in known}, "summary": BuildSummary.from_json(raw["summary"])}
        )
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise StoreMissing(path, f"unreadable build description ({err})") from err


def current(out: Path) -> Build:
    """The build ``OUT/current`` points at; raises StoreMissing if there is none or it is incomplete."""
    link = out / CURRENT
    if not link.exists():
        raise StoreMissing(out, "no built graph here")
    path = link.resolve()
    info_file = path / INFO_FILE
    if not info_file.is_file() or not (path / STORE_DIR).is_dir():
        raise StoreMissing(path, "the build is incomplete (no build.json or store)")
    return Build(path, read_info(info_file))
