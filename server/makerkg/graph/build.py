"""Stage 3: parsed editions + their links + reference data → an RDF dataset with one named graph per edition."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.term import Node

from makerkg.graph.iris import Minter
from makerkg.graph.vocab import DCTERMS, MKG, ORG, OWL, PREFIXES, PROV, RDF, RDFS, SCHEMA, SKOS, WD, XSD
from makerkg.iris import GraphKind
from makerkg.link import Links, Match, Reference, contest_keys, places_in_use
from makerkg.link.reference import PlaceRef
from makerkg.model import Contest, Edition, LineRange, Role, Section, Sources

KIND = {
    Section.FINAL: MKG.NationalFinal,
    Section.REGIONAL: MKG.RegionalContest,
    Section.THEMATIC: MKG.ThematicContest,
    Section.OVERSEAS: MKG.OverseasContest,
}
ROLE = {Role.LEAD: MKG.LeadHost, Role.HOST: MKG.Host, Role.UNDERTAKER: MKG.Undertaker}
PLACE_CLASSES = {
    "province": (MKG.ProvinceLevelDivision,),
    "corps": (MKG.ProductionConstructionCorps,),
    "planned-city": (MKG.SeparatelyPlannedCity, MKG.PrefectureLevelDivision),
    "prefecture": (MKG.PrefectureLevelDivision,),
    "county": (MKG.CountyLevelDivision,),
    "district": (MKG.CountyLevelDivision,),
    "new-area": (MKG.StateLevelNewArea,),
}
CHANGE_CLASSES = {"renamed": MKG.Renaming, "succeeded": MKG.Succession}
_TITLE_SUFFIX = re.compile(r"\s*赛事计划\s*$")


Triple = tuple[Node, Node, Node]


class Triples:
    """A graph as the builder makes it: its triples, each once, in the order first added. Stands in for an rdflib
    Graph, whose memory store keeps three indexes and sends an event on every add that the build never reads: three
    quarters of the graph stage's time (bench/scale.py)."""

    def __init__(self, triples: Iterable[Triple] = ()) -> None:
        self._triples: dict[Triple, None] = dict.fromkeys(triples)

    def add(self, triple: Triple) -> None:
        self._triples[triple] = None

    def __iter__(self) -> Iterator[Triple]:
        return iter(self._triples)

    def __len__(self) -> int:
        return len(self._triples)


def to_dataset(sources: Sources, links: Links, ref: Reference, ontology: Path, minter: Minter) -> Dataset:
    """The whole dataset: the ontology, the reference data and one named graph per edition."""
    ds = Dataset()
    for prefix, namespace in PREFIXES.items():
        ds.bind(prefix, namespace)
    for name, _, graph in named_graphs(sources, links, ref, ontology, minter):
        target = ds.graph(name)
        for triple in graph:
            target.add(triple)
    return ds


def named_graphs(
    sources: Sources, links: Links, ref: Reference, ontology: Path, minter: Minter
) -> Iterator[tuple[URIRef, GraphKind, Triples]]:
    """The named graphs one at a time, with their kind (ontology, reference data, then each edition), so that a
    large build never holds more than one edition's graph."""
    yield minter.ontology_graph(), GraphKind.ONTOLOGY, Triples(Graph().parse(ontology, format="turtle"))
    yield minter.reference_graph(), GraphKind.REFERENCE, reference_graph(ref, minter, places_in_use(ref, links))
    for edition in sources.editions:
        graph = edition_graph(sources, edition, links, ref, minter)
        yield minter.edition_graph(edition.ordinal), GraphKind.EDITION, graph


def reference_graph(ref: Reference, minter: Minter, places: Sequence[PlaceRef]) -> Triples:
    """``places``, the curated organizations, their kinds and the tracks."""
    g = Triples()
    _reference(g, ref, minter, places)
    return g


def edition_graph(sources: Sources, edition: Edition, links: Links, ref: Reference, minter: Minter) -> Triples:
    """One edition: the series, the edition, its source document, its contests and their organizer roles."""
    g = Triples()
    _edition(g, sources, edition, links, ref, minter)
    return g


# Literals are made once per value (they are immutable): names, places and numbers recur in every edition, and an
# rdflib Literal takes some microseconds to make.
@lru_cache(maxsize=1 << 16)
def _zh(text: str) -> Literal:
    return Literal(text, lang="zh")


