"""``seo``: what search engines read: ``/robots.txt``, ``/sitemap.xml`` (every page of the build, split into
sitemaps of 50,000 addresses under an index when there are more), and the canonical address and description
every page's head carries.

Every address is under the build's base, where its pages are meant to be served: the canonical address of the
page of an IRI is the IRI itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, request

from makerkg.store.query import select, value
from makerkg.web.engine import Snapshot, get_engine

bp = Blueprint("seo", __name__)

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
PER_SITEMAP = 50_000  # the sitemap protocol's limit of addresses per file
# the pages for people besides the resources' own, by path under the base
PAGES = ("", "org/", "place/", "track/", "edition/", "compare", "query", "api", "dumps/", "ontology")
# the parameters that change what a page shows (not its order or format): kept in its canonical address
CANONICAL_ARGS = ("a", "b", "q", "edition", "kind", "type")
DESCRIPTION = (
    "makerkg: the “创客中国” (Maker China) SME innovation and entrepreneurship contest as linked open data: "
    "editions, contests, host organizations, places and thematic tracks from the published contest plans."
)


@bp.app_context_processor
def page_globals() -> dict[str, object]:
    """Every template's canonical address and default description."""
    return {"canonical_url": canonical_url, "site_description": DESCRIPTION}


def canonical_url() -> str:
    """The address of this page under the build's base, with the parameters that change what it shows."""
    base = get_engine().snapshot().build.info.base
    args = sorted((k, v) for k, v in request.args.items(multi=True) if k in CANONICAL_ARGS and v)
    return base + request.path.lstrip("/") + (f"?{urlencode(args)}" if args else "")


@bp.get("/robots.txt")
def robots() -> Response:
    """Crawl the pages; leave the query services alone; the sitemap names every page."""
    base = get_engine().snapshot().build.info.base
    text = (
        "User-agent: *\n"
        "Disallow: /sparql\n"
        "Disallow: /api/queries/\n"
        "Disallow: /reconcile\n"
        "Disallow: /search\n"
        "Allow: /\n"
        f"Sitemap: {base}sitemap.xml\n"
    )
    return Response(text, content_type="text/plain; charset=utf-8")


def addresses(snapshot: Snapshot) -> list[str]:
    """Every page of the build: the pages for people, then each IRI under the base that the graph describes
    (fragments are parts of their page), in order."""
    base = snapshot.build.info.base
    found = select(
        snapshot.pool,
        f'SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER (isIRI(?s) && STRSTARTS(STR(?s), "{base}") '
        f'&& !CONTAINS(STR(?s), "#")) }} ORDER BY ?s',
        max_rows=10_000_000,
    )
    # the dataset's page and its named graphs' pages are described by the VoID, not by the graph
    named = sorted(g for g in snapshot.graphs if g.startswith(base))
    pages = [*(base + p for p in PAGES), snapshot.layout.dataset(), *named]
    return pages + [s for s in (value(r, "s") for r in found) if s not in pages]


def _xml(root: ET.Element) -> Response:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, content_type="application/xml; charset=utf-8")


def _urlset(urls: list[str], modified: str) -> Response:
    root = ET.Element("urlset", xmlns=SITEMAP_NS)
    for url in urls:
        entry = ET.SubElement(root, "url")
        ET.SubElement(entry, "loc").text = url
        ET.SubElement(entry, "lastmod").text = modified
    return _xml(root)


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """Every page, last modified when the build was made; an index of sitemaps past 50,000 pages."""
    snapshot = get_engine().snapshot()
    urls = addresses(snapshot)
    modified = snapshot.build.info.created
    if len(urls) <= PER_SITEMAP:
        return _urlset(urls, modified)
    root = ET.Element("sitemapindex", xmlns=SITEMAP_NS)
    base = snapshot.build.info.base
    for number in range(1, -(-len(urls) // PER_SITEMAP) + 1):
        entry = ET.SubElement(root, "sitemap")
        ET.SubElement(entry, "loc").text = f"{base}sitemap-{number}.xml"
        ET.SubElement(entry, "lastmod").text = modified
    return _xml(root)


@bp.get("/sitemap-<int:number>.xml")
def sitemap_part(number: int) -> Response:
    """One of the sitemaps the index names; 404 past the last one."""
    snapshot = get_engine().snapshot()
    urls = addresses(snapshot)
    part = urls[(number - 1) * PER_SITEMAP : number * PER_SITEMAP]
    if number < 1 or not part or len(urls) <= PER_SITEMAP:
        abort(404)
    return _urlset(part, snapshot.build.info.created)
