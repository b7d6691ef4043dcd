"""``reconcile``: a W3C Reconciliation Service API endpoint (versions 0.1 and 0.2, which OpenRefine 3.x speaks)
at ``/reconcile``, so that a spreadsheet's names can be matched to the graph's organizations, places, tracks and
contests.

- ``GET /reconcile`` without ``queries``: the service manifest; with ``queries`` (GET or a POSTed form): a
  result batch. JSONP with ``callback`` for older clients; CORS as on every read route.
- Names match by the build's own rules (``Catalog.exact``): any name the graph states (short names such as 工信部
  and 杭州, printed forms, misprints), dual names 甲(乙), places read as a chain of places, ids and IRIs. One such
  resource is a match (``match: true``); a name several resources bear is ambiguous and none is chosen, as the
  build does not choose; a name the graph does not know gets ranked candidates (substrings, then similar names)
  with ``match: false``.
- Properties narrow the candidates: ``place`` (a place name, code or id: where its contests are held, where the
  organization's government is, the place itself or a place it lies in), ``edition`` (an ordinal) and ``kind``.
- Preview (``/reconcile/preview?id=``), suggest services for entities, types and properties with a flyout, and
  ``view`` links to the pages. An entity's id is its IRI under the base (``org/miit``), so ``identifierSpace`` +
  id is its IRI, and the view template is this server's address + id.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from markupsafe import escape

from makerkg import __version__
from makerkg.errors import UsageError
from makerkg.names import MAX_NAME
from makerkg.namespaces import MKG
from makerkg.web.catalog import EXACT, Catalog, Entity, Hit, get_catalog, match_key, name_text
from makerkg.web.engine import get_engine
from makerkg.web.errors import problem
from makerkg.web.public import base_url, external_url

bp = Blueprint("reconcile", __name__, url_prefix="/reconcile")

TYPES = {
    "organization": "Organization (主办、承办单位)",
    "place": "Place (地点)",
    "track": "Thematic track (专题赛赛道)",
    "contest": "Contest (赛事)",
}
PROPERTIES = {
    "place": (
        "Place (地点)",
        "where its contests are held, where an organization's government is, or a place it lies in: a name, "
        "division code or id",
    ),
    "edition": ("Edition (届次)", "an edition it takes part in: its ordinal, e.g. 11"),
    "kind": ("Kind (类别)", "its kind: an organization kind, a place's level or a contest kind, by id or name"),
}
BATCH_SIZE = 100  # queries in one batch; more is a 413, as the specification allows
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
SUGGESTIONS = 10
MAX_VALUES = 20  # property values in one query, all its properties together: each is a test of every candidate
_WHOLE = re.compile(r"[0-9]{1,6}")  # an ordinal or a cursor: a whole number, never one of thousands of digits
_CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")


def _json(document: object, status: int = 200) -> Response:
    """JSON, or JSONP when the request names a ``callback`` (checked: a JavaScript name, nothing else)."""
    body = json.dumps(document, ensure_ascii=False)
    callback = request.args.get("callback")
    if callback is not None:
        if not _CALLBACK.fullmatch(callback):
            raise UsageError("callback", "expected a JavaScript function name")
        return Response(f"/**/{callback}({body});", status=status, content_type="text/javascript; charset=utf-8")
    return Response(body, status=status, content_type="application/json; charset=utf-8")


def manifest() -> dict[str, Any]:
    """The service manifest: what the service offers, where, and its types."""
    snapshot = get_engine().snapshot()
    # under public_url, or the request's host (the answer then varies with it: web/public.py says so in Vary)
    service = external_url("reconcile.service")
    site = base_url().rstrip("/")
    return {
        "versions": ["0.1", "0.2"],
        "name": "makerkg: the “创客中国” contest knowledge graph",
        "identifierSpace": snapshot.build.info.base,
        "schemaSpace": MKG,
        "documentation": site + url_for("api.docs"),
        "serviceVersion": __version__,
        "batchSize": BATCH_SIZE,
        "view": {"url": site + "/{{id}}"},
        "preview": {"url": site + url_for("reconcile.preview") + "?id={{id}}", "width": 430, "height": 170},
        "defaultTypes": [{"id": id, "name": name} for id, name in TYPES.items()],
        "suggest": {
            "entity": {
                "service_url": service,
                "service_path": "/suggest/entity",
                "flyout_service_path": "/suggest/entity/flyout?id=${id}",
            },
            "type": {"service_url": service, "service_path": "/suggest/type"},
            "property": {"service_url": service, "service_path": "/suggest/property"},
        },
    }


@bp.route("", methods=["GET", "POST"])
def service() -> Response:
    """The manifest, or the results of a batch of queries (``queries``, in the URL or a POSTed form)."""
    text = request.form.get("queries") if request.method == "POST" else None
    if text is None:
        text = request.args.get("queries")
    if text is None:
        return _json(manifest())
    batch = parse_batch(text)
    if len(batch) > BATCH_SIZE:
        return problem(413, f"queries: {len(batch)} queries in one batch; at most {BATCH_SIZE} (batchSize)")
    catalog = get_catalog(get_engine().snapshot())
    return _json({key: {"result": reconcile(catalog, query, key)} for key, query in batch.items()})


def parse_batch(text: str) -> dict[str, dict[str, Any]]:
    """A query batch as the specification's schema describes it, every text in it short enough to be a name;
    raises UsageError naming ``queries``, and the query and field at fault."""
    try:
        batch = json.loads(text, parse_constant=_no_constant)
    except RecursionError as err:  # the decoder recurses per level of nesting
        raise UsageError("queries", "not JSON this service reads (nested too deeply)") from err
    except ValueError as err:
        raise UsageError("queries", f"not JSON ({err})") from err
    if not isinstance(batch, dict):
        raise UsageError("queries", "expected a JSON object of queries keyed by their ids")
    for key, query in batch.items():
        _text(key, "", "a query id", name=False)
        if not isinstance(query, dict):
            raise UsageError("queries", f"{key}: expected an object with a query")
        unknown = set(query) - {"query", "type", "limit", "properties", "type_strict"}
        if unknown:
            _text(min(unknown), f"{key}: ", "a field name", name=False)
            raise UsageError("queries", f"{key}: unknown field {min(unknown)!r}")
        if "query" in query and not _text(query["query"], f"{key}: ", "query").strip():
            raise UsageError("queries", f"{key}: query must be a non-empty string")
        for field in ("type", "type_strict"):
            for value in _values(query.get(field, [])):
                _text(value, f"{key}: ", field, name=False)
        properties = query.get("properties", [])
        if "query" not in query and not properties:
            raise UsageError("queries", f"{key}: a query or properties are required")
        if not isinstance(properties, list) or not all(
            isinstance(p, dict) and isinstance(p.get("pid"), str) and "v" in p for p in properties
        ):
            raise UsageError("queries", f"{key}: properties must be a list of objects with pid and v")
        values = [v for p in properties for v in _values(p["v"])]
        if len(values) > MAX_VALUES:
            raise UsageError("queries", f"{key}: {len(values)} property values; at most {MAX_VALUES}")
        for p in properties:
            _text(p["pid"], f"{key}: ", "pid", name=False)
            for value in _values(p["v"]):
                _property_value(value, f"{key}: ", f"{p['pid']} value")
        limit = query.get("limit", DEFAULT_LIMIT)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int | float)
            or not math.isfinite(limit)
            or limit < 1
            or limit != int(limit)
        ):
            raise UsageError("queries", f"{key}: limit must be a positive integer")
    return batch


def _no_constant(name: str) -> Any:
    """Refuse NaN and ±Infinity, which Python's decoder reads although JSON has no such numbers."""
    raise ValueError(f"{name} is not a JSON number")


