"""A build's dumps: the graph in every RDF format of the format table, plain and gzipped, with a JSON-LD context
and SHA-256 sums; written from the build's files (never the whole graph in memory), byte-identical for the same
graph, and listed from the directory they are written to."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from makerkg.formats import GRAPH_FORMATS, Format, Kind, by_name
from makerkg.namespaces import PREFIXES
from makerkg.store import jsonld
from makerkg.store.layout import CHECKSUMS, DUMPS_DIR, Build, Files

DUMP_NAME = "makerkg"
CONTEXT_FILE = "makerkg.context.jsonld"


@dataclass(frozen=True)
class Dump:
    """One file of a build's dumps."""

    name: str
    format: str  # the format's short name, or "jsonld-context"
    media_type: str  # of the file as served (application/gzip for a compressed one)
    content_type: str  # of its content
    compressed: bool
    bytes: int
    sha256: str
    statements: int
    named_graphs: bool


def dump_name(fmt: Format, compressed: bool = False) -> str:
    """The file name of a format's dump.

    >>> from makerkg.formats import by_name
    >>> dump_name(by_name("ttl"), compressed=True)
    'makerkg.ttl.gz'
    """
    return f"{DUMP_NAME}.{fmt.extension}" + (".gz" if compressed else "")


def read_quads(build: Build) -> list[ox.Quad]:
    """The build's quads in their canonical order (``graph.nq`` is written sorted)."""
    with build.graph_file.open("rb") as handle:
        return list(ox.parse(handle, format=ox.RdfFormat.N_QUADS))


def write(files: Files, fmt: Format, target: Path) -> None:
    """Write the build in ``fmt`` to ``target``, streaming from the build's files: the quad formats from
    ``graph.nq`` (JSON-LD graph by graph), the triple formats from the merge ``union.nt``. Memory stays that of
    one named graph whatever the size of the build."""
    source = files.graph_file if fmt.quads else files.union_file
    if fmt.rdf in (ox.RdfFormat.N_QUADS, ox.RdfFormat.N_TRIPLES):
        try:  # already canonical N-Quads / N-Triples, and never changed once written: one file under two names
            os.link(source, target)
        except OSError:  # a file system without hard links
            shutil.copyfile(source, target)
    elif fmt.rdf == ox.RdfFormat.JSON_LD:
        _write_jsonld(files.graphs, target)
    else:
        input_format = ox.RdfFormat.N_QUADS if fmt.quads else ox.RdfFormat.N_TRIPLES
        # parse and serialise are both lazy: pyoxigraph writes each statement as it reads it
        ox.serialize(ox.parse(path=source, format=input_format), target, format=fmt.rdf, prefixes=PREFIXES)


def _write_jsonld(graphs: Sequence[Path], target: Path) -> None:
    """One JSON-LD document, ``{"@context": …, "@graph": [graph, …]}``, written a named graph at a time."""
    chunks = (jsonld.nodes(ox.parse(path=graph, format=ox.RdfFormat.N_QUADS)) for graph in graphs)
    with target.open("wb") as out:
        for part in jsonld.stream(chunks):
            out.write(part)


def write_dumps(files: Files) -> None:
    """Every RDF format, plain and gzipped, byte-reproducible (gzip with no name and time 0), the JSON-LD context,
    and ``SHA256SUMS``."""
    (files.directory / DUMPS_DIR).mkdir()
    write_formats(files, [fmt.name for fmt in GRAPH_FORMATS])
    finish_dumps(files)


def write_formats(files: Files, names: Sequence[str]) -> None:
    """The dumps of the formats ``names`` (short names of the format table), plain and gzipped, into the dumps
    directory (made already): the formats are independent, so processes may share them out."""
    target = files.directory / DUMPS_DIR
    for fmt in (by_name(name, (Kind.GRAPH,)) for name in names):
        plain = target / dump_name(fmt)
        write(files, fmt, plain)
        with (
            plain.open("rb") as source,
            (target / dump_name(fmt, compressed=True)).open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as packed,
        ):
            shutil.copyfileobj(source, packed, 1 << 20)


def shares() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The formats in two shares that take about as long to write: JSON-LD (compacted in Python) and the rest."""
    slow = tuple(fmt.name for fmt in GRAPH_FORMATS if fmt.rdf == ox.RdfFormat.JSON_LD)
    return slow, tuple(fmt.name for fmt in GRAPH_FORMATS if fmt.name not in slow)


def finish_dumps(files: Files) -> None:
    """The JSON-LD context and ``SHA256SUMS``, once every format's dump is written."""
    target = files.directory / DUMPS_DIR
    (target / CONTEXT_FILE).write_text(
        json.dumps(jsonld.context(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    sums = []
    for path in sorted(target.iterdir()):
        with path.open("rb") as handle:
            sums.append(f"{hashlib.file_digest(handle, 'sha256').hexdigest()}  {path.name}\n")
    (target / CHECKSUMS).write_text("".join(sums), encoding="utf-8")


def listing(build: Build) -> list[Dump]:
    """Every dump file of the build, as its ``SHA256SUMS`` lists them (none for a build without dumps)."""
    directory = build.path / DUMPS_DIR
    try:
        lines = (directory / CHECKSUMS).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    sums: dict[str, str] = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        sums[name] = digest
    info = build.info
    quads = sum(info.quads_per_graph.values())
    files = []
    for fmt in GRAPH_FORMATS:
        for compressed in (False, True):
            name = dump_name(fmt, compressed)
            if name in sums and (directory / name).is_file():  # a file gone from disk is not listed
                size = (directory / name).stat().st_size
                media = "application/gzip" if compressed else fmt.media_type
                statements = quads if fmt.quads else info.triples
                sha = sums[name]
                files.append(Dump(name, fmt.name, media, fmt.media_type, compressed, size, sha, statements, fmt.quads))
    if CONTEXT_FILE in sums and (directory / CONTEXT_FILE).is_file():
        size = (directory / CONTEXT_FILE).stat().st_size
        ld = "application/ld+json"
        files.append(Dump(CONTEXT_FILE, "jsonld-context", ld, ld, False, size, sums[CONTEXT_FILE], 0, False))
    return files
