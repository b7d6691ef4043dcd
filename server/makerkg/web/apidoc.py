"""The parts of the OpenAPI document that describe the listings, search, the reconciliation service and the CSV of
``/compare``: their parameters and the JSON Schemas of their answers (``api.openapi`` adds them to the named
queries' paths)."""

from __future__ import annotations

from typing import Any

from makerkg.web.catalog import KINDS
from makerkg.web.listings import SEGMENTS, TITLES
from makerkg.web.reconcile import PROPERTIES, TYPES
from makerkg.web.ui import COMPARE_TABLES

FORMAT_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "json or csv; overrides Accept",
        "schema": {"type": "string", "enum": ["json", "csv"]},
    },
    {
        "name": "bom",
        "in": "query",
        "required": False,
        "description": "1: the CSV starts with a UTF-8 byte order mark, which Excel needs to read it as UTF-8",
        "schema": {"type": "string", "enum": ["1", "0"]},
    },
]
_STRING = {"type": "string"}
_KINDS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "label", "label_en"],
        "properties": {"id": _STRING, "label": _STRING, "label_en": _STRING},
    },
}
SCHEMAS: dict[str, Any] = {
    "Listing": {
        "type": "object",
        "required": ["kind", "editions", "columns", "filters", "sort", "order", "total", "count", "kinds", "items"],
        "properties": {
            "kind": {"type": "string", "enum": list(SEGMENTS.values())},
            "editions": {"type": "array", "items": {"type": "integer"}},
            "columns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "heading"],
                    "properties": {"id": _STRING, "heading": _STRING},
                },
                "description": "the count columns: one per edition, or for editions one per contest kind",
            },
            "filters": {
                "type": "object",
                "required": ["edition", "kind"],
                "properties": {"edition": {"type": ["integer", "null"]}, "kind": {"type": ["string", "null"]}},
            },
            "sort": _STRING,
            "order": {"type": "string", "enum": ["asc", "desc"]},
            "total": {"type": "integer", "description": "resources of this kind in the build"},
            "count": {"type": "integer", "description": "resources after the filters"},
            "kinds": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "label", "label_en", "count"],
                    "properties": {"id": _STRING, "label": _STRING, "label_en": _STRING, "count": {"type": "integer"}},
                },
            },
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ListingItem"}},
        },
    },
    "ListingItem": {
        "type": "object",
        "required": ["iri", "id", "href", "label", "english", "kinds", "unresolved", "counts", "total"],
        "properties": {
            "iri": _STRING,
            "id": {"type": "string", "description": "the IRI under the base"},
            "href": {"type": "string", "description": "the page's path on this server"},
            "label": _STRING,
            "english": _STRING,
            "kinds": _KINDS,
            "unresolved": {"type": "boolean", "description": "a printed name the reference data does not know"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "total": {"type": "integer"},
            "year": _STRING,
            "ordinal": {"type": "integer"},
            "parent": {"type": ["string", "null"]},
        },
    },
    "SearchResults": {
        "type": "object",
        "required": ["query", "kinds", "count", "results"],
        "properties": {
            "query": _STRING,
            "kinds": {"type": "array", "items": {"type": "string", "enum": list(KINDS)}},
            "count": {"type": "integer"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
        },
    },
    "Hit": {
        "type": "object",
        "required": [
            "iri",
            "id",
            "href",
            "label",
            "english",
            "kind",
            "kinds",
            "description",
            "score",
            "exact",
            "matched",
        ],
        "properties": {
            "iri": _STRING,
            "id": _STRING,
            "href": _STRING,
            "label": _STRING,
            "english": _STRING,
            "kind": {"type": "string", "enum": list(KINDS)},
            "kinds": _KINDS,
            "description": _STRING,
            "score": {"type": "number", "minimum": 0, "maximum": 100},
            "exact": {"type": "boolean", "description": "the text is one of its names, by the build's rules"},
            "matched": {
                "type": "object",
                "required": ["text", "field"],
                "properties": {"text": _STRING, "field": _STRING},
            },
        },
    },
}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def paths() -> dict[str, Any]:
    """The paths of the listings, search, reconciliation and ``/compare.csv``."""
    found: dict[str, Any] = {}
    for segment, kind in SEGMENTS.items():
        found[f"/{segment}/"] = {
            "get": {
                "operationId": f"list_{segment.replace('-', '_')}",
                "summary": f"{TITLES[kind]}: every one of the build, with contests per edition",
                "parameters": [
                    _query("edition", "only those with contests in this edition", {"type": "integer"}),
                    _query("kind", "only those of this kind (an id from `kinds`)", _STRING),
                    _query("sort", "label, id, kind, total or count-COLUMN (a column id)", _STRING),
                    _query("order", "asc or desc", {"type": "string", "enum": ["asc", "desc"]}),
                    {
                        **FORMAT_PARAMETERS[0],
                        "description": "html, json, csv or an RDF format (ttl, nt, jsonld, rdfxml)",
                    },
                    FORMAT_PARAMETERS[1],
                ],
                "responses": {
                    "200": {
                        "description": "the listing (RDF: a hydra:Collection of its members)",
                        "content": {
                            **_json("Listing"),
                            "text/csv": {"schema": _STRING},
                            "text/turtle": {"schema": _STRING},
                        },
                    },
                    "400": _problem("a parameter names no edition, kind, column or order"),
                },
            }
        }
    found["/search"] = {
        "get": {
            "operationId": "search",
            "summary": "Resources by name, short name, printed form, misprint, English name or code",
            "description": "Substrings, not words (Chinese has no spaces); exact names first.",
            "parameters": [
                _query("q", "the text, e.g. 江苏, 工信部, Jiangsu, 320000", _STRING, required=True),
                _query("kind", f"comma-separated kinds among {', '.join(KINDS)}", _STRING),
                {
                    **FORMAT_PARAMETERS[0],
                    "description": "html or json",
                    "schema": {"type": "string", "enum": ["html", "json"]},
                },
            ],
            "responses": {
                "200": {"description": "the hits, best first", "content": _json("SearchResults")},
                "400": _problem("no q, or an unknown kind"),
            },
        }
    }
    found["/reconcile"] = {
        "get": {
            "operationId": "reconcile",
            "summary": "W3C Reconciliation Service API (versions 0.1 and 0.2): the manifest, or a batch of queries",
            "description": f"Types: {', '.join(TYPES)}. Properties: {', '.join(PROPERTIES)}. Without `queries`, "
            "the service manifest. POST the same `queries` as a form for large batches.",
            "parameters": [
                _query("queries", "a reconciliation query batch, as JSON", _STRING),
                _query("callback", "JSONP: the function to call with the answer", _STRING),
            ],
            "responses": {
                "200": {
                    "description": "the manifest, or the result batch",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": _problem("the batch is not a query batch, or names an unknown type or property"),
                "413": _problem("more queries than batchSize"),
            },
        }
    }
    found["/compare.csv"] = {
        "get": {
            "operationId": "compare_csv",
            "summary": "One table of two editions compared, as CSV",
            "parameters": [
                _query("table", "which table", {"type": "string", "enum": list(COMPARE_TABLES)}, required=True),
                _query("a", "the first edition (default: the build's second latest)", {"type": "integer"}),
                _query("b", "the second edition (default: the build's latest)", {"type": "integer"}),
                FORMAT_PARAMETERS[1],
            ],
            "responses": {
                "200": {"description": "the table", "content": {"text/csv": {"schema": _STRING}}},
                "400": _problem("an unknown table or edition"),
            },
        }
    }
    return found