def _text(value: Any, where: str, field: str, name: bool = True) -> str:
    """A string of the batch: valid Unicode (JSON's escapes can spell a lone surrogate) and no longer than a name
    can be (a name's key, when ``name``); raises UsageError naming ``queries``, the query and the field."""
    if not isinstance(value, str):
        raise UsageError("queries", f"{where}{field} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise UsageError(
            "queries", f"{where}{field} is not valid Unicode (a lone surrogate at character {err.start + 1})"
        ) from err
    if name:
        return name_text(value, "queries", f"{where}{field} ")
    if len(value) > MAX_NAME:
        raise UsageError("queries", f"{where}{field} longer than {MAX_NAME} characters")
    return value


def _property_value(value: Any, where: str, field: str) -> None:
    """Check one property value: a string, number, boolean or null, or an object with an ``id`` (and a ``name``)
    that is one of those; raises UsageError naming ``queries``, the query and the field."""
    if isinstance(value, dict):
        if "name" in value:
            _text(value["name"], where, f"{field} name")
        value = value.get("id")
    if isinstance(value, dict | list):
        raise UsageError("queries", f"{where}{field} must be a string, a number or an object with an id")
    if value is not None:
        _text(value if isinstance(value, str) else str(value), where, field)


def _types(query: Mapping[str, Any], key: str, parameter: str = "queries") -> tuple[str, ...]:
    """The types a query names (every type when it names none); raises UsageError naming ``parameter``."""
    wanted = query.get("type")
    if wanted is None or wanted == []:
        return tuple(TYPES)
    names = [wanted] if isinstance(wanted, str) else wanted
    where = f"{key}: " if key else ""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UsageError(parameter, f"{where}type must be a type id or a list of them")
    unknown = [n for n in names if n not in TYPES]
    if unknown:
        raise UsageError(parameter, f"{where}unknown type {unknown[0][:MAX_NAME]!r}; types: {', '.join(TYPES)}")
    return tuple(dict.fromkeys(names))  # each once: the candidates are listed per type


