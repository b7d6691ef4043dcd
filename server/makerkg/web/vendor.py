"""``vendor``: front-end files installed from the npm registry (``npm ci --prefix server/makerkg/web/assets``), served
from this server, never from a CDN: Swagger UI for the API documentation, d3-geo (with d3-array, which it needs)
for the maps. Only the files named here are served; the wheel carries the same files (``artifacts`` in
pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_file

bp = Blueprint("vendor", __name__)

MODULES = Path(__file__).parent / "assets" / "node_modules"
# package → (its directory, the files served and their media types)
PACKAGES: dict[str, tuple[Path, dict[str, str]]] = {
    "swagger-ui": (
        MODULES / "swagger-ui-dist",
        {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"},
    ),
    "d3": (
        MODULES,
        {"d3-array/dist/d3-array.min.js": "text/javascript", "d3-geo/dist/d3-geo.min.js": "text/javascript"},
    ),
}


def installed(package: str) -> bool:
    """Whether every file of ``package`` is installed."""
    directory, files = PACKAGES[package]
    return all((directory / name).is_file() for name in files)


@bp.get("/static/vendor/<any('swagger-ui', 'd3'):package>/<path:name>")
def asset(package: str, name: str) -> Response:
    """One of the files listed for ``package``; any other name is a 404."""
    directory, files = PACKAGES[package]
    if name not in files or not (directory / name).is_file():
        abort(404)
    return send_file(directory / name, mimetype=files[name], max_age=3600)
