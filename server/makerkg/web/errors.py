"""Error responses, registered on the app: a status, a one-line message naming the parameter at fault, and the
headers the error implies (Allow, Retry-After). The body is RFC 9457 problem details in JSON or plain text, by
negotiation. No response ever carries a traceback."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from flask import Flask, Response, request, url_for
from werkzeug.exceptions import HTTPException

from makerkg.errors import (
    Busy,
    MakerkgError,
    NotAcceptable,
    ProtocolError,
    QueryFailed,
    QueryRefused,
    QuerySyntaxError,
    QueryTimeout,
    QueryTooLarge,
    StoreMissing,
    StoreUnavailable,
    UsageError,
    WorkerLost,
    cut,
)
from makerkg.sparql.negotiate import negotiate

log = logging.getLogger(__name__)
ERROR_TYPES = ["text/plain", "application/problem+json", "application/json"]


def problem(status: int, detail: str, headers: dict[str, str] | None = None, **extra: object) -> Response:
    """A problem-details response, JSON or text as the client prefers (text when it states no preference)."""
    try:
        media = negotiate(request.headers.get("Accept"), None, ERROR_TYPES, {})
    except NotAcceptable:
        media = "text/plain"
    title = HTTPStatus(status).phrase
    if media == "text/plain":
        body = f"{status} {title}: {detail}\n"
        response = Response(body, status=status, mimetype="text/plain")
    else:
        document = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
        response = Response(json.dumps(document, ensure_ascii=False) + "\n", status=status, mimetype=media)
    response.headers["Vary"] = "Accept"
    # the detail may quote the request (a parameter's value): never let a browser read it as HTML
    response.headers["X-Content-Type-Options"] = "nosniff"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    """Attach the handlers to ``app`` (routing 404 and 405 never reach a blueprint's handlers)."""

    @app.errorhandler(ProtocolError)
    def protocol_error(err: ProtocolError) -> Response:
        headers = {"Allow": err.allow} if err.allow else None
        return problem(err.status, str(err), headers, parameter=err.parameter)

    @app.errorhandler(QuerySyntaxError)
    def syntax_error(err: QuerySyntaxError) -> Response:
        return problem(400, f"query: {err.message}", parameter="query")

    @app.errorhandler(QueryFailed)
    def failed(err: QueryFailed) -> Response:
        return problem(400, f"query: {err.message}", parameter="query")

    @app.errorhandler(QueryRefused)
    def refused(err: QueryRefused) -> Response:
        return problem(403, f"query: {err.reason}", parameter="query")

    @app.errorhandler(UsageError)
    def usage(err: UsageError) -> Response:
        return problem(400, str(err), parameter=err.parameter)

    @app.errorhandler(NotAcceptable)
    def not_acceptable(err: NotAcceptable) -> Response:
        offers = list(err.offers)
        return problem(
            406, f"none of the requested media types can be produced; available: {', '.join(offers)}", available=offers
        )

    @app.errorhandler(QueryTimeout)
    def timeout(err: QueryTimeout) -> Response:
        return problem(503, str(err), limit="query_timeout", seconds=err.seconds)

    @app.errorhandler(QueryTooLarge)
    def too_large(err: QueryTooLarge) -> Response:
        return problem(503, str(err), limit="query_memory", mebibytes=err.limit_mib)

    @app.errorhandler(Busy)
    def busy(err: Busy) -> Response:
        return problem(503, str(err), {"Retry-After": str(max(1, round(err.seconds)))})

    @app.errorhandler(WorkerLost)
    def lost(err: WorkerLost) -> Response:
        return problem(503, str(err), {"Retry-After": "1"})

    @app.errorhandler(StoreUnavailable)
    def unavailable(err: StoreUnavailable) -> Response:
        log.error("%s", err)
        return problem(502, "the SPARQL store behind this server did not answer properly", {"Retry-After": "5"})

    @app.errorhandler(StoreMissing)
    def missing(err: StoreMissing) -> Response:
        log.error("%s", err)
        return problem(503, "the graph is not available right now", {"Retry-After": "5"})

    @app.errorhandler(HTTPException)
    def http(err: HTTPException) -> Response:
        status = err.code or 500
        detail = err.description or HTTPStatus(status).phrase
        if status == 413:
            detail = (
                f"the request is larger than the limit of {app.config['MAX_CONTENT_LENGTH']} bytes (max_request_bytes)"
            )
        elif status == 404:  # Werkzeug's text speaks of spelling; say what was looked for, and where to find things
            search = url_for("search.search")
            detail = f"nothing is published at {cut(request.path, 200)!r}; {search} finds a resource by its name"
        kept = ("allow", "retry-after", "location", "content-range")  # a 416 names the length (RFC 9110, 15.5.17)
        headers = {k: v for k, v in err.get_headers() if k.lower() in kept}
        if status == 405 and "Allow" in headers:  # every route but /sparql's POST only reads
            detail = f"{request.method[:20]} is not allowed on {request.path[:200]} (allowed: {headers['Allow']})"
        return problem(status, detail, headers)

    @app.errorhandler(MakerkgError)
    def other(err: MakerkgError) -> Response:
        log.warning("request failed: %s", err)
        return problem(500, "the request could not be completed")

    @app.errorhandler(Exception)
    def last_resort(err: Exception) -> Response:
        log.exception("unexpected error on %r %.200r", request.method[:20], request.path)
        return problem(500, "internal error; it has been logged")