def reconcile(catalog: Catalog, query: Mapping[str, Any], key: str = "q0") -> list[dict[str, Any]]:
    """The ranked candidates for one query; the one resource the text names exactly is the match."""
    kinds = _types(query, key)
    checks = [_constraint(catalog, p["pid"], p["v"], key) for p in query.get("properties", [])]

    def allowed(entity: Entity) -> bool:
        return all(check(entity) for check in checks)

    limit = int(min(query.get("limit", DEFAULT_LIMIT), MAX_LIMIT))
    text = query.get("query", "")
    if not text:
        found = [e for kind in kinds for e in catalog.by_kind[kind] if allowed(e)]
        return [_candidate(catalog, Hit(e, 50.0, e.names[0], False), len(found) == 1) for e in found[:limit]]
    exact = [h for h in catalog.exact(text, kinds) if allowed(h.entity)]
    ranked: dict[str, Hit] = {h.entity.iri: h for h in exact}
    for hit in [*catalog.search(text, kinds), *catalog.similar(text, kinds)]:
        seen = ranked.get(hit.entity.iri)
        better = seen is None and allowed(hit.entity) or seen is not None and not seen.exact and hit.score > seen.score
        if better:
            ranked[hit.entity.iri] = Hit(hit.entity, min(hit.score, EXACT - 1), hit.name, False)
    hits = sorted(ranked.values(), key=lambda h: (-h.score, h.entity.kind, len(h.entity.label), h.entity.path))
    # a place name the build reads as naming several places is matched to none of them, as the linker would not,
    # though the graph describes only one; unless properties narrow the candidates, as a printed province would, by
    # a place that is not as ambiguous itself (朝阳 in 朝阳 settles nothing)
    unsettled = any(
        p["pid"] == "place" and any(isinstance(v, str) and catalog.names_several(v) for v in _values(p["v"]))
        for p in query.get("properties", [])
    )
    several = bool(catalog.names_several(text)) and (not checks or unsettled)
    return [
        _candidate(catalog, h, h.exact and len(exact) == 1 and not (several and h.entity.kind == "place"))
        for h in hits[:limit]
    ]


def _candidate(catalog: Catalog, hit: Hit, match: bool) -> dict[str, Any]:
    entity = hit.entity
    return {
        "id": entity.path,
        "name": entity.label,
        "description": catalog.describe(entity),
        "score": hit.score,
        "match": match,
        "type": [{"id": entity.kind, "name": TYPES.get(entity.kind, entity.kind)}],
        "features": [
            {"id": "name_exact", "value": hit.exact},
            {"id": "name_similarity", "value": round(hit.score / EXACT, 4)},
        ],
    }


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _constraint(catalog: Catalog, pid: str, value: Any, key: str) -> Any:
    """A test of whether a resource has the property value; raises UsageError for an unknown property."""
    values = _values(value)
    if pid == "place":
        places: set[str] = set()
        for v in values:
            if isinstance(v, dict):
                found = catalog.by_path.get(str(v.get("id", "")))
                places.update([found.iri] if found is not None and found.kind == "place" else [])
            elif isinstance(v, str | int | float) and not isinstance(v, bool):
                places.update(h.entity.iri for h in catalog.exact(str(v), ["place"]))

        def in_place(entity: Entity) -> bool:
            return any(set(catalog.ancestry(p)) & places for p in catalog.places_of(entity))

        return in_place
    if pid == "edition":
        editions = {_ordinal(v, key) for v in values}

        def in_edition(entity: Entity) -> bool:
            if entity.kind in ("contest", "edition"):
                return entity.ordinal in editions
            return any(catalog.counts(entity).get(n, 0) for n in editions)

        return in_edition
    if pid == "kind":
        keys = {match_key(str(v.get("id", "")) if isinstance(v, dict) else str(v)) for v in values}

        def of_kind(entity: Entity) -> bool:
            return any(keys & {match_key(c.id), match_key(c.label), match_key(c.label_en)} for c in entity.categories)

        return of_kind
    raise UsageError("queries", f"{key}: unknown property {pid!r}; properties: {', '.join(PROPERTIES)}")


