"""Resolve printed organization names, places and thematic topics to reference entries.

Matching is on the normalised form (NFKC, no white space, so full- and half-width punctuation agree). A name that
matches nothing gets an identifier derived from its normalised form, and a line in the report: nothing printed is
dropped, and nothing is fixed silently.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from makerkg.link.reference import PlaceRef, Reference
from makerkg.model import Contest, Edition, Section
from makerkg.names import chains, dual_name, normalise

_Matcher = Callable[[str], "Match | None"]


def unresolved_id(text: str) -> str:
    """The identifier of a name that matches no reference row: ``u-`` and 12 hex digits of its SHA-256.

    >>> unresolved_id("某某促进会")
    'u-f7650be18700'
    """
    return "u-" + hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Match:
    """How one printed form resolved: the reference id (or an ``u-`` id) and the rule that matched."""

    id: str
    method: str  # name, other-name, short-name, former-name, misprint, dual-name, hierarchy, unresolved
    label: str = ""  # for an unresolved form: the first printed form, which becomes the resource's name
    candidates: tuple[str, ...] = ()  # for an ambiguous form: every place it could name, none chosen

    @property
    def unresolved(self) -> bool:
        return self.method == "unresolved"


@dataclass(frozen=True)
class Mention:
    """Where a printed form stands in the sources."""

    edition: int
    file: str
    line: int


@dataclass(frozen=True)
class Unresolved:
    """A printed form that matches nothing in the reference data."""

    kind: str  # organization, place, track
    printed: str
    mentions: tuple[Mention, ...]
    why: str = ""  # why it is not resolved, when matching nothing is not the reason (an ambiguous place)

    def __str__(self) -> str:
        where = ", ".join(f"{m.file}:{m.line}" for m in self.mentions)
        return f"{self.kind} {self.printed!r} ({where})" + (f": {self.why}" if self.why else "")


@dataclass(frozen=True)
class Links:
    """The resolution of every printed form in a set of editions."""

    organizations: dict[str, Match]  # keyed by normalised printed name
    places: dict[str, Match]
    tracks: dict[str, Match]
    unresolved: tuple[Unresolved, ...]
    printed_organizations: int  # distinct printed forms
    by_method: dict[str, int] = field(default_factory=dict)
    # the names of the places in use that name several places by the rules above (normal form → their ids): a
    # reconciliation service matches none of them, as the linker would not
    shared_place_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def organization(self, printed: str) -> Match:
        return self.organizations[normalise(printed)]

    def place(self, printed: str) -> Match:
        return self.places[normalise(printed)]

    def track(self, topic: str) -> Match:
        return self.tracks[normalise(topic)]


def resolve(editions: Sequence[Edition], ref: Reference) -> Links:
    """Resolve every printed organization, place and thematic topic of ``editions`` against ``ref``."""
    orgs = _OrgIndex(ref)
    places = _PlaceIndex(ref.places)
    tracks = _TrackIndex(ref)
    org_mentions: dict[str, list[tuple[str, Mention]]] = defaultdict(list)
    place_mentions: dict[str, list[tuple[str, Mention]]] = defaultdict(list)
    track_mentions: dict[str, list[tuple[str, Mention]]] = defaultdict(list)
    for edition in editions:
        for contest in edition.contests:
            mention = Mention(edition.ordinal, edition.entry.file, contest.lines.first)
            for name in contest.organizers:
                org_mentions[normalise(name.printed)].append((name.printed, mention))
            place_mentions[normalise(contest.place)].append((contest.place, mention))
            if contest.section is Section.THEMATIC:
                track_mentions[normalise(contest.topic)].append((contest.topic, mention))
    unresolved: list[Unresolved] = []
    org_links = _resolve_all("organization", org_mentions, orgs.match, unresolved)
    place_links = _resolve_all("place", place_mentions, places.match, unresolved)
    track_links = _resolve_all("track", track_mentions, tracks.match, unresolved)
    methods: dict[str, int] = defaultdict(int)
    for match in org_links.values():
        methods[match.method] += 1
    links = Links(
        organizations=org_links,
        places=place_links,
        tracks=track_links,
        unresolved=tuple(unresolved),
        printed_organizations=len(org_links),
        by_method=dict(sorted(methods.items())),
    )
    return replace(links, shared_place_names=_shared_names(places, places_in_use(ref, links)))


def _shared_names(index: _PlaceIndex, places: Iterable[PlaceRef]) -> dict[str, tuple[str, ...]]:
    """The names of ``places`` (any tier) that the index finds ambiguous, by normal form, with what they name."""
    shared: dict[str, tuple[str, ...]] = {}
    for place in places:
        for name in (place.name, *place.alt_names, *place.short_names, *place.former_names):
            key = normalise(name)
            if key not in shared:
                match = index.match(key)
                if match is not None and match.method == "ambiguous":
                    shared[key] = match.candidates
    return dict(sorted(shared.items()))


def _resolve_all(
    kind: str,
    mentions: dict[str, list[tuple[str, Mention]]],
    match: _Matcher,
    unresolved: list[Unresolved],
) -> dict[str, Match]:
    links: dict[str, Match] = {}
    for key in sorted(mentions):
        found = match(key)
        if found is None or found.candidates:
            printed = mentions[key][0][0]
            why = "" if found is None else found.label
            candidates = () if found is None else found.candidates
            found = Match(unresolved_id(key), "unresolved", printed, candidates)
            unresolved.append(Unresolved(kind, printed, tuple(m for _, m in mentions[key]), why))
        links[key] = found
    return links


class _OrgIndex:
    def __init__(self, ref: Reference) -> None:
        self.names: dict[str, Match] = {}
        for org in ref.organizations:
            self.names[normalise(org.name)] = Match(org.id, "name")
        for org in ref.organizations:
            for other in org.other_names:
                self.names.setdefault(normalise(other), Match(org.id, "other-name"))
        for misprint in ref.misprints:
            self.names.setdefault(normalise(misprint.printed), Match(misprint.organization, "misprint"))

    def match(self, key: str) -> Match | None:
        found = self.names.get(key)
        if found is not None:
            return found
        dual = dual_name(key)
        if dual is None:
            return None
        first, second = self.names.get(dual[0]), self.names.get(dual[1])
        # 甲（乙）: a body bearing two names at once; both must name the same organization
        if first is not None and second is not None and first.id == second.id:
            return Match(first.id, "dual-name")
        return None


class _PlaceIndex:
    """Places by name; a printed 浙江省杭州市 is read as a chain of names, each inside the one before.

    Names are tried in tiers, each only when the ones before match nothing: the names of current divisions and
    curated places; curated other names (places.csv); short names (武汉 for 武汉市); names of former divisions
    and former names. A printed form that names more than one place within a tier is ambiguous: reported with
    its candidates, never guessed.
    """

    TIERS = ("name", "other-name", "short-name", "former-name")

    def __init__(self, places: Iterable[PlaceRef]) -> None:
        self.parent: dict[str, str | None] = {}
        self.names: dict[str, str] = {}
        self.by_name: list[dict[str, list[str]]] = [defaultdict(list) for _ in self.TIERS]
        for place in places:
            self.parent[place.id] = place.parent
            self.names[place.id] = place.name
            if place.current:
                tiers = [(place.name,), place.alt_names, place.short_names, place.former_names]
            else:
                tiers = [(), place.alt_names, (), (place.name, *place.short_names, *place.former_names)]
            for tier, names in enumerate(tiers):
                for name in names:
                    ids = self.by_name[tier][normalise(name)]
                    if place.id not in ids:
                        ids.append(place.id)
        self.longest = max((len(name) for names in self.by_name for name in names), default=0)

    def _inside(self, place: str, ancestor: str) -> bool:
        current = self.parent.get(place)
        while current is not None:
            if current == ancestor:
                return True
            current = self.parent.get(current)
        return False

    def _named(self, name: str, tier: int) -> list[str]:
        return [id for t in range(tier + 1) for id in self.by_name[t].get(name, [])]

    def _chains(self, key: str, tier: int) -> list[str]:
        """Ids the whole of ``key`` can name, as a chain of names each inside the previous one."""
        return chains(key, lambda name: self._named(name, tier), self._inside, self.longest)

    def full_name(self, id: str) -> str:
        """湖北省武汉市江岸区: the names of a place and its ancestors."""
        chain = [self.names[id]]
        parent = self.parent.get(id)
        while parent is not None:
            chain.append(self.names[parent])
            parent = self.parent.get(parent)
        return "".join(reversed(chain))

    def match(self, key: str) -> Match | None:
        for tier, method in enumerate(self.TIERS):
            found = self._chains(key, tier)
            if len(found) == 1:
                exact = found[0] in self._named(key, tier)
                return Match(found[0], method if exact else "hierarchy")
            if found:
                named = ", ".join(f"{id} ({self.full_name(id)})" for id in found)
                why = f"ambiguous, it names {named}; print the division it lies in"
                return Match("", "ambiguous", why, tuple(found))
        return None


class _TrackIndex:
    def __init__(self, ref: Reference) -> None:
        self.labels: dict[str, Match] = {}
        for track in ref.tracks:
            self.labels[normalise(track.label_zh)] = Match(track.id, "name")
        for track in ref.tracks:
            for alt in track.alt_labels:
                self.labels.setdefault(normalise(alt), Match(track.id, "other-name"))

    def match(self, key: str) -> Match | None:
        return self.labels.get(key)


def places_in_use(ref: Reference, links: Links) -> list[PlaceRef]:
    """The places a build describes: every curated place, every place a printed place resolved to or could name
    (an ambiguous one's candidates), every curated organization's jurisdiction, and all the places they lie in.
    The other divisions of the table serve resolution only, so the graph does not grow by thousands of places
    no edition names."""
    ids = {p.id for p in ref.places if p.curated}
    for match in links.places.values():
        ids.update(match.candidates if match.unresolved else (match.id,))
    ids.update(o.jurisdiction for o in ref.organizations if o.jurisdiction)
    return ref.with_ancestors(ids)


def contest_keys(edition: Edition, links: Links) -> dict[Contest, str]:
    """The key of each contest's IRI within its edition: regional → its place id, thematic → its track id,
    final and overseas → nothing more when the section has one contest. Where two contests of a section would
    share a key, each gets 6 hex digits of its name's SHA-256 added, so keys never depend on row order."""
    keys: dict[Contest, str] = {}
    for record in edition.sections:
        natural: dict[Contest, str] = {}
        for contest in record.contests:
            if record.section is Section.REGIONAL:
                natural[contest] = links.place(contest.place).id
            elif record.section is Section.THEMATIC:
                natural[contest] = links.track(contest.topic).id
            else:
                natural[contest] = "" if len(record.contests) == 1 else links.place(contest.place).id
        counts: dict[str, int] = defaultdict(int)
        for value in natural.values():
            counts[value] += 1
        for contest, value in natural.items():
            if counts[value] > 1 or (value == "" and len(record.contests) > 1):
                digest = hashlib.sha256(normalise(contest.name).encode("utf-8")).hexdigest()[:6]
                value = f"{value}-{digest}" if value else digest
            keys[contest] = value
    return keys
