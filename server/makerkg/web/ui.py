"""``ui``: pages for people: the home page, the SPARQL query editor and two editions compared.

Every figure comes from the published build (its description, or the named queries run through the query pool);
the templates are autoescaped and text from the plans is never marked safe.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import brotli
from flask import Blueprint, Response, abort, current_app, render_template, request

from makerkg.diff import Comparison, ProvinceCount
from makerkg.diff import compare as compare_editions
from makerkg.errors import UsageError
from makerkg.model import Section
from makerkg.namespaces import PREFIXES
from makerkg.queries import NamedQuery, bind_parameters, bound_text
from makerkg.store.query import select, value
from makerkg.web import downloads
from makerkg.web.catalog import Catalog, get_catalog
from makerkg.web.engine import Snapshot, get_engine
from makerkg.web.maps import place_map

bp = Blueprint("ui", __name__)

ASSETS = Path(__file__).parent / "assets"
# npm installs the editor here, outside the static folder (`npm ci --prefix server/makerkg/web/assets`); only the
# files below are served
YASGUI_BUILD = ASSETS / "node_modules" / "@zazuko" / "yasgui" / "build"
YASGUI_FILES = {
    "yasgui.min.js": "text/javascript",
    "yasgui.min.css": "text/css",
    "yasgui.min.js.map": "application/json",
}
# the sections in English, with the names the plans print for them
KINDS = {
    s.value: f"{english} ({s.printed})"
    for s, english in zip(Section, ("national final", "regional", "thematic", "overseas"), strict=True)
}
EXAMPLE_ORDER = {"edition": 0, "contest": 1, "organization": 2, "place": 3, "track": 4}
EXAMPLES = """\
PREFIX mkg: <https://w3id.org/makerkg/ontology#>
PREFIX schema: <https://schema.org/>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?kind ?iri ?label WHERE {
  { ?iri a mkg:Edition ; mkg:ordinal ?n ; schema:name ?label . BIND ("edition" AS ?kind) }
  UNION {
    SELECT ("contest" AS ?kind) ?iri ?label WHERE {
      ?iri mkg:contestKind mkg:RegionalContest ; schema:superEvent/mkg:ordinal ?n ; schema:name ?label .
    } ORDER BY DESC(?n) ?iri LIMIT 1
  } UNION {
    SELECT ("organization" AS ?kind) ?iri (SAMPLE(?name) AS ?label) WHERE {
      ?c schema:organizer ?iri . ?iri skos:prefLabel ?name . FILTER (lang(?name) = "zh")
    } GROUP BY ?iri ORDER BY DESC(COUNT(DISTINCT ?c)) ?iri LIMIT 1
  } UNION {
    SELECT ("place" AS ?kind) ?iri (SAMPLE(?name) AS ?label) WHERE {
      ?c schema:location ?iri . ?iri a mkg:PrefectureLevelDivision ; skos:prefLabel ?name .
      FILTER (lang(?name) = "zh")
    } GROUP BY ?iri ORDER BY DESC(COUNT(DISTINCT ?c)) ?iri LIMIT 1
  } UNION {
    SELECT ("track" AS ?kind) ?iri (SAMPLE(?name) AS ?label) WHERE {
      ?c mkg:track ?iri ; schema:superEvent ?e . ?iri skos:prefLabel ?name . FILTER (lang(?name) = "zh")
    } GROUP BY ?iri ORDER BY DESC(COUNT(DISTINCT ?e)) ?iri LIMIT 1
  }
}
ORDER BY ?n ?iri
"""


def ordinal(n: int) -> str:
    """An English ordinal.

    >>> [ordinal(n) for n in (1, 2, 3, 8, 11, 12, 13, 21, 22)]
    ['1st', '2nd', '3rd', '8th', '11th', '12th', '13th', '21st', '22nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def is_web_address(text: str) -> bool:
    """Whether a printed registration address may become a link (never a ``javascript:`` or other scheme).

    >>> is_web_address("https://www.smebj.cn/"), is_web_address("javascript:alert(1)")
    (True, False)
    """
    return text.lower().startswith(("http://", "https://"))


def editions_of(snapshot: Snapshot) -> list[int]:
    """The edition ordinals of the build, ascending."""
    return snapshot.build.info.editions


# --- home -------------------------------------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    """What the dataset is, the counts of the current build and where to go from here."""
    snapshot = get_engine().snapshot()
    info = snapshot.build.info
    summary = info.summary
    contests = summary.contests
    kinds = list(KINDS) + sorted({k for counts in contests.values() for k in counts} - set(KINDS))
    editions = [
        {
            "ordinal": n,
            "label": ordinal(n),
            "counts": [contests[n].get(kind, 0) for kind in kinds],
            "total": sum(contests[n].values()),
        }
        for n in editions_of(snapshot)
    ]
    found = [(value(r, "kind"), value(r, "label"), value(r, "iri")) for r in select(snapshot.pool, EXAMPLES)]
    examples = [
        {"kind": kind, "label": label, "path": snapshot.href(iri), "iri": iri}
        for kind, label, iri in sorted(found, key=lambda r: EXAMPLE_ORDER.get(r[0], 9))
    ]
    return render_template(
        "ui/home.html",
        info=info,
        summary=summary,
        kinds=[KINDS.get(k, k) for k in kinds],
        editions=editions,
        examples=examples,
    )


# --- query editor -----------------------------------------------------------------------------------------------


def yasgui_installed() -> bool:
    return all((YASGUI_BUILD / name).is_file() for name in ("yasgui.min.js", "yasgui.min.css"))


def example_text(query: NamedQuery, base: str, editions: Sequence[int]) -> str:
    """The query with its parameters' defaults bound, so that it runs as it is."""
    try:
        return bound_text(query, bind_parameters(query, {}, base, editions=editions))
    except UsageError:  # a required parameter without a default: the reader fills it in
        return query.text


@bp.get("/query")
def editor() -> str:
    """A SPARQL editor (YASGUI) on this server's endpoint, with the named queries as examples; a plain form when
    the editor's assets are not installed."""
    engine = get_engine()
    info = engine.snapshot().build.info
    queries = [
        {
            "name": q.name,
            "title": q.title,
            "description": q.description,
            "parameters": q.parameters,
            "text": example_text(q, info.base, info.editions),
        }
        for q in engine.queries.values()
    ]
    return render_template("ui/query.html", queries=queries, yasgui=yasgui_installed(), prefixes=PREFIXES)


@bp.get("/static/vendor/yasgui/<name>")
def vendor(name: str) -> Response:
    """One of the editor's built files, from node_modules, compressed once per process (brotli or gzip, as the
    client accepts; the script is 1 MB as it is); any other name is a 404."""
    if name not in YASGUI_FILES or not (YASGUI_BUILD / name).is_file():
        abort(404)
    encodings: dict[str, bytes] = current_app.extensions.setdefault("makerkg.vendor", {}).setdefault(name, {})
    coding = request.accept_encodings.best_match(["br", "gzip", "identity"], default="identity")
    if coding not in encodings:
        data = (YASGUI_BUILD / name).read_bytes()
        encodings[coding] = (
            brotli.compress(data, quality=11) if coding == "br" else gzip.compress(data, 9, mtime=0)
        ) if coding in ("br", "gzip") else data  # fmt: skip
    response = Response(encodings[coding], mimetype=YASGUI_FILES[name])
    if coding != "identity":
        response.headers["Content-Encoding"] = coding
    response.headers["Vary"] = "Accept-Encoding"
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


COMPARE_TABLES = ("hosts", "sites", "tracks", "orgs-new", "orgs-gone", "provinces", "places-in-both")


# --- two editions compared --------------------------------------------------------------------------------------


def edition_parameter(name: str, default: int, editions: Sequence[int]) -> int:
    """The edition ordinal given as URL parameter ``name``; raises UsageError naming it."""
    values = request.args.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise UsageError(name, "given more than once")
    value = values[0].strip()
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        example = editions[-1] if editions else default  # the default may be 0, "every edition", which is none
        raise UsageError(name, f"expected an edition ordinal (a whole number such as {example}), found {values[0]!r}")
    if int(value) not in editions:
        known = ", ".join(str(e) for e in editions)
        raise UsageError(name, f"no edition {int(value)} in this build (editions: {known})")
    return int(value)


@dataclass(frozen=True)
class Bar:
    edition: int
    series: str  # "a" or "b"
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Row:
    province: str
    name: str
    path: str
    y: float
    bars: tuple[Bar, Bar]


@dataclass(frozen=True)
class Chart:
    """Contests per province in two editions, laid out as horizontal bars (the template draws the SVG)."""

    width: int
    height: int
    left: int
    right: int
    top: int
    rows: tuple[Row, ...]
    ticks: tuple[tuple[int, float], ...]


BAR = 11
GAP = 2
ROW = 2 * BAR + GAP + 10


def chart(provinces: Sequence[ProvinceCount], a: int, b: int, href: Callable[[str], str]) -> Chart:
    """Lay out the bars: one row per province (largest first), one bar per edition, scaled to the largest count."""
    width, left, right, top = 760, 170, 40, 56
    largest = max([1] + [c for p in provinces for c in (p.a, p.b)])
    scale = (width - left - right) / largest
    step = max(1, -(-largest // 8))
    ticks = tuple((t, round(left + t * scale, 1)) for t in range(0, largest + 1, step))
    laid = []
    for index, province in enumerate(provinces):
        y = top + index * ROW
        bars = tuple(
            Bar(edition, series, count, left, y + offset, round(count * scale, 1), BAR)
            for series, edition, count, offset in (("a", a, province.a, 0), ("b", b, province.b, BAR + GAP))
        )
        laid.append(Row(province.province, province.name, href(province.province), y, (bars[0], bars[1])))
    return Chart(width, top + len(provinces) * ROW + 8, left, right, top, tuple(laid), ticks)


@dataclass(frozen=True)
class Links:
    """The pages of what /compare names by name: hosts by region, places by track, contests by organization (the
    comparison model names them as the named queries print them; the catalog knows which resource each is)."""

    hosts: dict[tuple[str, str], str]
    places: dict[tuple[str, str], str]
    contests: dict[tuple[str, str], str]

    def host(self, region: str, name: str) -> str | None:
        return self.hosts.get((region, name))

    def place(self, track: str, name: str) -> str | None:
        return self.places.get((track, name))

    def contest(self, organization: str, name: str) -> str | None:
        return self.contests.get((organization, name))


def compare_links(catalog: Catalog, editions: Sequence[int]) -> Links:
    """Where each name of the comparison of ``editions`` links to."""
    hosts: dict[tuple[str, str], str] = {}
    places: dict[tuple[str, str], str] = {}
    contests: dict[tuple[str, str], str] = {}
    for contest in catalog.by_kind["contest"]:
        if contest.ordinal not in editions:
            continue
        location = catalog.entities.get(contest.location or "")
        for agent, _ in contest.agents:
            organization = catalog.entities.get(agent)
            if organization is not None and contest.location:
                hosts[(contest.location, organization.label)] = organization.href
            contests[(agent, contest.label)] = contest.href
        if contest.track and location is not None:
            places[(contest.track, location.label)] = location.href
    return Links(hosts, places, contests)


def _comparison(snapshot: Snapshot) -> Comparison:
    """The comparison the request asks for (``a`` and ``b``, by default the two latest); 400 naming a bad one."""
    editions = editions_of(snapshot)
    if not editions:
        raise UsageError("a", "this build holds no edition")
    a = edition_parameter("a", editions[-2] if len(editions) > 1 else editions[-1], editions)
    b = edition_parameter("b", editions[-1], editions)
    return compare_editions(snapshot.pool, snapshot.build.info.base, editions, a, b, get_engine().queries)


@bp.get("/compare")
def compare() -> str:  # the view's name is its route's
    """Two editions of the build compared (``a`` and ``b``, by default the two latest); 400 naming a bad one."""
    snapshot = get_engine().snapshot()
    found = _comparison(snapshot)
    a, b = found.a, found.b
    catalog = get_catalog(snapshot)
    return render_template(
        "ui/compare.html",
        a=a,
        b=b,
        a_label=ordinal(a),
        b_label=ordinal(b),
        editions=editions_of(snapshot),
        is_web_address=is_web_address,
        href=snapshot.href,
        comparison=found,
        chart=chart(found.provinces, a, b, snapshot.href),
        links=compare_links(catalog, (a, b)),
        canonical=f"{snapshot.build.info.base}compare?a={a}&b={b}",  # the same page whether a and b are given
        map=place_map(catalog, catalog.by_kind["contest"], (a, b))
        if a != b
        else place_map(catalog, catalog.by_kind["contest"], (a,)),
        map_title=f"Where the contests of the {ordinal(a)} and {ordinal(b)} editions are held",
        ordinal=ordinal,
    )


def compare_table(found: Comparison, table: str) -> tuple[list[str], list[list[object]]]:
    """One table of the comparison as a header and rows; raises UsageError naming ``table``."""
    a, b = found.a, found.b
    if table == "hosts":
        header = ["region", "region name", f"hosts in edition {a}", f"hosts in edition {b}", "changed", "renamed"]
        return header, [
            [r.region, r.name, "、".join(r.hosts.a), "、".join(r.hosts.b), r.changed, r.renamed] for r in found.hosts
        ]
    if table == "sites":
        header = ["region", "region name", f"sites in edition {a}", f"sites in edition {b}", "changed"]
        return header, [[r.region, r.name, " ".join(r.sites.a), " ".join(r.sites.b), r.changed] for r in found.sites]
    if table == "tracks":
        header = ["track", "track name", "status", f"places in edition {a}", f"places in edition {b}"]
        return header, [[t.track, t.name, t.status, "、".join(t.places.a), "、".join(t.places.b)] for t in found.tracks]
    if table in ("orgs-new", "orgs-gone"):
        changes = found.new if table == "orgs-new" else found.gone
        header = ["organization", "name", f"contests in edition {b if table == 'orgs-new' else a}", "renamed"]
        return header, [[o.organization, o.name, " | ".join(o.contests), o.renamed] for o in changes]
    if table == "provinces":
        header = ["province", "name", f"contests in edition {a}", f"contests in edition {b}"]
        return header, [[p.province, p.name, p.a, p.b] for p in found.provinces]
    if table == "places-in-both":
        header = ["place", "name", f"contests in edition {a}", f"contests in edition {b}"]
        return header, [[p.place, p.name, p.a, p.b] for p in found.places_in_both]
    raise UsageError("table", f"no table {table!r}; tables: {', '.join(COMPARE_TABLES)}")


@bp.get("/compare.csv")
def compare_csv() -> Response:
    """One table of /compare (``table``) as a CSV download; ``bom=1`` for Excel."""
    table = request.args.get("table", "").strip()
    if not table:
        raise UsageError("table", f"which table: one of {', '.join(COMPARE_TABLES)}")
    found = _comparison(get_engine().snapshot())
    header, body = compare_table(found, table)
    return downloads.csv_response(header, body, downloads.filename("compare", found.a, found.b, table))