@lru_cache(maxsize=1 << 12)
def _en(text: str) -> Literal:
    return Literal(text, lang="en")


@lru_cache(maxsize=1 << 12)
def _int(value: int, datatype: URIRef = XSD.integer) -> Literal:
    return Literal(value, datatype=datatype)


def _labels(g: Triples, node: URIRef, zh: str, en: str | None) -> None:
    for predicate in (SKOS.prefLabel, RDFS.label, SCHEMA.name):
        g.add((node, predicate, _zh(zh)))
        if en:
            g.add((node, predicate, _en(en)))


def _scheme(g: Triples, scheme: URIRef, zh: str, en: str) -> URIRef:
    g.add((scheme, RDF.type, SKOS.ConceptScheme))
    _labels(g, scheme, zh, en)
    return scheme


def _concept(g: Triples, scheme: URIRef, node: URIRef, zh: str, en: str | None) -> URIRef:
    """A top concept of ``scheme`` with its labels."""
    g.add((node, RDF.type, SKOS.Concept))
    g.add((node, SKOS.inScheme, scheme))
    g.add((node, SKOS.topConceptOf, scheme))
    g.add((scheme, SKOS.hasTopConcept, node))
    _labels(g, node, zh, en)
    return node


def _reference(g: Triples, ref: Reference, minter: Minter, places: Sequence[PlaceRef]) -> None:
    for place in places:
        node = minter.place(place.id)
        g.add((node, RDF.type, SCHEMA.AdministrativeArea))
        for place_kind in place.kinds:
            for cls in PLACE_CLASSES[place_kind]:
                g.add((node, RDF.type, cls))
        _labels(g, node, place.name, place.name_en)
        for alt in _place_names(place)[1:]:
            g.add((node, SKOS.altLabel, _zh(alt)))
        if place.last_listed:
            g.add((node, MKG.lastListed, Literal(place.last_listed, datatype=XSD.gYearMonth)))
        if place.parent:
            g.add((node, SCHEMA.containedInPlace, minter.place(place.parent)))
            g.add((minter.place(place.parent), SCHEMA.containsPlace, node))
        if place.code:
            g.add((node, MKG.divisionCode, Literal(place.code)))
        if place.wikidata:
            g.add((node, OWL.sameAs, WD[place.wikidata]))
        g.add((node, DCTERMS.source, _en(place.source)))

    kinds = _scheme(g, minter.scheme("org-kinds"), "组织类型", "Kinds of organization")
    for kind in ref.org_kinds:
        node = _concept(g, kinds, minter.org_kind(kind.id), kind.label_zh, kind.label_en)
        if kind.definition_en:
            g.add((node, SKOS.definition, _en(kind.definition_en)))
        g.add((node, DCTERMS.source, _en(kind.source)))

    for org in ref.organizations:
        node = minter.organization(org.id)
        g.add((node, RDF.type, ORG.Organization))
        g.add((node, RDF.type, SCHEMA.Organization))
        _labels(g, node, org.name, org.name_en)
        for other in org.other_names:
            g.add((node, SKOS.altLabel, _zh(other)))
        g.add((node, ORG.classification, minter.org_kind(org.kind)))
        if org.jurisdiction:
            g.add((node, MKG.jurisdiction, minter.place(org.jurisdiction)))
        if org.parent:
            g.add((node, ORG.subOrganizationOf, minter.organization(org.parent)))
            g.add((minter.organization(org.parent), ORG.hasSubOrganization, node))
        g.add((node, DCTERMS.source, _en(org.source)))
    for misprint in ref.misprints:
        node = minter.organization(misprint.organization)
        # skos:hiddenLabel is SKOS's place for misspellings: searchable, never displayed as a name
        g.add((node, SKOS.hiddenLabel, _zh(misprint.printed)))
        g.add(
            (node, SKOS.editorialNote, _en(f"Printed as {misprint.printed} ({misprint.source}): {misprint.evidence}"))
        )

    for change in ref.changes:
        node = minter.change(change.id)
        original, resulting = minter.organization(change.original), minter.organization(change.resulting)
        g.add((node, RDF.type, ORG.ChangeEvent))
        g.add((node, RDF.type, CHANGE_CLASSES[change.kind]))
        g.add((node, ORG.originalOrganization, original))
        g.add((node, ORG.resultingOrganization, resulting))
        g.add((original, ORG.changedBy, node))
        g.add((resulting, ORG.resultedFrom, node))
        datatype = XSD.gYear if len(change.date) == 4 else XSD.date
        g.add((node, DCTERMS.date, Literal(change.date, datatype=datatype)))
        g.add((node, DCTERMS.source, _en(change.source)))

    scheme = _scheme(g, minter.scheme("tracks"), "专题赛赛道", "Thematic tracks")
    for track in ref.tracks:
        node = _concept(g, scheme, minter.track(track.id), track.label_zh, track.label_en)
        for alt in track.alt_labels:
            g.add((node, SKOS.altLabel, _zh(alt)))
        g.add((node, DCTERMS.source, _en(track.source)))


