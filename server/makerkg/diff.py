"""Two editions compared, from the named queries: one model that ``makerkg diff`` prints and ``/compare`` draws.

Every resource is named by its IRI; the command line shows names, the web pages link each IRI to its page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from makerkg.errors import UsageError
from makerkg.queries import NamedQuery, bind_parameters, bound_text, load_queries
from makerkg.store.query import QueryRunner, Term, select, value
from makerkg.terminal import table

TRACK_ORDER = {"continued": 0, "added": 1, "dropped": 2}


@dataclass(frozen=True)
class Pair:
    """What one thing was in edition A and in edition B."""

    a: tuple[str, ...]
    b: tuple[str, ...]


@dataclass(frozen=True)
class RegionHosts:
    region: str  # IRI
    name: str
    hosts: Pair
    changed: bool  # a host of one edition has no counterpart in the other
    renamed: bool  # a host is the other's, renamed (a documented change event)


@dataclass(frozen=True)
class RegionSites:
    region: str
    name: str
    sites: Pair
    changed: bool


@dataclass(frozen=True)
class TrackChange:
    track: str
    name: str
    status: str  # continued, added, dropped
    places: Pair


@dataclass(frozen=True)
class OrganizationChange:
    organization: str
    name: str
    contests: tuple[str, ...]  # the names of its contests in the edition it is in
    renamed: str  # the other name, when it is the same body renamed; "" otherwise


@dataclass(frozen=True)
class ProvinceCount:
    province: str
    name: str
    a: int
    b: int


@dataclass(frozen=True)
class PlaceCount:
    place: str
    name: str
    a: int
    b: int


@dataclass(frozen=True)
class Comparison:
    """Editions ``a`` and ``b`` compared region by region, track by track and organization by organization."""

    a: int
    b: int
    hosts: tuple[RegionHosts, ...]
    sites: tuple[RegionSites, ...]
    tracks: tuple[TrackChange, ...]
    new: tuple[OrganizationChange, ...]  # in b, not in a
    gone: tuple[OrganizationChange, ...]  # in a, not in b
    provinces: tuple[ProvinceCount, ...]  # contests per province-level division, largest first
    places_in_both: tuple[PlaceCount, ...]  # places (through the hierarchy) with contests in both editions

    @property
    def hosts_changed(self) -> int:
        return sum(1 for r in self.hosts if r.changed)

    @property
    def hosts_renamed(self) -> int:
        return sum(1 for r in self.hosts if r.renamed)

    @property
    def sites_changed(self) -> int:
        return sum(1 for r in self.sites if r.changed)


def _split(text: str, separator: str) -> tuple[str, ...]:
    return tuple(sorted(p for p in text.split(separator) if p))


def _true(row: Mapping[str, Term], name: str) -> bool:
    return value(row, name) == "true"


class _Runner:
    """The named queries of one build, run through a query runner."""

    def __init__(
        self, runner: QueryRunner, base: str, editions: Sequence[int], queries: Mapping[str, NamedQuery]
    ) -> None:
        self.runner, self.base, self.editions, self.queries = runner, base, editions, queries

    def rows(self, name: str, params: Mapping[str, str]) -> list[dict[str, Term]]:
        query = self.queries[name]
        text = bound_text(query, bind_parameters(query, params, self.base, editions=self.editions))
        return select(self.runner, text)


def compare(
    runner: QueryRunner,
    base: str,
    editions: Sequence[int],
    a: int,
    b: int,
    queries: Mapping[str, NamedQuery] | None = None,
) -> Comparison:
    """Editions ``a`` and ``b`` of a build whose data base and editions are given, from the named ``queries``
    (read from their files when not given); raises UsageError naming A or B for an edition the build lacks."""
    for name, edition in (("A", a), ("B", b)):
        if edition not in editions:
            known = ", ".join(str(e) for e in sorted(editions))
            raise UsageError(name, f"no edition {edition} in the graph (editions: {known})")
    run = _Runner(runner, base, editions, queries if queries is not None else load_queries())
    pair = {"a": str(a), "b": str(b)}
    hosts = tuple(
        RegionHosts(
            value(r, "region"),
            value(r, "regionName"),
            Pair(_split(value(r, "hostsInA"), "、"), _split(value(r, "hostsInB"), "、")),
            _true(r, "changed"),
            _true(r, "renamed"),
        )
        for r in sorted(run.rows("region-hosts", pair), key=lambda r: value(r, "region"))
    )
    sites = tuple(
        RegionSites(
            value(r, "region"),
            value(r, "regionName"),
            Pair(_split(value(r, "sitesInA"), " "), _split(value(r, "sitesInB"), " ")),
            _true(r, "changed"),
        )
        for r in sorted(run.rows("registration-changes", pair), key=lambda r: value(r, "region"))
    )
    tracks = tuple(
        sorted(
            (
                TrackChange(
                    value(r, "track"),
                    value(r, "trackName"),
                    value(r, "status"),
                    Pair(_split(value(r, "placesInA"), "、"), _split(value(r, "placesInB"), "、")),
                )
                for r in run.rows("tracks-compared", pair)
            ),
            key=lambda t: (TRACK_ORDER.get(t.status, len(TRACK_ORDER)), t.name),
        )
    )
    since = {"edition": str(b), "since": str(a)}
    changes = {
        kind: tuple(
            OrganizationChange(
                value(r, "organization"),
                value(r, "name"),
                _split(value(r, "contestNames"), " | "),
                value(r, "renamedFrom") or value(r, "renamedTo"),
            )
            for r in run.rows(f"orgs-{kind}", since)
        )
        for kind in ("new", "gone")
    }
    counts: dict[str, dict[str, int]] = {}
    names: dict[str, str] = {}
    for series, edition in (("a", a), ("b", b)):
        for r in run.rows("contests-per-province", {"edition": str(edition)}):
            counts.setdefault(value(r, "province"), {"a": 0, "b": 0})[series] = int(value(r, "contests"))
            names[value(r, "province")] = value(r, "name")
    provinces = tuple(
        ProvinceCount(p, names[p], c["a"], c["b"])
        for p, c in sorted(counts.items(), key=lambda i: (-sum(i[1].values()), i[0]))
    )
    both = tuple(
        PlaceCount(value(r, "place"), value(r, "placeName"), int(value(r, "contestsInA")), int(value(r, "contestsInB")))
        for r in run.rows("places-in-both", pair)
    )
    return Comparison(a, b, hosts, sites, tracks, changes["new"], changes["gone"], provinces, both)


def render_table(comparison: Comparison, out: TextIO) -> None:
    """The comparison as tables for a terminal; changes are marked with *."""
    a, b = comparison.a, comparison.b
    sites = {r.region: r for r in comparison.sites}
    out.write(f"Regional contests, edition {a} → {b} (* marks a change; renamed: the same host, renamed)\n\n")
    rows: list[Sequence[str]] = []
    for r in comparison.hosts:
        site = sites.get(r.region)
        rows.append(
            [
                r.name,
                "、".join(r.hosts.a) or "—",
                "、".join(r.hosts.b) or "—",
                " ".join((["*"] if r.changed else []) + (["renamed"] if r.renamed else [])),
                " ".join(site.sites.a) if site and site.sites.a else "—",
                " ".join(site.sites.b) if site and site.sites.b else "—",
                "*" if site and site.changed else "",
            ]
        )
    table(["region", f"hosts {a}", f"hosts {b}", "", f"registration {a}", f"registration {b}", ""], rows, out)
    out.write(
        f"\n{comparison.hosts_changed} region(s) changed hosts; {comparison.hosts_renamed} kept a host that was "
        f"renamed; {comparison.sites_changed} changed registration sites.\n\n"
    )
    out.write(f"Thematic tracks, edition {a} → {b}\n\n")
    table(
        ["track", "status", f"place {a}", f"place {b}"],
        [[t.name, t.status, "、".join(t.places.a) or "—", "、".join(t.places.b) or "—"] for t in comparison.tracks],
        out,
    )
    out.write(f"\nOrganizations new in {b}: {len(comparison.new)}; gone since {a}: {len(comparison.gone)}\n\n")
    new = [o.name + (f" (renamed from {o.renamed})" if o.renamed else "") for o in comparison.new]
    gone = [o.name + (f" (renamed to {o.renamed})" if o.renamed else "") for o in comparison.gone]
    table(
        ["new", "gone"],
        [[new[i] if i < len(new) else "", gone[i] if i < len(gone) else ""] for i in range(max(len(new), len(gone)))],
        out,
    )
    out.write(f"\nPlaces hosting contests in both editions: {len(comparison.places_in_both)}\n")
