"""``maps``: where contests are held, drawn in the page (d3-geo, served from this server) over province outlines;
no tile server, no request leaves the site.

Outlines and coordinates come from the npm package echarts 4.9.0 (Apache-2.0; ECharts 5 no longer ships maps):
``map/json/china.json`` (the province-level divisions' outlines, and a centre for each) and
``map/json/china-cities.json`` (a centre for each prefecture-level city), both keyed by GB/T 2260 code. A place is
drawn at its own centre, else at the centre of the nearest place it lies in (a district at its city's); a place
with neither (the Production and Construction Corps, which the graph places in no province) is listed, not drawn.
The outlines are simplified drawings for orientation, not authoritative boundaries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, url_for

from makerkg.web import vendor
from makerkg.web.catalog import Catalog, Entity

bp = Blueprint("maps", __name__)

ECHARTS = vendor.MODULES / "echarts"
OUTLINES = ECHARTS / "map" / "json" / "china.json"
CITIES = ECHARTS / "map" / "json" / "china-cities.json"
DIGITS = 3  # decimals of a degree kept in the outlines served (about 100 m, far below what a page can show)


def decode(document: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON document from ECharts' compact encoding (``UTF8Encoding``: each coordinate pair two characters,
    zigzag- and delta-encoded from the ring's ``encodeOffsets``, in units of 1/``UTF8Scale`` degree).

    Hand-written after ECharts' own ``parseGeoJson`` decoder, which lives inside its renderer: no library decodes
    this format, and the package ships its maps in no other.

    >>> decode({"UTF8Encoding": True, "features": [{"geometry": {"type": "Polygon", "coordinates": ["@@BB"],
    ...     "encodeOffsets": [[1024, 2048]]}}]})["features"][0]["geometry"]["coordinates"]
    [[[1.0, 2.0], [1.001, 2.001]]]
    """
    if not document.get("UTF8Encoding"):
        return document
    scale = document.get("UTF8Scale") or 1024
    features = []
    for feature in document["features"]:
        geometry = feature["geometry"]
        offsets = geometry["encodeOffsets"]
        if geometry["type"] == "Polygon":
            rings = [_ring(r, offsets[i], scale) for i, r in enumerate(geometry["coordinates"])]
            coordinates: list[Any] = rings
        else:  # MultiPolygon
            coordinates = [
                [_ring(r, offsets[p][i], scale) for i, r in enumerate(polygon)]
                for p, polygon in enumerate(geometry["coordinates"])
            ]
        features.append({**feature, "geometry": {"type": geometry["type"], "coordinates": coordinates}})
    return {"type": "FeatureCollection", "features": features}


def _ring(text: str, offset: Sequence[int], scale: float) -> list[list[float]]:
    x, y = offset[0], offset[1]
    points = []
    for i in range(0, len(text) - 1, 2):
        dx, dy = ord(text[i]) - 64, ord(text[i + 1]) - 64
        x += (dx >> 1) ^ -(dx & 1)
        y += (dy >> 1) ^ -(dy & 1)
        points.append([round(x / scale, DIGITS), round(y / scale, DIGITS)])
    return points


@dataclass(frozen=True)
class Geo:
    """The outlines (GeoJSON) and the centre of each division the package knows, by code."""

    outlines: dict[str, Any]
    centres: dict[str, tuple[float, float]]
    version: str
    license: str


def load_geo(directory: Path = ECHARTS) -> Geo | None:
    """The map data of the installed package, or None when it is not installed."""
    outlines, cities, package = (
        directory / "map" / "json" / "china.json",
        directory / "map" / "json" / "china-cities.json",
        directory / "package.json",
    )
    if not all(p.is_file() for p in (outlines, cities, package)):
        return None
    provinces = json.loads(outlines.read_text(encoding="utf-8"))
    centres: dict[str, tuple[float, float]] = {}
    for feature in [*provinces["features"], *json.loads(cities.read_text(encoding="utf-8"))["features"]]:
        lng, lat = feature["properties"]["cp"]
        centres.setdefault(str(feature["id"]), (float(lng), float(lat)))
    shapes = decode(provinces)
    shapes["features"] = [
        {
            "type": "Feature",
            "id": str(f["id"]),
            "properties": {"code": str(f["id"]), "name": f["properties"]["name"]},
            "geometry": f["geometry"],
        }
        for f in shapes["features"]
    ]
    meta = json.loads(package.read_text(encoding="utf-8"))
    return Geo(shapes, centres, meta["version"], meta["license"])


class _Holder:
    """The map data, read once per process (it changes only with the installed package)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self._geo: Geo | None = None

    def get(self) -> Geo | None:
        with self._lock:
            if not self._loaded:
                self._geo, self._loaded = load_geo(), True
            return self._geo


def get_geo() -> Geo | None:
    holder = current_app.extensions.setdefault("makerkg.geo", _Holder())
    assert isinstance(holder, _Holder)  # noqa: S101 - set here alone
    return holder.get()


@bp.get("/map/china.geojson")
def outlines() -> Response:
    """The province-level divisions' outlines as GeoJSON (RFC 7946); 404 when the package is not installed."""
    geo = get_geo()
    if geo is None:
        return Response("the map data is not installed (npm ci --prefix server/makerkg/web/assets)\n", 404)
    body = json.dumps(geo.outlines, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, content_type="application/geo+json; charset=utf-8")
    response.cache_control.max_age = 3600
    return response


def _code(entity: Entity) -> str | None:
    return next((n.text for n in entity.names if n.field == "code"), None)


def place_map(catalog: Catalog, contests: Iterable[Entity], editions: Sequence[int]) -> dict[str, Any] | None:
    """What the page's map draws: each place contests are held in, with its contests per edition in ``editions``
    and where to draw it; None when the map data is not installed."""
    geo = get_geo()
    if geo is None:
        return None
    held: dict[str, dict[int, int]] = {}
    for contest in contests:
        if contest.location and contest.ordinal is not None and contest.ordinal in editions:
            counts = held.setdefault(contest.location, dict.fromkeys(editions, 0))
            counts[contest.ordinal] += 1
    places: list[dict[str, Any]] = []
    for iri, counts in held.items():
        entity = catalog.entities.get(iri)
        if entity is None:
            continue
        at, via = None, None
        for ancestor in catalog.ancestry(iri):
            found = catalog.entities.get(ancestor)
            code = _code(found) if found is not None else None
            if found is not None and code in geo.centres:
                at, via = geo.centres[code], found
                break
        places.append(
            {
                "id": entity.path,
                "href": entity.href,
                "label": entity.label,
                "english": entity.english,
                "counts": {str(n): c for n, c in counts.items()},
                "total": sum(counts.values()),
                "lng": at[0] if at else None,
                "lat": at[1] if at else None,
                "at": via.label if via is not None and via.iri != iri else "",
            }
        )
    places.sort(key=lambda p: (-int(p["total"]), str(p["id"])))
    return {
        "outline": url_for("maps.outlines"),
        "editions": [str(e) for e in editions],
        "places": places,
        "source": f"echarts {geo.version} ({geo.license})",
    }
