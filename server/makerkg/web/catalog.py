"""The build's findable resources (editions, contests, organizations, places, tracks) with their names, kinds,
places and contests, read once per build from the graph: what the listings list, search finds, reconciliation
matches, the maps place and the sitemap names.

The names come from the graph rather than from a file the pipeline would write beside it: the graph already states
every name the build's resolution used (``skos:prefLabel``; other names, short names and printed forms as
``skos:altLabel``; misprints as ``skos:hiddenLabel``; division codes) and the place hierarchy, checked by the
shapes, so reading them through the query pool needs no second file to keep in step with the graph, serves a
remote store the same way, and keeps the linker out of the web process. The rules names are compared and read by
(normalisation, dual names, chains of places) are the linker's own, from ``makerkg.names``.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cached_property

from flask import current_app

from makerkg.errors import UsageError
from makerkg.iris import Layout
from makerkg.names import MAX_NAME, chains, dual_name, normalise
from makerkg.namespaces import MKG, PREFIXES
from makerkg.store.query import Term, language, select, value
from makerkg.web.engine import Snapshot

log = logging.getLogger(__name__)

SKOS = PREFIXES["skos"]
SCHEMA = PREFIXES["schema"]
RDFS = PREFIXES["rdfs"]
RDF_TYPE = PREFIXES["rdf"] + "type"
# the kinds of resource, in the order search ranks equal hits
KINDS = ("place", "organization", "track", "edition", "contest")
KIND_LABELS = {
    "place": "place",
    "organization": "organization",
    "track": "track",
    "edition": "edition",
    "contest": "contest",
}
# the names of a resource, by the property that states them: what kind of name each is, and how much a hit on it
# counts for in search (a misprint finds its body, below the bodies whose real names match)
NAME_FIELDS = {
    SKOS + "prefLabel": ("name", 1.0),
    SCHEMA + "name": ("name", 1.0),
    RDFS + "label": ("name", 1.0),
    SKOS + "altLabel": ("other name", 0.97),
    SKOS + "hiddenLabel": ("misprint", 0.9),
    MKG + "divisionCode": ("code", 1.0),
}
# place classes, most specific first: a place's kinds in this order
PLACE_CLASSES = (
    MKG + "ProvinceLevelDivision",
    MKG + "ProductionConstructionCorps",
    MKG + "SeparatelyPlannedCity",
    MKG + "PrefectureLevelDivision",
    MKG + "CountyLevelDivision",
    MKG + "StateLevelNewArea",
)
MAX_ROWS = 5_000_000  # the catalog reads whole tables of the graph; a cut one would be a wrong catalog
EXACT = 100.0


@dataclass(frozen=True)
class Name:
    """One name of a resource as the graph states it, its matching key, what kind of name it is and its weight."""

    text: str
    key: str
    field: str  # name, other name, misprint, code, id
    weight: float
    lang: str = ""


@dataclass(frozen=True)
class Category:
    """A kind a resource is of (an organization kind, a place's level, a contest kind): IRI, id and labels."""

    iri: str
    id: str
    label: str
    label_en: str


@dataclass(frozen=True)
class Entity:
    """A findable resource of the build."""

    iri: str
    path: str  # the IRI under the base: the server path without its leading slash, and the reconciliation id
    kind: str  # one of KINDS
    label: str  # the Chinese name, else the English one, else the path
    english: str
    names: tuple[Name, ...]
    categories: tuple[Category, ...]
    unresolved: bool = False
    parent: str | None = None  # a place: the place it lies in
    jurisdiction: str | None = None  # an organization: the place whose government it belongs to
    ordinal: int | None = None  # an edition's ordinal, a contest's edition
    year: str = ""  # an edition's year
    location: str | None = None  # a contest: its place
    track: str | None = None  # a contest: its track
    contest_kind: str | None = None  # a contest: its kind's IRI
    agents: tuple[tuple[str, str], ...] = ()  # a contest: (organization, role IRI) of each organizer role

    @property
    def href(self) -> str:
        return "/" + self.path


@dataclass(frozen=True)
class Hit:
    """A resource found for a text: how well it matched, by which of its names, and whether the match is exact."""

    entity: Entity
    score: float
    name: Name
    exact: bool


@dataclass(frozen=True)
class Catalog:
    """Every findable resource of one build, with the indexes search and reconciliation use."""

    build: str
    base: str
    editions: tuple[int, ...]
    entities: Mapping[str, Entity]  # by IRI
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # any labelled IRI: (zh, en)
    # names that name several places by the build's rules (match key → place ids), though the graph may describe
    # only one of them: the linker reads all the divisions of its reference table, the graph holds those in use
    shared_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def by_kind(self) -> dict[str, list[Entity]]:
        found: dict[str, list[Entity]] = {kind: [] for kind in KINDS}
        for entity in self.entities.values():
            found[entity.kind].append(entity)
        for entities in found.values():
            entities.sort(key=lambda e: (e.ordinal or 0, e.path))
        return found

    @cached_property
    def by_path(self) -> dict[str, Entity]:
        return {e.path: e for e in self.entities.values()}

    @cached_property
    def _keys(self) -> dict[str, list[tuple[Entity, Name]]]:
        found: dict[str, list[tuple[Entity, Name]]] = defaultdict(list)
        for entity in self.entities.values():
            for name in entity.names:
                found[name.key].append((entity, name))
        return found

    @cached_property
    def _longest(self) -> int:
        """The length of the longest key: no longer text is any name, nor part of one."""
        return max(map(len, self._keys), default=0)

    @cached_property
    def contests_of(self) -> dict[str, tuple[Entity, ...]]:
        """The contests each resource is named by: an organization's (any role), a place's (held there or in a
        place within it), a track's, an edition's, a contest itself."""
        found: dict[str, set[str]] = defaultdict(set)
        for contest in self.by_kind["contest"]:
            found[contest.iri].add(contest.iri)
            for agent, _ in contest.agents:
                found[agent].add(contest.iri)
            if contest.track:
                found[contest.track].add(contest.iri)
            for place in self.ancestry(contest.location):
                found[place].add(contest.iri)
            for edition in self.by_kind["edition"]:
                if edition.ordinal == contest.ordinal:
                    found[edition.iri].add(contest.iri)
        return {
            iri: tuple(sorted((self.entities[c] for c in contests), key=lambda c: (c.ordinal or 0, c.label)))
            for iri, contests in found.items()
        }

    def ancestry(self, place: str | None) -> list[str]:
        """A place and every place it lies in, innermost first."""
        chain: list[str] = []
        while place is not None and place not in chain:
            chain.append(place)
            entity = self.entities.get(place)
            place = entity.parent if entity is not None else None
        return chain

    def counts(self, entity: Entity) -> dict[int, int]:
        """The number of the resource's contests in each edition of the build (0 where it has none)."""
        found = dict.fromkeys(self.editions, 0)
        for contest in self.contests_of.get(entity.iri, ()):
            if contest.ordinal is not None:
                found[contest.ordinal] = found.get(contest.ordinal, 0) + 1
        return found

    def places_of(self, entity: Entity) -> set[str]:
        """The places a resource is tied to: where its contests are held, an organization's jurisdiction, a place
        itself."""
        found = {c.location for c in self.contests_of.get(entity.iri, ()) if c.location}
        if entity.kind == "place":
            found.add(entity.iri)
        if entity.jurisdiction:
            found.add(entity.jurisdiction)
        return found

    def describe(self, entity: Entity) -> str:
        """One line that tells namesakes apart: kind, what it lies in or belongs to, its editions."""
        parts = [" / ".join(c.label_en or c.label for c in entity.categories) or KIND_LABELS[entity.kind]]
        for word, other in (("in", entity.parent), ("of", entity.jurisdiction), ("held in", entity.location)):
            if other is not None and other in self.entities:
                parts.append(f"{word} {self.entities[other].label}")
        editions = [str(n) for n, count in self.counts(entity).items() if count] if entity.kind != "edition" else []
        if editions and entity.kind != "contest":
            parts.append(("editions " if len(editions) > 1 else "edition ") + ", ".join(editions))
        elif entity.kind in ("contest", "edition") and entity.ordinal is not None:
            parts.append(f"edition {entity.ordinal}" + (f" ({entity.year})" if entity.year else ""))
        if entity.unresolved:
            parts.append("not in the reference data")
        return "; ".join(parts)

    # --- finding names ------------------------------------------------------------------------------------------

    def exact(self, text: str, kinds: Iterable[str] = KINDS) -> list[Hit]:
        """The resources of ``kinds`` a text names exactly, by the build's rules: any of their names (misprints
        and printed forms included), a dual name 甲(乙) whose two names name the same body, a place read as a chain
        of places each inside the one before, an IRI or an id. Several hits mean the text is ambiguous."""
        wanted = set(kinds)
        key = match_key(text)
        if not key:
            return []
        found: dict[str, Hit] = {}
        for entity, name in self._keys.get(key, []):
            if entity.kind in wanted and entity.iri not in found:
                found[entity.iri] = Hit(entity, EXACT, name, True)
        by_id = self.by_path.get(text.strip().removeprefix(self.base).strip("/"))
        if by_id is not None and by_id.kind in wanted:
            found.setdefault(by_id.iri, Hit(by_id, EXACT, Name(by_id.path, by_id.path, "id", 1.0), True))
        if found:
            return sorted(found.values(), key=_rank)
        dual = dual_name(key)
        if dual is not None and "organization" in wanted:
            first = {e.iri for e, _ in self._keys.get(dual[0], []) if e.kind == "organization"}
            second = {e.iri for e, _ in self._keys.get(dual[1], []) if e.kind == "organization"}
            if len(first) == 1 and first == second:
                entity = self.entities[first.pop()]
                return [Hit(entity, EXACT, Name(text, key, "dual name", 1.0), True)]
        if "place" in wanted:
            return [Hit(self.entities[iri], EXACT, Name(text, key, "places", 1.0), True) for iri in self._chain(key)]
        return []

    def names_several(self, text: str) -> tuple[str, ...]:
        """The ids of the places a text names when it names more than one by the build's rules (``()`` when it
        does not): 朝阳 names four divisions, though the graph describes only Beijing's."""
        return self.shared_names.get(match_key(text), ())

    def _chain(self, key: str) -> list[str]:
        """The places a key names as a chain of names, the places' own names tried before their other names."""
        for fields in (("name", "code"), ("name", "code", "other name", "misprint")):

            def named(name: str, fields: tuple[str, ...] = fields) -> list[str]:
                return [e.iri for e, n in self._keys.get(name, []) if e.kind == "place" and n.field in fields]

            found = chains(key, named, self._inside, self._longest)
            if found:
                return found
        return []

    def _inside(self, place: str, ancestor: str) -> bool:
        return ancestor in self.ancestry(place)[1:]

    def search(self, text: str, kinds: Iterable[str] = KINDS) -> list[Hit]:
        """Every resource of ``kinds`` one of whose names contains the text (Chinese has no spaces: substrings,
        not words), best first: exact names, then names that begin with it, then the rest, shorter names first."""
        key = match_key(text)
        wanted = set(kinds)
        if not key:
            return []
        best: dict[str, Hit] = {h.entity.iri: h for h in self.exact(text, wanted)}
        for name_key, named in self._keys.items() if len(key) <= self._longest else ():
            if key not in name_key:
                continue
            share = len(key) / len(name_key)
            score = 80 + 19 * share if name_key.startswith(key) else 50 + 29 * share
            for entity, name in named:
                if entity.kind not in wanted:
                    continue
                hit = Hit(entity, round(score * name.weight, 2), name, False)
                if entity.iri not in best or _rank(hit) < _rank(best[entity.iri]):
                    best[entity.iri] = hit
        return sorted(best.values(), key=_rank)

    def similar(self, text: str, kinds: Iterable[str] = KINDS, floor: float = 40.0) -> list[Hit]:
        """Resources whose names resemble the text (difflib's ratio of the two keys), for a name the build does
        not know: candidates, never an exact match."""
        key = match_key(text)
        wanted = set(kinds)
        best: dict[str, Hit] = {}
        matcher = SequenceMatcher(autojunk=False)
        matcher.set_seq2(key)
        for name_key, named in self._keys.items():
            # the ratio is at most 2 * shorter / (both lengths), what real_quick_ratio gives: keys whose length
            # alone puts them under the floor are skipped before difflib looks at them
            if 2 * min(len(key), len(name_key)) * 95 < floor * (len(key) + len(name_key)):
                continue
            matcher.set_seq1(name_key)
            if matcher.quick_ratio() * 95 < floor:
                continue
            score = round(matcher.ratio() * 95, 2)
            if score < floor:
                continue
            for entity, name in named:
                if entity.kind in wanted and (entity.iri not in best or score > best[entity.iri].score):
                    best[entity.iri] = Hit(entity, score, name, False)
        return sorted(best.values(), key=_rank)


def match_key(text: str) -> str:
    """The key names are matched by: the linker's normal form, case folded (``Jiangsu`` finds ``jiangsu``).

    >>> match_key(" 工业和信息化部（工信部） "), match_key("Jiangsu")
    ('工业和信息化部(工信部)', 'jiangsu')
    """
    return normalise(text).casefold()


def name_text(text: str, parameter: str, where: str = "") -> str:
    """``text``, when it is short enough to be a name, as given and as its matching key (NFKC can make one
    character 18); raises UsageError naming ``parameter`` (and ``where`` in it) otherwise.

    >>> name_text("杭州", "q")
    '杭州'
    """
    if len(text) > MAX_NAME:
        raise UsageError(parameter, f"{where}longer than {MAX_NAME} characters")
    if len(match_key(text)) > MAX_NAME:
        raise UsageError(parameter, f"{where}longer than {MAX_NAME} characters once normalised (NFKC)")
    return text


def _rank(hit: Hit) -> tuple[float, int, int, str]:
    return (-hit.score, KINDS.index(hit.entity.kind), len(hit.entity.label), hit.entity.path)


# --- reading the catalog from the graph ------------------------------------------------------------------------


def _select(snapshot: Snapshot, query: str) -> list[dict[str, Term]]:
    """A SELECT query's rows, whole: a catalog read from a cut answer would be wrong."""
    return select(snapshot.pool, query, MAX_ROWS, whole=True)


def _local_id(iri: str) -> str:
    """The last segment of an IRI: ``ministry`` for …/org-kind/ministry, ``ProvinceLevelDivision`` for mkg:….

    >>> _local_id("https://w3id.org/makerkg/org-kind/ministry"), _local_id(MKG + "RegionalContest")
    ('ministry', 'RegionalContest')
    """
    return iri.rsplit("#", 1)[-1] if "#" in iri else iri.rstrip("/").rsplit("/", 1)[-1]


def _first(values: Sequence[str]) -> str | None:
    return min(values) if values else None


def load(snapshot: Snapshot) -> Catalog:
    """Read the catalog of a build through its query pool."""
    layout: Layout[str] = snapshot.layout
    base = snapshot.build.info.base
    kinds: dict[str, str] = {}
    for row in _select(
        snapshot,
        f"PREFIX skos: <{SKOS}> PREFIX schema: <{SCHEMA}> PREFIX mkg: <{MKG}> PREFIX org: <{PREFIXES['org']}> "
        "SELECT ?x ?kind WHERE { "
        '{ ?x a org:Organization BIND ("organization" AS ?kind) } '
        'UNION { ?x a schema:AdministrativeArea BIND ("place" AS ?kind) } '
        f'UNION {{ ?x a skos:Concept ; skos:inScheme <{layout.scheme("tracks")}> BIND ("track" AS ?kind) }} '
        'UNION { ?x a mkg:Contest BIND ("contest" AS ?kind) } '
        'UNION { ?x a mkg:Edition BIND ("edition" AS ?kind) } '
        "FILTER (isIRI(?x)) }",
    ):
        iri = value(row, "x")
        if layout.local_path(iri) is not None and iri.startswith(base):
            kinds.setdefault(iri, value(row, "kind"))
    names: dict[str, list[Name]] = defaultdict(list)
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    values = " ".join(f"<{p}>" for p in NAME_FIELDS)
    for row in _select(
        snapshot,
        f"SELECT ?x ?p ?l WHERE {{ VALUES ?p {{ {values} }} ?x ?p ?l FILTER (isIRI(?x)) }}",
    ):
        iri, predicate, text, lang = value(row, "x"), value(row, "p"), value(row, "l"), language(row["l"])
        if predicate in (SKOS + "prefLabel", RDFS + "label", SCHEMA + "name"):
            labels[iri].setdefault(lang, text)
        if iri in kinds:
            field_name, weight = NAME_FIELDS[predicate]
            names[iri].append(Name(text, match_key(text), field_name, weight, lang))
    facts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    predicates = (
        RDF_TYPE,
        PREFIXES["org"] + "classification",
        MKG + "jurisdiction",
        SCHEMA + "containedInPlace",
        MKG + "unresolved",
        SCHEMA + "superEvent",
        SCHEMA + "location",
        MKG + "track",
        MKG + "contestKind",
        MKG + "ordinal",
        MKG + "year",
    )
    for row in _select(
        snapshot,
        f"SELECT ?x ?p ?o WHERE {{ VALUES ?p {{ {' '.join(f'<{p}>' for p in predicates)} }} ?x ?p ?o }}",
    ):
        if value(row, "x") in kinds:
            facts[value(row, "x")][value(row, "p")].append(value(row, "o"))
    agents: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in _select(
        snapshot,
        f"PREFIX prov: <{PREFIXES['prov']}> SELECT ?c ?agent ?role WHERE {{ ?c prov:qualifiedAssociation ?a . "
        "?a prov:agent ?agent ; prov:hadRole ?role }",
    ):
        agents[value(row, "c")].append((value(row, "agent"), value(row, "role")))
    ordinals = {
        iri: int(facts[iri][MKG + "ordinal"][0])
        for iri, kind in kinds.items()
        if kind == "edition" and facts[iri][MKG + "ordinal"]
    }

    def category(iri: str) -> Category:
        found = labels.get(iri, {})
        return Category(iri, _local_id(iri), found.get("zh") or found.get("en") or _local_id(iri), found.get("en", ""))

    entities: dict[str, Entity] = {}
    for iri, kind in kinds.items():
        own, label = facts[iri], labels.get(iri, {})
        path = (layout.local_path(iri) or iri)[1:]
        local = _local_id(iri)
        entity_names = [*names[iri], Name(path, match_key(path), "id", 1.0)]
        if kind in ("organization", "track"):
            entity_names.append(Name(local, match_key(local), "id", 1.0))
        if kind == "place":
            types = set(own[RDF_TYPE])
            categories = tuple(category(c) for c in PLACE_CLASSES if c in types)
        elif kind == "organization":
            categories = tuple(category(c) for c in sorted(own[PREFIXES["org"] + "classification"]))
        elif kind == "contest":
            categories = tuple(category(c) for c in sorted(own[MKG + "contestKind"]))
        else:
            categories = ()
        edition = (own[SCHEMA + "superEvent"] or [""])[0]
        ordinal = ordinals.get(iri) if kind == "edition" else ordinals.get(edition)
        if kind == "edition" and ordinal is not None:
            entity_names.append(Name(str(ordinal), str(ordinal), "code", 1.0))
        entities[iri] = Entity(
            iri=iri,
            path=path,
            kind=kind,
            label=label.get("zh") or label.get("en") or next(iter(label.values()), path),
            english=label.get("en", "") if label.get("zh") else "",
            names=tuple(entity_names),
            categories=categories,
            unresolved="true" in own[MKG + "unresolved"],
            parent=_first(own[SCHEMA + "containedInPlace"]) if kind == "place" else None,
            jurisdiction=_first(own[MKG + "jurisdiction"]),
            ordinal=ordinal if kind in ("edition", "contest") else None,
            year=_first(own[MKG + "year"]) or "",
            location=_first(own[SCHEMA + "location"]) if kind == "contest" else None,
            track=_first(own[MKG + "track"]) if kind == "contest" else None,
            contest_kind=_first(own[MKG + "contestKind"]) if kind == "contest" else None,
            agents=tuple(sorted(set(agents.get(iri, [])))) if kind == "contest" else (),
        )
    editions = tuple(snapshot.build.info.editions)
    flat = {iri: (found.get("zh", ""), found.get("en", "")) for iri, found in labels.items()}
    shared = {match_key(k): v for k, v in snapshot.build.info.summary.shared_place_names.items()}
    return Catalog(snapshot.build.info.id, base, editions, entities, flat, shared)


class Catalogs:
    """The catalog of the build being served, read on first use and again when a new build is served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Catalog | None = None

    def get(self, snapshot: Snapshot) -> Catalog:
        found = self._current
        if found is not None and found.build == snapshot.build.info.id:
            return found
        with self._lock:
            found = self._current
            if found is None or found.build != snapshot.build.info.id:
                found = self._current = load(snapshot)
                log.info("catalog of build %s: %d resources", found.build, len(found.entities))
            return found


def get_catalog(snapshot: Snapshot) -> Catalog:
    """The catalog of ``snapshot``'s build, kept by the running app."""
    catalogs = current_app.extensions.setdefault("makerkg.catalog", Catalogs())
    assert isinstance(catalogs, Catalogs)  # noqa: S101 - set here alone
    return catalogs.get(snapshot)


def kinds_parameter(value: str | None, parameter: str, allowed: Sequence[str] = KINDS) -> tuple[str, ...]:
    """The kinds of resource a comma-separated parameter names (all when absent); raises UsageError naming it."""
    if value is None or not value.strip():
        return tuple(allowed)
    wanted = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [v for v in wanted if v not in allowed]
    if unknown:
        raise UsageError(parameter, f"unknown kind {unknown[0]!r}; kinds: {', '.join(allowed)}")
    return wanted
