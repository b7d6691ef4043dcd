"""``listings``: every organization, place, track and edition of the build at ``/org/``, ``/place/``, ``/track/``
and ``/edition/``, with label, kind and contests per edition; filtered by edition and kind, sorted by any column;
as HTML, JSON, CSV or RDF by negotiation (``format=`` too)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, render_template, request

from makerkg.errors import UsageError
from makerkg.iris import RESOURCE_KINDS
from makerkg.namespaces import MKG, PREFIXES
from makerkg.sparql.negotiate import negotiate
from makerkg.store.query import Job
from makerkg.web import downloads
from makerkg.web.catalog import Catalog, Category, Entity, get_catalog
from makerkg.web.engine import Snapshot, get_engine
from makerkg.web.sparql import GRAPH_ALIASES, RDF_OFFERS, respond
from makerkg.web.ui import edition_parameter, ordinal

bp = Blueprint("listings", __name__)

LISTED = ("organization", "place", "track", "edition")
SEGMENTS = {segment: kind for segment, kind in RESOURCE_KINDS.items() if kind in LISTED}  # org → organization
TITLES = {"organization": "Organizations", "place": "Places", "track": "Thematic tracks", "edition": "Editions"}
TITLES_ZH = {"organization": "主办、承办单位", "place": "地点", "track": "专题赛赛道", "edition": "届次"}
OFFERS = ["text/html", "application/json", downloads.CSV, *RDF_OFFERS]
ALIASES = {"html": "text/html", "json": "application/json", "csv": downloads.CSV, **GRAPH_ALIASES}
HYDRA = "http://www.w3.org/ns/hydra/core#"
DESCRIBED = (  # what the RDF of a listing says of each member
    PREFIXES["rdf"] + "type",
    PREFIXES["skos"] + "prefLabel",
    PREFIXES["org"] + "classification",
    PREFIXES["schema"] + "containedInPlace",
    MKG + "jurisdiction",
    MKG + "divisionCode",
    MKG + "ordinal",
    MKG + "year",
    MKG + "unresolved",
)


@dataclass(frozen=True)
class Column:
    """A count column of a listing: contests per edition, or for editions contests per kind."""

    id: str
    heading: str
    count: Callable[[Entity], int]


@dataclass(frozen=True)
class Listing:
    """One listing as asked for: its rows after filters and sort, and what it can be filtered by."""

    kind: str
    segment: str
    columns: tuple[Column, ...]
    kinds: tuple[tuple[Category, int], ...]  # every kind its resources are of, with how many
    rows: tuple[Entity, ...]
    total: int  # before filters
    edition: int | None
    category: str | None
    sort: str
    descending: bool

    def counts(self, entity: Entity) -> dict[str, int]:
        return {c.id: c.count(entity) for c in self.columns}


def columns_of(catalog: Catalog, kind: str) -> tuple[Column, ...]:
    """Editions: one column per contest kind; the others: one per edition of the build."""
    if kind == "edition":
        contest_kinds: dict[str, Category] = {}
        for contest in catalog.by_kind["contest"]:
            for category in contest.categories:
                contest_kinds.setdefault(category.iri, category)
        order = ("NationalFinal", "RegionalContest", "ThematicContest", "OverseasContest")
        ordered = sorted(contest_kinds.values(), key=lambda c: (order.index(c.id) if c.id in order else 9, c.id))

        def per_kind(category: Category) -> Callable[[Entity], int]:
            return lambda e: sum(1 for c in catalog.contests_of.get(e.iri, ()) if category in c.categories)

        return tuple(Column(c.id, c.label_en or c.label, per_kind(c)) for c in ordered)

    def per_edition(n: int) -> Callable[[Entity], int]:
        return lambda e: catalog.counts(e).get(n, 0)

    return tuple(Column(str(n), f"{ordinal(n)} edition", per_edition(n)) for n in catalog.editions)


def build_listing(catalog: Catalog, segment: str) -> Listing:
    """The listing a request asks for; raises UsageError naming a bad ``edition``, ``kind``, ``sort`` or ``order``."""
    kind = SEGMENTS[segment]
    entities = catalog.by_kind[kind]
    columns = columns_of(catalog, kind)
    edition = edition_parameter("edition", 0, list(catalog.editions)) if "edition" in request.args else None
    present: dict[str, tuple[Category, int]] = {}
    for entity in entities:
        for category in entity.categories:
            seen = present.get(category.id, (category, 0))
            present[category.id] = (category, seen[1] + 1)
    wanted = _one("kind")
    if wanted is not None and wanted not in present:
        known = ", ".join(sorted(present)) or "none"
        raise UsageError("kind", f"no kind {wanted!r} among the {TITLES[kind].lower()} (kinds: {known})")
    rows = [
        e
        for e in entities
        if (wanted is None or any(c.id == wanted for c in e.categories))
        and (edition is None or (e.ordinal == edition if kind == "edition" else catalog.counts(e).get(edition, 0)))
    ]
    sorts: dict[str, Callable[[Entity], Any]] = {
        "label": lambda e: (e.label, e.path),
        "id": lambda e: (e.ordinal or 0, e.path),
        "kind": lambda e: ([c.label_en or c.label for c in e.categories], e.label),
        "total": lambda e: (sum(c.count(e) for c in columns), e.label),
        **{f"count-{c.id}": (lambda e, c=c: (c.count(e), e.label)) for c in columns},  # type: ignore[misc]
    }
    sort = _one("sort") or ("id" if kind == "edition" else "label")
    if sort not in sorts:
        raise UsageError("sort", f"cannot sort by {sort!r}; columns: {', '.join(sorts)}")
    order = _one("order") or "asc"
    if order not in ("asc", "desc"):
        raise UsageError("order", f"expected asc or desc, found {order!r}")
    rows.sort(key=sorts[sort], reverse=order == "desc")
    kinds = tuple(sorted(present.values(), key=lambda item: item[0].id))
    return Listing(kind, segment, columns, kinds, tuple(rows), len(entities), edition, wanted, sort, order == "desc")


def _one(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise UsageError(name, "given more than once")
    return values[0].strip() if values and values[0].strip() else None


def item(catalog: Catalog, listing: Listing, entity: Entity) -> dict[str, Any]:
    """One row of a listing as JSON."""
    counts = listing.counts(entity)
    found: dict[str, Any] = {
        "iri": entity.iri,
        "id": entity.path,
        "href": entity.href,
        "label": entity.label,
        "english": entity.english,
        "kinds": [{"id": c.id, "label": c.label, "label_en": c.label_en} for c in entity.categories],
        "unresolved": entity.unresolved,
        "counts": counts,
        "total": sum(counts.values()),
    }
    if entity.kind == "edition":
        found["year"] = entity.year
        found["ordinal"] = entity.ordinal
    if entity.kind == "place":
        parent = catalog.entities.get(entity.parent) if entity.parent else None
        found["parent"] = parent.path if parent else None
    return found


def _page(segment: str) -> Response:
    snapshot = get_engine().snapshot()
    catalog = get_catalog(snapshot)
    listing = build_listing(catalog, segment)
    media = negotiate(request.headers.get("Accept"), request.args.get("format"), OFFERS, ALIASES)
    if media == "application/json":
        response = jsonify(
            {
                "kind": listing.kind,
                "editions": list(catalog.editions),
                "columns": [{"id": c.id, "heading": c.heading} for c in listing.columns],
                "filters": {"edition": listing.edition, "kind": listing.category},
                "sort": listing.sort,
                "order": "desc" if listing.descending else "asc",
                "total": listing.total,
                "count": len(listing.rows),
                "kinds": [{"id": c.id, "label": c.label, "label_en": c.label_en, "count": n} for c, n in listing.kinds],
                "items": [item(catalog, listing, e) for e in listing.rows],
            }
        )
    elif media == downloads.CSV:
        header = ["iri", "label", "english", "kind", *[c.heading for c in listing.columns], "total"]
        rows = [
            [
                e.iri,
                e.label,
                e.english,
                " | ".join(c.label_en or c.label for c in e.categories),
                *(counts := listing.counts(e)).values(),
                sum(counts.values()),
            ]
            for e in listing.rows
        ]
        name = downloads.filename(TITLES[listing.kind].split()[-1].lower(), _suffix(listing))
        response = downloads.csv_response(header, rows, name)
    elif media == "text/html":
        response = Response(
            render_template(
                "listings/listing.html",
                listing=listing,
                catalog=catalog,
                title=TITLES[listing.kind],
                title_zh=TITLES_ZH[listing.kind],
                sort_link=_sort_link,
                query=_query,
                ordinal=ordinal,
            ),
            content_type="text/html; charset=utf-8",
        )
    else:
        return _rdf(snapshot, listing, media)
    response.headers["Vary"] = "Accept"
    return response


def _suffix(listing: Listing) -> str:
    edition = f"edition-{listing.edition}" if listing.edition else ""
    return "-".join(p for p in (edition, f"kind-{listing.category}" if listing.category else "") if p)


def _query(**changes: object) -> str:
    """This page's query string with ``changes`` applied (None removes a parameter)."""
    args = {k: v for k, v in request.args.items() if k not in ("format", "bom")}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return ("?" + urlencode(args)) if args else "?"


