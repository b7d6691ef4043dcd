"""``search``: ``/search?q=`` finds resources by any of their names (names, short names, printed forms, misprints,
English names) or codes, as substrings (Chinese has no spaces between words), best first, with the kind of each
hit; HTML or JSON by negotiation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from makerkg.errors import UsageError
from makerkg.sparql.negotiate import negotiate
from makerkg.web.catalog import KINDS, Catalog, Hit, get_catalog, kinds_parameter, name_text
from makerkg.web.engine import get_engine

bp = Blueprint("search", __name__)

OFFERS = ["text/html", "application/json"]
ALIASES = {"html": "text/html", "json": "application/json"}
MAX_HITS = 500


def hit_json(catalog: Catalog, hit: Hit) -> dict[str, Any]:
    """One hit as JSON: the resource, its kind, the name that matched and how well."""
    entity = hit.entity
    return {
        "iri": entity.iri,
        "id": entity.path,
        "href": entity.href,
        "label": entity.label,
        "english": entity.english,
        "kind": entity.kind,
        "kinds": [{"id": c.id, "label": c.label, "label_en": c.label_en} for c in entity.categories],
        "description": catalog.describe(entity),
        "score": hit.score,
        "exact": hit.exact,
        "matched": {"text": hit.name.text, "field": hit.name.field},
    }


def query_text(parameter: str = "q", required: bool = True) -> str:
    """The search text; raises UsageError naming the parameter when it is missing, repeated or longer than a name
    can be."""
    values = request.args.getlist(parameter)
    if len(values) > 1:
        raise UsageError(parameter, "given more than once")
    text = values[0].strip() if values else ""
    if required and not text:
        raise UsageError(parameter, "a text to search for is required, e.g. 江苏, 工信部, Jiangsu or 320000")
    return name_text(text, parameter)


@bp.get("/search")
def search() -> Response:
    """Resources whose names contain ``q``, of the kinds ``kind`` names (comma-separated; all by default)."""
    media = negotiate(request.headers.get("Accept"), request.args.get("format"), OFFERS, ALIASES)
    text = query_text(required=media != "text/html")
    kinds = kinds_parameter(request.args.get("kind"), "kind")
    catalog = get_catalog(get_engine().snapshot())
    hits = catalog.search(text, kinds)[:MAX_HITS] if text else []
    if media == "application/json":
        response = jsonify(
            {
                "query": text,
                "kinds": list(kinds),
                "count": len(hits),
                "results": [hit_json(catalog, h) for h in hits],
            }
        )
    else:
        html = render_template(
            "search.html",
            text=text,
            search_text=text,
            hits=hits,
            catalog=catalog,
            kinds=kinds,
            all_kinds=KINDS,
        )
        response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Vary"] = "Accept"
    return response
