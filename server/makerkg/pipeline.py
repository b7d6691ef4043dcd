"""The build, stage by stage: sources → parse → link → graph → validate → store (with dumps)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from makerkg import resources
from makerkg.config import Settings
from makerkg.errors import UnresolvedNames, ValidationFailed
from makerkg.export import CONTEXT_FILE, FORMATS, context, serialise, triples
from makerkg.graph import Minter, named_graphs
from makerkg.link import Links, load_reference, resolve
from makerkg.model import Section, Sources
from makerkg.parse import read_sources
from makerkg.store import Build, canonical, publish
from makerkg.store.build import CHECKSUMS, DUMPS_DIR, SOURCES_DIR, triples_of
from makerkg.validate import ValidationReport, check, check_chunks, union

log = logging.getLogger(__name__)
DUMP_NAME = "makerkg"


@dataclass(frozen=True)
class BuildResult:
    """What a build made and what it noticed."""

    build: Build
    links: Links
    report: ValidationReport
    timings: dict[str, float] = field(default_factory=dict)


def build(settings: Settings, *, strict: bool = False, progress: Callable[[str], None] | None = None) -> BuildResult:
    """Build, validate and publish the graph; raises PlanError, UnresolvedNames or ValidationFailed, in which
    case the previously published build stays in place."""
    say = progress or (lambda _message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    sources = read_sources(settings.sources or resources.sources_dir())
    ref = load_reference(resources.reference_dir())
    lap("parse")
    links = resolve(sources.editions, ref)
    if strict and links.unresolved:
        raise UnresolvedNames([str(u) for u in links.unresolved])
    lap("link")
    minter = Minter(settings.base)
    quads: list[ox.Quad] = []
    chunks: list[bytes] = []
    reference: list[ox.Triple] = []
    pending: list[ox.Triple] = []
    for name, graph in named_graphs(sources, links, ref, resources.ontology_file(), minter):
        triples = triples_of(graph)
        del graph  # one edition's rdflib graph at a time
        node = ox.NamedNode(str(name))
        quads.extend(ox.Quad(t.subject, t.predicate, t.object, node) for t in triples)
        if name == minter.reference_graph():
            reference = triples
        elif name != minter.ontology_graph():
            pending.extend(triples)
            if len(pending) >= CHUNK_TRIPLES:
                chunks.append(_chunk(reference, pending))
                pending = []
    if pending or not chunks:
        chunks.append(_chunk(reference, pending))
    lap("graph")
    say(f"validating the graph against the SHACL shapes ({len(chunks)} chunk(s)) …")
    report = check_chunks(chunks, resources.shapes_file(), os.cpu_count() or 1)
    del chunks
    if not report.conforms:
        raise ValidationFailed(report.text(), len(report.violations))
    lap("validate")
    quads = canonical(quads)
    say("writing the store and the dumps …")
    summary = {**summarise(sources, links, len(quads)), "statistics": statistics(quads)}

    def extras(directory: Path, written: list[ox.Quad]) -> None:
        write_dumps(directory, written)
        copy_sources(directory, sources)

    published = publish(quads, settings.out, settings.base, summary, extras)
    lap("store")
    return BuildResult(published, links, report, timings)


def copy_sources(directory: Path, sources: Sources) -> None:
    """The plans the build was read from, byte for byte, so that pages can show the lines a fact came from."""
    target = directory / SOURCES_DIR
    target.mkdir()
    for edition in sources.editions:
        shutil.copyfile(edition.entry.path, target / edition.entry.file)


RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def statistics(quads: list[ox.Quad]) -> dict[str, Any]:
    """VoID figures of the merged graph: entities per class, triples per property, distinct subjects and objects."""
    triples = {(q.subject, q.predicate, q.object) for q in quads}
    classes: dict[str, set[str]] = {}
    properties: Counter[str] = Counter()
    for s, p, o in triples:
        properties[p.value] += 1
        if p.value == RDF_TYPE and isinstance(o, ox.NamedNode):
            classes.setdefault(o.value, set()).add(str(s))
    return {
        "classes": {c: len(members) for c, members in sorted(classes.items())},
        "properties": dict(sorted(properties.items())),
        "distinct_subjects": len({s for s, _, _ in triples}),
        "distinct_objects": len({o for _, _, o in triples}),
        "entities": len({s for s, _, _ in triples if isinstance(s, ox.NamedNode)}),
    }


CHUNK_TRIPLES = 5_000  # edition triples validated together; SHACL time grows faster than linearly with size


def _chunk(reference: list[ox.Triple], triples: list[ox.Triple]) -> bytes:
    """Some editions' triples with the reference data they link to, as N-Triples for a validation worker."""
    data = ox.serialize([*reference, *triples], format=ox.RdfFormat.N_TRIPLES)
    return data or b""


def write_dumps(directory: Path, quads: list[ox.Quad]) -> None:
    """Every format of ``FORMATS``, plain and gzipped, byte-reproducible (gzip with no name and time 0)."""
    target = directory / DUMPS_DIR
    target.mkdir()
    merged = triples(quads)
    for fmt in FORMATS.values():
        data = serialise(quads, fmt, merged)
        (target / f"{DUMP_NAME}.{fmt.extension}").write_bytes(data)
        (target / f"{DUMP_NAME}.{fmt.extension}.gz").write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    (target / CONTEXT_FILE).write_text(json.dumps(context(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(target.iterdir())]
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
    """Validate an RDF file (any format rdflib reads by its extension) against the shapes."""
    from rdflib import Dataset

    ds = Dataset()
    ds.parse(path)
    return check(union(ds), resources.shapes_file())


def validate_quads(quads: Sequence[ox.Quad]) -> ValidationReport:
    """Validate a build's quads against the shapes."""
    from rdflib import Dataset

    ds = Dataset()
    ds.parse(data=ox.serialize(quads, format=ox.RdfFormat.N_QUADS), format="nquads")
    return check(union(ds), resources.shapes_file())