def _sort_link(listing: Listing, sort: str) -> str:
    descending = not listing.descending if listing.sort == sort else sort != "label" and sort != "id"
    return _query(sort=sort, order="desc" if descending else "asc")


def _rdf(snapshot: Snapshot, listing: Listing, media: str) -> Response:
    """The listing as RDF: a hydra:Collection of its members, each with its types, labels and kinds."""
    collection = snapshot.layout.listing(listing.segment)
    members = " ".join(f"<{e.iri}>" for e in listing.rows)
    predicates = " ".join(f"<{p}>" for p in DESCRIBED)
    query = (
        f"CONSTRUCT {{ <{collection}> a <{HYDRA}Collection> ; <{HYDRA}totalItems> {len(listing.rows)} ; "
        f"<{HYDRA}member> ?x . ?x ?p ?o }} "
        f"WHERE {{ {{ BIND (<{collection}> AS ?c) }} UNION {{ VALUES ?x {{ {members} }} VALUES ?p {{ {predicates} }} "
        f"?x ?p ?o }} }}"
    )
    settings = get_engine().settings
    return respond(snapshot.pool.execute(Job(query, "CONSTRUCT", media, 10_000_000, settings.max_answer_bytes)))


@bp.route(f"/<any({', '.join(SEGMENTS)}):segment>/", methods=["GET", "HEAD"])
def listing(segment: str) -> Response:
    """Every organization, place, track or edition of the build; 400 naming a bad parameter."""
    return _page(segment)


def listing_links() -> Sequence[tuple[str, str]]:
    """The listings' paths and titles, for the header and the sitemap."""
    return [(f"/{segment}/", TITLES[kind]) for segment, kind in SEGMENTS.items()]
