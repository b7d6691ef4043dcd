"""The build, stage by stage: sources → parse → link → graph → validate → store (with dumps)."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from makerkg import resources
from makerkg.config import Settings
from makerkg.errors import PlanError, StoreMissing, UnresolvedNames, ValidationFailed
from makerkg.graph.build import named_graphs
from makerkg.graph.iris import Minter
from makerkg.iris import GraphKind
from makerkg.link import Links, load_reference, resolve
from makerkg.model import BuildSummary, Section, Sources
from makerkg.parse import read_sources
from makerkg.parse.manifest import MANIFEST
from makerkg.store import Build, Draft, current
from makerkg.store.from_rdflib import triples_of
from makerkg.validate import CHUNK_TRIPLES, ValidationReport, Validator, ntriples

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
    workers = os.cpu_count() or 1
    with (
        long_lived(),
        Draft(settings.out, say, settings.build_grace) as draft,
        Validator(resources.shapes_file(), workers, CHUNK_TRIPLES, settings.shacl_engine) as validator,
    ):
        for name, kind, graph in named_graphs(sources, links, ref, resources.ontology_file(), minter):
            triples = triples_of(graph)
            del graph  # one edition's rdflib graph at a time
            draft.add(str(name), triples)
            if kind is GraphKind.REFERENCE:  # made before the editions
                validator.reference = ntriples(triples)
            elif kind is GraphKind.EDITION:
                validator.add_edition(ntriples(triples), len(triples))
        validator.flush()
        lap("graph")
        say(f"validating the graph against the SHACL shapes ({validator.chunks} chunk(s)) …")
        report = validator.report()
        if not report.conforms:
            raise ValidationFailed(report.text(), len(report.violations))
        lap("validate")
        say("writing the store and the dumps …")

        plans = [edition.entry.path for edition in sources.editions]
        published = draft.publish(settings.base, summarise(sources, links, draft.quads), plans)
    lap("store")
    return BuildResult(published, links, report, timings)


@contextmanager
def long_lived() -> Iterator[None]:
    """Keep the objects made so far (the parsed plans, the links and the reference data, which live until the
    build ends) out of the garbage collector's passes while the graph is made: otherwise every full pass walks
    them all again, and at a million triples collecting took half the graph stage (gc.freeze)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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


def summarise(sources: Sources, links: Links, quads: int) -> BuildSummary:
    """Counts a user checks first: contests per edition and kind, organizations, places, tracks."""
    editions: dict[int, dict[str, int]] = {}
    orgs_by_edition: dict[int, set[str]] = {}
    places: set[str] = set()
    tracks: set[str] = set()
    for edition in sources.editions:
        counts = Counter(c.section.value for c in edition.contests)
        editions[edition.ordinal] = {s.value: counts.get(s.value, 0) for s in Section}
        orgs_by_edition[edition.ordinal] = {
            links.organization(n.printed).id for c in edition.contests for n in c.organizers
        }
        places.update(links.place(c.place).id for c in edition.contests)
        tracks.update(links.track(c.topic).id for c in edition.contests if c.section is Section.THEMATIC)
    all_orgs: set[str] = set().union(*orgs_by_edition.values()) if orgs_by_edition else set()
    in_all = set.intersection(*orgs_by_edition.values()) if len(orgs_by_edition) > 1 else set()
    return BuildSummary(
        contests=editions,
        printed_organization_names=links.printed_organizations,
        organizations=len(all_orgs),
        organizations_in_every_edition=len(in_all),
        resolution=dict(links.by_method),
        places=len(places),
        tracks=len(tracks),
        unresolved=tuple(str(u) for u in links.unresolved),
        quads=quads,
        shared_place_names=links.shared_place_names,
    )
