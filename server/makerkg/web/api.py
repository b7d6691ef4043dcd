"""``/api``: the named queries as a REST API, described by an OpenAPI 3 document generated from their headers."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from makerkg import __version__
from makerkg.errors import ProtocolError, UsageError
from makerkg.namespaces import PREFIXES
from makerkg.queries import EDITION_DEFAULTS, TYPES, NamedQuery, Parameter, bind_parameters, bound_text, edition_default
from makerkg.sparql.negotiate import negotiate
from makerkg.store.execute import ROWS as ROWS_JSON
from makerkg.store.query import Job
from makerkg.web import apidoc, downloads, vendor
from makerkg.web.engine import get_engine
from makerkg.web.public import base_url, external_url
from makerkg.web.sparql import respond

bp = Blueprint("api", __name__, url_prefix="/api")
OFFERS = [ROWS_JSON, "text/csv"]
ALIASES = {"json": ROWS_JSON, "csv": "text/csv"}


def describe(query: NamedQuery, editions: list[int]) -> dict[str, Any]:
    return {
        "name": query.name,
        "title": query.title,
        "description": query.description,
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "required": p.required,
                "default": _default(p, editions),
                "description": p.doc,
            }
            for p in query.parameters
        ],
        "href": external_url("api.run", name=query.name),
    }


@bp.get("/prefixes")
def prefixes() -> Response:
    """The prefixes every query to /sparql has predefined, as ``{prefix: namespace}`` (the form the query editor's
    prefix completion reads)."""
    return jsonify(PREFIXES)


@bp.get("/queries")
def listing() -> Response:
    """Every named query with its title, description and parameters."""
    engine = get_engine()
    editions = engine.snapshot().build.info.editions
    return jsonify({"queries": [describe(q, editions) for q in engine.queries.values()]})


@bp.get("/queries/<name>")
def run(name: str) -> Response:
    """Run a named query with the parameters given in the URL; JSON rows, or CSV by negotiation."""
    engine = get_engine()
    query = engine.queries.get(name)
    if query is None:
        raise ProtocolError(404, "name", f"no named query {name!r}; see {url_for('api.listing')}")
    params = {k: v for k, v in request.args.items() if k not in ("format", "bom")}
    for key in request.args:
        if len(request.args.getlist(key)) > 1:
            raise UsageError(key, "given more than once")
    snapshot = engine.snapshot()
    bindings = bind_parameters(query, params, snapshot.build.info.base, editions=snapshot.build.info.editions)
    media = negotiate(request.headers.get("Accept"), request.args.get("format"), OFFERS, ALIASES)
    settings = engine.settings
    job = Job(bound_text(query, bindings), "SELECT", media, settings.max_rows, settings.max_answer_bytes)
    response = respond(snapshot.pool.execute(job))
    if media == downloads.CSV:
        given = [part for key in sorted(params) for part in (key, _ascii(params[key]))]
        downloads.attach(response, downloads.filename(name, *given), downloads.wants_bom())
    return response


def _ascii(value: str) -> str:
    """A parameter's value as part of a file name: letters, digits and hyphens."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", value).strip("-")


@bp.get("")
def docs() -> str:
    """The API documented: Swagger UI on the OpenAPI document, served from this server."""
    return render_template("api.html", swagger=vendor.installed("swagger-ui"))


def _default(param: Parameter, editions: list[int]) -> int | str | None:
    """The default a client gets: for ``latest`` and ``previous``, the edition of this build they name."""
    if param.default in (None, "*"):
        return None
    if param.type == "edition" and param.default in EDITION_DEFAULTS:
        return edition_default(param.default, editions) if editions else None
    return int(param.default) if param.type in ("edition", "integer") else param.default


def _schema(param: Parameter, editions: list[int]) -> dict[str, Any]:
    if param.type == "edition":
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 999999}
    elif param.type == "integer":
        schema = {"type": "integer", "minimum": 0, "maximum": 999999}
    elif param.type == "string":
        schema = {"type": "string", "maxLength": 200}
    else:
        schema = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]*$", "maxLength": 64}
    default = _default(param, editions)
    if default is not None:
        schema["default"] = default
    return schema


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of the named-query API, generated from the queries' headers."""
    paths: dict[str, Any] = {
        "/api/queries": {
            "get": {
                "operationId": "listQueries",
                "summary": "List the named queries",
                "responses": {
                    "200": {
                        "description": "the named queries",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
    }
    engine = get_engine()
    editions = engine.snapshot().build.info.editions
    for query in engine.queries.values():
        parameters = [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": f"{p.doc} ({TYPES[p.type]})",
                "schema": _schema(p, editions),
            }
            for p in query.parameters
        ]
        parameters.extend(apidoc.FORMAT_PARAMETERS)
        paths[f"/api/queries/{query.name}"] = {
            "get": {
                "operationId": query.name.replace("-", "_"),
                "summary": query.title,
                "description": query.description,
                "parameters": parameters,
                "responses": {
                    "200": {
                        "description": "the rows",
                        "content": {
                            ROWS_JSON: {"schema": {"$ref": "#/components/schemas/Rows"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                        "headers": {
                            "Content-Disposition": {
                                "description": "CSV: attachment, with a file name",
                                "schema": {"type": "string"},
                            }
                        },
                    },
                    "400": _problem("a parameter is not of its type, or names an edition the build lacks"),
                    "406": _problem("neither JSON nor CSV is acceptable"),
                    "503": _problem("the query ran past the time limit, or the server is busy"),
                },
            }
        }
    document = {
        "openapi": "3.0.3",
        "info": {
            "title": "makerkg named queries",
            "version": __version__,
            "description": "Named SPARQL queries over the “创客中国” contest knowledge graph, each parameter "
            "bound as an RDF term; the listings, search, the reconciliation service and the editions compared. "
            "Every table is also CSV, with a file name and, with bom=1, a UTF-8 byte order mark for Excel. The "
            "SPARQL endpoint itself is at /sparql.",
        },
        "servers": [{"url": base_url().rstrip("/")}],
        "paths": {**paths, **apidoc.paths()},
        "components": {
            "schemas": {
                "Rows": {
                    "type": "object",
                    "required": ["columns", "rows", "truncated"],
                    "properties": {
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "rows": {
                            "type": "array",
                            "items": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                        "truncated": {"type": "boolean", "description": "true when the max_rows limit cut the result"},
                    },
                },
                **apidoc.SCHEMAS,
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "parameter": {"type": "string"},
                    },
                },
            }
        },
    }
    return jsonify(document)
