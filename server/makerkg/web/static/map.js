// Draws every map of the page (figure.map) with d3-geo, from this server's outlines and the places the page lists:
// one circle per place, a link to its page. Nothing is fetched from anywhere else.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function element(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function titled(node, text) {
  element("title", {}, node).textContent = text;
  return node;
}

// d3-geo reads a polygon's exterior ring as clockwise (spherical winding); GeoJSON (RFC 7946) winds it the other
// way, which d3 would read as the whole globe but the province: rewind any polygon that covers over half the sphere.
function wound(feature) {
  const polygons = feature.geometry.type === "Polygon" ? [feature.geometry.coordinates] : feature.geometry.coordinates;
  const fixed = polygons.map((rings) => (window.d3.geoArea({ type: "Polygon", coordinates: rings }) > 2 * Math.PI
    ? rings.map((ring) => ring.slice().reverse()) : rings));
  const geometry = feature.geometry.type === "Polygon" ? { type: "Polygon", coordinates: fixed[0] } : { type: "MultiPolygon", coordinates: fixed };
  return { ...feature, geometry };
}

async function draw(figure) {
  const svg = figure.querySelector("svg");
  const data = JSON.parse(figure.querySelector("script.map-data").textContent);
  if (!window.d3 || !window.d3.geoConicEqualArea) {
    figure.dataset.ready = "no-d3";
    return;
  }
  const response = await fetch(data.outline);
  if (!response.ok) {
    figure.dataset.ready = "no-outline";
    return;
  }
  const document_ = await response.json();
  const outline = { ...document_, features: document_.features.map(wound) };
  const [width, height] = [800, 600];
  const projection = window.d3.geoConicEqualArea().parallels([25, 47]).rotate([-105, 0]).fitExtent([[8, 8], [width - 8, height - 8]], outline);
  const path = window.d3.geoPath(projection);
  const provinces = element("g", { class: "provinces" }, svg);
  for (const feature of outline.features) {
    titled(element("path", { class: "province", d: path(feature), "data-code": feature.properties.code }, provinces), feature.properties.name);
  }
  const places = element("g", { class: "places" }, svg);
  const largest = Math.max(1, ...data.places.map((p) => p.total));
  const [first, second] = data.editions;
  for (const place of data.places) {  // largest first, so that small circles stay on top
    if (place.lng === null || place.lat === null) continue;
    const [x, y] = projection([place.lng, place.lat]);
    let series = "in-one";
    if (data.editions.length === 2) {
      const inFirst = place.counts[first] > 0, inSecond = place.counts[second] > 0;
      series = inFirst && inSecond ? "in-both" : inFirst ? "in-a" : "in-b";
    }
    const link = element("a", { href: place.href, "data-place": place.id }, places);
    const counts = data.editions.map((e) => `第${e}届 ${place.counts[e]}`).join(", ");
    titled(element("circle", {
      class: `place ${series}`, cx: x.toFixed(1), cy: y.toFixed(1), r: (3 + 9 * Math.sqrt(place.total / largest)).toFixed(1),
      "data-total": place.total,
    }, link), `${place.label}${place.at ? ` (at ${place.at})` : ""}: ${counts}`);
  }
  figure.dataset.ready = "map";
}

window.addEventListener("DOMContentLoaded", () => {
  for (const figure of document.querySelectorAll("figure.map")) {
    draw(figure).catch((error) => { figure.dataset.ready = "failed"; console.error(error); });
  }
});
