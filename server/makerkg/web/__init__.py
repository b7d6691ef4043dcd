"""The Flask app: ``create_app`` is the only way to get one."""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request
from flask_cors import CORS

from makerkg.config import Settings, load
from makerkg.web import api, dumps, errors, limits, listings, maps, pages, reconcile, search, seo, sparql, ui, vendor
from makerkg.web.engine import Engine, get_engine

EXPOSED = ["ETag", "Makerkg-Result-Truncated", "Retry-After", "Vary"]


def create_app(settings: Settings | None = None) -> Flask:
    """An app serving the current build under ``settings.out``; raises StoreMissing when there is none."""
    settings = settings or load()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    engine = app.extensions["makerkg"] = Engine(settings)  # … which its query workers start from
    # read routes answer any origin, without credentials; preflight requests are answered for POST queries
    CORS(app, origins="*", send_wildcard=True, supports_credentials=False, expose_headers=EXPOSED, max_age=86400)
    errors.register(app)
    limits.register(app, settings)
    app.register_blueprint(sparql.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(dumps.bp)
    app.register_blueprint(listings.bp)
    app.register_blueprint(seo.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(reconcile.bp)
    app.register_blueprint(maps.bp)
    app.register_blueprint(vendor.bp)
    app.register_blueprint(pages.bp)  # last: its catch-all route serves every other path under the base
    app.after_request(_etag)
    app.context_processor(_template_globals)
    engine.ready()  # … while the app was set up
    return app


def _template_globals() -> dict[str, str]:
    return {"build_id": get_engine().snapshot().build.info.id}


def _etag(response: Response) -> Response:
    """An ETag derived from the build and the representation: data change only when a build is published."""
    if request.method in ("GET", "HEAD") and response.status_code == 200 and not response.is_streamed:
        engine = get_engine()
        key = b"%s\n%s\n%s" % (request.path.encode(), request.query_string, response.content_type.encode())
        response.set_etag(f"{engine.snapshot().etag}-{hashlib.blake2b(key, digest_size=8).hexdigest()}")
        if "If-None-Match" in request.headers:
            response.make_conditional(request)
    return response