def _ordinal(value: Any, key: str) -> int:
    text = str(value.get("id", "")) if isinstance(value, dict) else str(value)
    text = text.strip().removeprefix("edition/")
    if not _WHOLE.fullmatch(text):
        raise UsageError("queries", f"{key}: an edition is an ordinal such as 11, found {value!r}")
    return int(text)


# --- preview, suggest, flyout ------------------------------------------------------------------------------------


def _entity(catalog: Catalog) -> Entity:
    """The entity ``id`` names (its IRI under the base, or the whole IRI); raises UsageError naming ``id``."""
    value = request.args.get("id", "").strip()
    entity = catalog.by_path.get(value.removeprefix(catalog.base).strip("/"))
    if entity is None:
        raise UsageError("id", f"no entity {value!r} in this graph")
    return entity


@bp.get("/preview")
def preview() -> Response:
    """A small HTML page describing one entity, for the client's preview frame."""
    catalog = get_catalog(get_engine().snapshot())
    entity = _entity(catalog)
    html = render_template("reconcile/preview.html", entity=entity, description=catalog.describe(entity))
    return Response(html, content_type="text/html; charset=utf-8")


@bp.get("/suggest/entity")
def suggest_entity() -> Response:
    """Entities whose names start with (then contain) ``prefix``, of ``type`` when given; ``cursor`` skips."""
    catalog = get_catalog(get_engine().snapshot())
    prefix = name_text(request.args.get("prefix", "").strip(), "prefix")
    kinds = _types({"type": request.args.get("type")} if request.args.get("type") else {}, "", "type")
    hits = catalog.search(prefix, kinds) if prefix else []
    start = _cursor()
    return _json(
        {
            "result": [
                {
                    "id": h.entity.path,
                    "name": h.entity.label,
                    "description": catalog.describe(h.entity),
                    "notable": [{"id": h.entity.kind, "name": TYPES.get(h.entity.kind, h.entity.kind)}],
                }
                for h in hits[start : start + SUGGESTIONS]
            ]
        }
    )


@bp.get("/suggest/entity/flyout")
def flyout() -> Response:
    """A small HTML preview of a suggested entity, as JSON."""
    catalog = get_catalog(get_engine().snapshot())
    entity = _entity(catalog)
    english = f" <span>{escape(entity.english)}</span>" if entity.english else ""
    html = f"<p><strong>{escape(entity.label)}</strong>{english}<br>{escape(catalog.describe(entity))}</p>"
    return _json({"id": entity.path, "html": html})


def _cursor() -> int:
    value = request.args.get("cursor", "0").strip() or "0"
    if not _WHOLE.fullmatch(value):
        shown = repr(value) if len(value) <= 20 else f"{len(value)} characters"
        raise UsageError("cursor", f"expected a number of suggestions to skip (up to 6 digits), found {shown}")
    return int(value)


def _suggest(items: Sequence[tuple[str, str, str]]) -> Response:
    prefix = match_key(name_text(request.args.get("prefix", ""), "prefix"))
    start = _cursor()
    found = [
        {"id": id, "name": name, "description": description}
        for id, name, description in items
        if not prefix or prefix in match_key(id) or prefix in match_key(name)
    ]
    return _json({"result": found[start : start + SUGGESTIONS]})


@bp.get("/suggest/type")
def suggest_type() -> Response:
    """The types whose id or name contains ``prefix``."""
    return _suggest([(id, name, f"the {id}s of the graph") for id, name in TYPES.items()])


@bp.get("/suggest/property")
def suggest_property() -> Response:
    """The properties a query can be narrowed by, whose id or name contains ``prefix``."""
    return _suggest([(id, name, description) for id, (name, description) in PROPERTIES.items()])


@bp.get("/try")
def try_it() -> str:
    """A page that reconciles a list of names through this service, as OpenRefine would."""
    return render_template(
        "reconcile/try.html", types=TYPES, properties=PROPERTIES, service_url=external_url("reconcile.service")
    )