def _edition(g: Triples, sources: Sources, edition: Edition, links: Links, ref: Reference, minter: Minter) -> None:
    entry = edition.entry
    series = minter.series()
    g.add((series, RDF.type, MKG.ContestSeries))
    g.add((series, RDF.type, SCHEMA.EventSeries))
    _labels(g, series, sources.series.name, sources.series.name_en)
    g.add((series, DCTERMS.source, _en(sources.series.source)))

    node = minter.edition(edition.ordinal)
    g.add((series, SCHEMA.subEvent, node))
    g.add((node, RDF.type, MKG.Edition))
    g.add((node, RDF.type, SCHEMA.Event))
    name = _TITLE_SUFFIX.sub("", edition.title)
    for predicate in (SCHEMA.name, RDFS.label, SKOS.prefLabel):
        g.add((node, predicate, _zh(name)))
    g.add((node, MKG.ordinal, _int(edition.ordinal)))
    g.add((node, MKG.year, Literal(f"{entry.year:04d}", datatype=XSD.gYear)))
    g.add((node, DCTERMS.source, _en(entry.year_source)))
    g.add((node, SCHEMA.superEvent, series))

    document = minter.source(entry.file)
    g.add((node, PROV.wasDerivedFrom, document))
    g.add((document, RDF.type, SCHEMA.DigitalDocument))
    g.add((document, RDF.type, PROV.Entity))
    g.add((document, DCTERMS.title, _zh(edition.title)))
    g.add((document, RDFS.label, _zh(edition.title)))
    g.add((document, DCTERMS.source, _en(entry.source)))
    g.add((document, DCTERMS.identifier, Literal(f"sha256:{edition.sha256}")))
    g.add((document, SCHEMA.encodingFormat, Literal("text/plain")))

    for record in edition.sections:
        if record.declared is not None:
            declared = minter.declared(edition.ordinal, record.section.value)
            g.add((node, MKG.declaredCount, declared))
            g.add((declared, RDF.type, MKG.DeclaredCount))
            g.add((declared, MKG.contestKind, KIND[record.section]))
            g.add((declared, MKG["count"], _int(record.declared, XSD.integer)))
            g.add((declared, PROV.wasDerivedFrom, _excerpt(g, minter, entry.file, document, record.header)))

    keys = contest_keys(edition, links)
    for contest in edition.contests:
        iri = minter.contest(edition.ordinal, contest.section.value, keys[contest])
        _contest(g, minter, edition, contest, iri, node, document, links, ref)


def _excerpt(g: Triples, minter: Minter, file: str, document: URIRef, lines: LineRange) -> URIRef:
    excerpt = minter.excerpt(file, lines.first, lines.last)
    g.add((excerpt, RDF.type, MKG.SourceExcerpt))
    g.add((excerpt, RDF.type, PROV.Entity))
    g.add((excerpt, DCTERMS.isPartOf, document))
    g.add((excerpt, MKG.firstLine, _int(lines.first)))
    g.add((excerpt, MKG.lastLine, _int(lines.last)))
    return excerpt


