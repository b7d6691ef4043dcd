"""The build, stage by stage: sources → parse → link → graph → validate → store (with dumps)."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from makerkg import resources
from makerkg.config import Settings
from makerkg.errors import PlanError, StoreMissing, UnresolvedNames, UsageError, ValidationFailed
from makerkg.export import CONTEXT_FILE, DUMP_NAME, FORMATS, context, read_quads, write
from makerkg.formats import GRAPH_FORMATS, by_extension
from makerkg.graph import Minter, named_graphs
from makerkg.link import Links, load_reference, resolve
from makerkg.model import Section, Sources
from makerkg.parse import read_sources
from makerkg.parse.manifest import MANIFEST
from makerkg.store import Build, Draft, Files, current
from makerkg.store.build import CHECKSUMS, DUMPS_DIR, SOURCES_DIR
from makerkg.store.from_rdflib import triples_of
from makerkg.validate import ValidationReport, Validator, check, union

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    """What a build made and what it noticed."""

    build: Build
    links: Links
    report: ValidationReport
    timings: dict[str, float] = field(default_factory=dict)


def build(
    settings: Settings,
    *,
    strict: bool = False,
    drop: Collection[int] = (),
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build, validate and publish the graph; raises PlanError, UnresolvedNames or ValidationFailed, in which
    case the previously published build stays in place. An edition of the published build that the manifest no
    longer lists is refused (PlanError) unless ``drop`` names it."""
    say = progress or (lambda _message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    sources = read_sources(settings.sources or resources.sources_dir())
    keep_published_editions(settings.out, sources, drop)
    ref = load_reference(resources.reference_dir())
    lap("parse")
    links = resolve(sources.editions, ref)
    if strict and links.unresolved:
        raise UnresolvedNames([str(u) for u in links.unresolved])
    lap("link")
    minter = Minter(settings.base)
    special = {minter.ontology_graph(), minter.reference_graph()}
    workers = os.cpu_count() or 1
    with (
        Draft(settings.out, say, settings.build_grace) as draft,
        Validator(resources.shapes_file(), workers, CHUNK_TRIPLES) as validator,
    ):
        for name, graph in named_graphs(sources, links, ref, resources.ontology_file(), minter):
            triples = triples_of(graph)
            del graph  # one edition's rdflib graph at a time
            draft.add(str(name), triples)
            if name == minter.reference_graph():  # made before the editions
                validator.reference = _ntriples(triples)
            elif name not in special:
                validator.add_edition(_ntriples(triples), len(triples))
        validator.flush()
        lap("graph")
        say(f"validating the graph against the SHACL shapes ({validator.chunks} chunk(s)) …")
        report = validator.report()
        if not report.conforms:
            raise ValidationFailed(report.text(), len(report.violations))
        lap("validate")
        say("writing the store and the dumps …")

        def extras(files: Files) -> None:
            write_dumps(files)
            copy_sources(files.directory, sources)

        published = draft.publish(settings.base, summarise(sources, links, draft.quads), extras)
    lap("store")
    return BuildResult(published, links, report, timings)


def keep_published_editions(out: Path, sources: Sources, drop: Collection[int]) -> None:
    """Raise PlanError naming the manifest and each edition the published build holds but the manifest lacks,
    unless ``drop`` names it: a misspelt or deleted [[plan]] entry must not remove an edition silently."""
    try:
        published = current(out)
    except StoreMissing:
        return
    listed = {e.ordinal for e in sources.editions}
    missing = sorted(set(published.info.editions) - listed - set(drop))
    if missing:
        manifest = sources.directory / MANIFEST
        names = ", ".join(str(n) for n in missing)
        flags = " ".join(f"--drop {n}" for n in missing)
        raise PlanError(
            manifest,
            None,
            f"a [[plan]] for each edition of the published build {published.info.id} ({names} missing; "
            f"to publish without {'it' if len(missing) == 1 else 'them'}, build with {flags})",
            f"editions {', '.join(str(n) for n in sorted(listed))}",
        )


CHUNK_TRIPLES = 5_000  # edition triples validated together; SHACL time grows faster than linearly with size


def _ntriples(triples: list[ox.Triple]) -> bytes:
    return ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""


def copy_sources(directory: Path, sources: Sources) -> None:
    """The plans the build was read from, byte for byte, so that pages can show the lines a fact came from."""
    target = directory / SOURCES_DIR
    target.mkdir()
    for edition in sources.editions:
        shutil.copyfile(edition.entry.path, target / edition.entry.file)


def write_dumps(files: Files) -> None:
    """Every format of ``FORMATS``, plain and gzipped, byte-reproducible (gzip with no name and time 0)."""
    target = files.directory / DUMPS_DIR
    target.mkdir()
    for fmt in FORMATS.values():
        plain = target / f"{DUMP_NAME}.{fmt.extension}"
        write(files, fmt, plain)
        with (
            plain.open("rb") as source,
            (target / f"{plain.name}.gz").open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as packed,
        ):
            shutil.copyfileobj(source, packed, 1 << 20)
    (target / CONTEXT_FILE).write_text(json.dumps(context(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    sums = []
    for path in sorted(target.iterdir()):
        with path.open("rb") as handle:
            sums.append(f"{hashlib.file_digest(handle, 'sha256').hexdigest()}  {path.name}\n")
    (target / CHECKSUMS).write_text("".join(sums), encoding="utf-8")


def summarise(sources: Sources, links: Links, quads: int) -> dict[str, Any]:
    """Counts a user checks first: contests per edition and kind, organizations, places, tracks."""
    editions: dict[str, dict[str, int]] = {}
    orgs_by_edition: dict[int, set[str]] = {}
    places: set[str] = set()
    tracks: set[str] = set()
    for edition in sources.editions:
        counts = Counter(c.section.value for c in edition.contests)
        editions[str(edition.ordinal)] = {s.value: counts.get(s.value, 0) for s in Section}
        orgs_by_edition[edition.ordinal] = {
            links.organization(n.printed).id for c in edition.contests for n in c.organizers
        }
        places.update(links.place(c.place).id for c in edition.contests)
        tracks.update(links.track(c.topic).id for c in edition.contests if c.section is Section.THEMATIC)
    all_orgs: set[str] = set().union(*orgs_by_edition.values()) if orgs_by_edition else set()
    in_all = set.intersection(*orgs_by_edition.values()) if len(orgs_by_edition) > 1 else set()
    return {
        "contests": editions,
        "printed_organization_names": links.printed_organizations,
        "organizations": len(all_orgs),
        "organizations_in_every_edition": len(in_all),
        "resolution": links.by_method,
        "places": len(places),
        "tracks": len(tracks),
        "unresolved": [str(u) for u in links.unresolved],
        "quads": quads,
    }


def validate_file(path: Path) -> ValidationReport:
    """Validate an RDF file (its format named by its extension) against the shapes; raises UsageError for a file
    that is not RDF of that format, naming the line and column."""
    try:
        fmt = by_extension(path.suffix)
    except KeyError as err:
        known = ", ".join(f".{f.extension}" for f in GRAPH_FORMATS)
        raise UsageError("FILE", f"{path}: not a known RDF file extension (known: {known})") from err
    assert isinstance(fmt.oxigraph, ox.RdfFormat)  # noqa: S101 - every RDF format has one
    try:
        quads = list(ox.parse(path=path, format=fmt.oxigraph))
    except SyntaxError as err:
        raise UsageError("FILE", f"{path}: not readable as {fmt.name} ({' '.join(str(err).split())})") from err
    return validate_quads(quads)


def validate_quads(quads: Sequence[ox.Quad]) -> ValidationReport:
    """Validate a build's quads against the shapes."""
    from rdflib import Dataset

    ds = Dataset()
    ds.parse(data=ox.serialize(quads, format=ox.RdfFormat.N_QUADS), format="nquads")
    return check(union(ds), resources.shapes_file())


WHOLE_GRAPH_TRIPLES = 50_000  # `makerkg validate` checks a build up to this size whole, a larger one in chunks


def validate_build(build: Build, workers: int) -> ValidationReport:
    """Validate a published build against the shapes: whole when it is small, so the check does not rest on the
    chunking; else in chunks of editions with the reference data, as the build validated it, from ``graph.nq``
    one graph at a time (a whole 1M-triple graph in pySHACL takes gigabytes and hours)."""
    if build.info.triples <= WHOLE_GRAPH_TRIPLES:
        return validate_quads(read_quads(build))
    minter = Minter(build.info.base)
    reference_name, ontology_name = str(minter.reference_graph()), str(minter.ontology_graph())

    def graphs() -> Iterator[tuple[str, list[ox.Triple]]]:
        quads = ox.parse(path=build.graph_file, format=ox.RdfFormat.N_QUADS)
        for name, group in itertools.groupby(quads, key=lambda q: q.graph_name):
            yield str(name)[1:-1], [q.triple for q in group]

    # the reference graph sorts after the editions in graph.nq: one pass for it, one for the editions
    reference = next((_ntriples(triples) for name, triples in graphs() if name == reference_name), b"")
    with Validator(resources.shapes_file(), workers, CHUNK_TRIPLES) as validator:
        validator.reference = reference
        for name, triples in graphs():
            if name not in (reference_name, ontology_name):
                validator.add_edition(_ntriples(triples), len(triples))
        return validator.report()