def _contest(
    g: Triples,
    minter: Minter,
    edition: Edition,
    contest: Contest,
    iri: URIRef,
    edition_node: URIRef,
    document: URIRef,
    links: Links,
    ref: Reference,
) -> None:
    g.add((edition_node, SCHEMA.subEvent, iri))
    g.add((iri, RDF.type, MKG.Contest))
    g.add((iri, RDF.type, SCHEMA.Event))
    for predicate in (SCHEMA.name, RDFS.label):
        g.add((iri, predicate, _zh(contest.name)))
    g.add((iri, MKG.contestKind, KIND[contest.section]))
    g.add((iri, SCHEMA.superEvent, edition_node))
    if contest.row is not None:
        g.add((iri, MKG.rowNumber, _int(contest.row)))
    g.add((iri, PROV.wasDerivedFrom, _excerpt(g, minter, edition.entry.file, document, contest.lines)))

    place = links.place(contest.place)
    place_node = minter.place(place.id)
    g.add((iri, SCHEMA.location, place_node))
    g.add((iri, MKG.printedPlace, _zh(contest.place)))
    if place.unresolved:
        g.add((place_node, RDF.type, SCHEMA.AdministrativeArea))
        _unresolved(g, place_node)
        for candidate in place.candidates:
            g.add((place_node, MKG.candidate, minter.place(candidate)))
    known = ref.find_place(place.id)
    _printed_label(g, place_node, contest.place, _place_names(known) if known else (), place)

    if contest.section is Section.THEMATIC:
        track = links.track(contest.topic)
        track_node = minter.track(track.id)
        g.add((iri, MKG.track, track_node))
        known_track = ref.find_track(track.id)
        labels = (known_track.label_zh, *known_track.alt_labels) if known_track else ()
        if track.unresolved:
            g.add((track_node, RDF.type, SKOS.Concept))
            g.add((track_node, SKOS.inScheme, minter.scheme("tracks")))
            _unresolved(g, track_node)
        _printed_label(g, track_node, contest.topic, labels, track)

    for name in contest.organizers:
        org = links.organization(name.printed)
        org_node = minter.organization(org.id)
        association = minter.association(iri, name.role.value, name.position)
        g.add((iri, PROV.qualifiedAssociation, association))
        g.add((association, RDF.type, PROV.Association))
        g.add((association, PROV.agent, org_node))
        g.add((association, PROV.hadRole, ROLE[name.role]))
        g.add((association, MKG.printedName, _zh(name.printed)))
        g.add((association, MKG.position, _int(name.position)))
        if name.role is Role.UNDERTAKER:
            g.add((iri, MKG.undertaker, org_node))
        else:
            g.add((iri, SCHEMA.organizer, org_node))
            if name.role is Role.LEAD:
                g.add((iri, MKG.leadOrganizer, org_node))
        if org.unresolved:
            g.add((org_node, RDF.type, ORG.Organization))
            g.add((org_node, RDF.type, SCHEMA.Organization))
            _unresolved(g, org_node)
        known_org = ref.find_organization(org.id)
        names = (known_org.name, *known_org.other_names) if known_org else ()
        _printed_label(g, org_node, name.printed, names, org)

    for address in contest.addresses:
        g.add((iri, MKG.registrationPage, URIRef(address.iri)))
    if contest.printed_registration is not None:
        g.add((iri, MKG.printedRegistration, _zh(contest.printed_registration)))


def _place_names(place: PlaceRef) -> tuple[str, ...]:
    """Its name, then each other name once: curated, short and former ones."""
    return tuple(dict.fromkeys((place.name, *place.alt_names, *place.short_names, *place.former_names)))


def _unresolved(g: Triples, node: URIRef) -> None:
    """Flag a resource that only the plans name: no reference row knows it (yet)."""
    g.add((node, MKG.unresolved, Literal(True)))


def _printed_label(g: Triples, node: URIRef, printed: str, names: Sequence[str], match: Match) -> None:
    """Keep a printed form on the resource it names: an alternative label (hidden for a misprint) unless it is
    already one of its names letter for letter; a resource only the plans name takes its first printed form."""
    method = match.method
    if method == "unresolved":
        for predicate in (SKOS.prefLabel, RDFS.label, SCHEMA.name):
            g.add((node, predicate, _zh(match.label)))
        names = (match.label,)
    if printed in names:
        return  # already a label of the resource, letter for letter
    label: Node = SKOS.hiddenLabel if method == "misprint" else SKOS.altLabel
    g.add((node, label, _zh(printed)))
