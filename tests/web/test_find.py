"""Finding without SPARQL (issue 15): the listings, search, CSV downloads, the API documentation, the maps' data,
robots.txt, the sitemap and every page's canonical link and description, through Flask's test client; every JSON
shape checked against the schema the OpenAPI document gives for it."""

from __future__ import annotations

import codecs
import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient
from rdflib import Graph, Literal, URIRef
from tests.facts import ALL_CONTESTS, TRACKS
from tests.web.test_ui import parse, text

BASE = "https://w3id.org/makerkg/"
HYDRA = "http://www.w3.org/ns/hydra/core#"
BOM = codecs.BOM_UTF8
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def schema_of(client: FlaskClient, name: str) -> dict[str, Any]:
    """A schema of the OpenAPI document, its references resolvable."""
    document = client.get("/api/openapi.json").get_json()
    return {**document["components"]["schemas"][name], "components": document["components"]}


def valid(client: FlaskClient, name: str, instance: Any) -> None:
    jsonschema.validate(instance, schema_of(client, name))


# --- listings -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind", "total", "per_edition"),
    [
        ("/org/", "organization", 58, {8: 44, 11: 45}),  # 31 in both: 44 + 45 - 31 = 58
        ("/place/", "place", 85, {8: 46, 11: 51}),  # held there or in a place within it
        ("/track/", "track", 29, {8: 13, 11: 17}),
        ("/edition/", "edition", 2, {8: 1, 11: 1}),
    ],
)
def test_listings_list_every_resource_and_filter_by_edition(
    client: FlaskClient, path: str, kind: str, total: int, per_edition: dict[int, int]
) -> None:
    whole = client.get(path, headers={"Accept": "application/json"})
    assert whole.status_code == 200 and whole.headers["Vary"] == "Accept, Accept-Encoding"
    document = whole.get_json()
    valid(client, "Listing", document)
    assert (document["kind"], document["total"], document["count"], len(document["items"])) == (
        kind,
        total,
        total,
        total,
    )
    for edition, count in per_edition.items():
        filtered = client.get(f"{path}?format=json&edition={edition}").get_json()
        assert filtered["count"] == count and filtered["filters"] == {"edition": edition, "kind": None}


def test_the_organization_listing_counts_contests_per_edition(client: FlaskClient) -> None:
    items = client.get("/org/?format=json&sort=total&order=desc").get_json()["items"]
    first = items[0]
    assert first["id"] == "org/miit-nisc" and first["label"] == "工业和信息化部网络安全产业发展中心"
    assert first["counts"] == {"8": 14, "11": 18} and first["total"] == 32
    assert first["kinds"] == [{"id": "public-institution", "label": "事业单位", "label_en": "public institution"}]
    totals = [i["total"] for i in items]
    assert totals == sorted(totals, reverse=True)
    miit = next(i for i in items if i["id"] == "org/miit")
    assert miit["english"] == "Ministry of Industry and Information Technology" and miit["counts"] == {"8": 1, "11": 0}


def test_the_edition_listing_counts_contests_by_kind(client: FlaskClient) -> None:
    document = client.get("/edition/", headers={"Accept": "application/json"}).get_json()
    assert [c["id"] for c in document["columns"]] == [
        "NationalFinal",
        "RegionalContest",
        "ThematicContest",
        "OverseasContest",
    ]
    assert [(i["ordinal"], i["year"], list(i["counts"].values()), i["total"]) for i in document["items"]] == [
        (8, "2023", [1, 1, 35, 13], 50),  # JSON keys sorted: NationalFinal, OverseasContest, Regional, Thematic
        (11, "2026", [1, 1, 35, 17], 54),
    ]


def test_listings_filter_by_kind(client: FlaskClient) -> None:
    provinces = client.get("/place/?format=json&kind=ProvinceLevelDivision").get_json()
    assert provinces["count"] == 31  # the 31 province-level divisions; the Corps is a kind of its own
    ministries = client.get("/org/?format=json&kind=ministry").get_json()
    assert sorted(i["id"] for i in ministries["items"]) == ["org/miit", "org/mof"]
    kinds = {k["id"]: k["count"] for k in provinces["kinds"]}
    assert kinds["ProvinceLevelDivision"] == 31 and kinds["ProductionConstructionCorps"] == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("edition=9", "edition"),
        ("edition=x", "edition"),
        ("kind=nope", "kind"),
        ("sort=colour", "sort"),
        ("order=up", "order"),
        ("sort=label&sort=id", "sort"),
        ("format=csv&bom=maybe", "bom"),
    ],
)
def test_a_bad_listing_parameter_is_a_400_naming_it(client: FlaskClient, query: str, parameter: str) -> None:
    response = client.get(f"/org/?{query}", headers={"Accept": "application/problem+json"})
    assert response.status_code == 400
    assert response.get_json()["parameter"] == parameter


def test_a_bad_edition_is_told_with_an_edition_of_the_build_as_example(client: FlaskClient) -> None:
    """The listings' default edition is 0 ("every edition"), which is no example of an edition to give."""
    response = client.get("/org/?edition=abc")
    assert response.get_data(as_text=True) == (
        "400 Bad Request: edition: expected an edition ordinal (a whole number such as 11), found 'abc'\n"
    )


def test_an_unknown_named_query_is_a_404(client: FlaskClient) -> None:
    response = client.get("/api/queries/nope", headers={"Accept": "application/problem+json"})
    assert response.status_code == 404
    assert response.get_json()["parameter"] == "name"
    assert response.get_json()["detail"] == "name: no named query 'nope'; see /api/queries"


def test_the_listing_page_links_every_resource_and_sorts_by_its_columns(client: FlaskClient) -> None:
    response = client.get("/track/", headers={"Accept": FIREFOX})
    assert response.status_code == 200 and response.content_type == "text/html; charset=utf-8"
    page = parse(response.get_data(as_text=True))
    rows = page.findall(".//table[@id='listing']/tbody/tr")
    assert len(rows) == TRACKS
    links = [r.find("th/a") for r in rows]
    assert all(a is not None and a.get("href", "").startswith("/track/") for a in links)
    assert all(
        client.get(a.get("href", ""), headers={"Accept": "text/html"}).status_code == 200
        for a in links
        if a is not None
    )
    headers = {a.get("data-sort"): a.get("href") for a in page.iter("a") if a.get("data-sort")}
    assert set(headers) == {"label", "kind", "count-8", "count-11", "total"}
    assert headers["total"] == "?sort=total&order=desc"
    by_total = parse(client.get("/track/" + headers["total"]).get_data(as_text=True))
    first = by_total.find(".//table[@id='listing']/tbody/tr")
    assert first is not None and first.get("data-id") == "track/visual-intelligence"  # held in both editions


def test_a_listing_as_rdf_is_a_collection_of_its_members(client: FlaskClient) -> None:
    response = client.get("/track/", headers={"Accept": "text/turtle"})
    assert response.status_code == 200 and response.content_type == "text/turtle; charset=utf-8"
    graph = Graph().parse(data=response.get_data(as_text=True), format="turtle")
    collection = URIRef(BASE + "track/")
    assert len(list(graph.objects(collection, URIRef(HYDRA + "member")))) == TRACKS
    assert graph.value(collection, URIRef(HYDRA + "totalItems")).toPython() == TRACKS
    track = URIRef(BASE + "track/visual-intelligence")
    assert (track, URIRef("http://www.w3.org/2004/02/skos/core#prefLabel"), Literal("视觉智能", lang="zh")) in graph


# --- downloads ----------------------------------------------------------------------------------------------------


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


@pytest.mark.parametrize(
    ("url", "filename", "header"),
    [
        (
            "/org/?format=csv",
            "makerkg-organizations.csv",
            ["iri", "label", "english", "kind", "8th edition", "11th edition", "total"],
        ),
        ("/place/?format=csv&edition=11", "makerkg-places-edition-11.csv", None),
        (
            "/compare.csv?table=hosts",
            "makerkg-compare-8-11-hosts.csv",
            ["region", "region name", "hosts in edition 8", "hosts in edition 11", "changed", "renamed"],
        ),
        ("/compare.csv?table=tracks&a=11&b=8", "makerkg-compare-11-8-tracks.csv", None),
        ("/api/queries/orgs-ranked?format=csv", "makerkg-orgs-ranked.csv", None),
        ("/api/queries/region-hosts?format=csv&a=8&b=11", "makerkg-region-hosts-a-8-b-11.csv", None),
    ],
)
def test_tables_download_as_csv_with_a_file_name_and_on_request_a_bom(
    client: FlaskClient, url: str, filename: str, header: list[str] | None
) -> None:
    plain = client.get(url)
    assert plain.status_code == 200 and plain.content_type == "text/csv; charset=utf-8"
    assert plain.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert not plain.data.startswith(BOM)
    marked = client.get(url + "&bom=1")
    assert marked.data == BOM + plain.data
    if header is not None:
        assert rows_of(plain.data)[0] == header


def test_the_compare_tables_as_csv_hold_what_the_page_shows(client: FlaskClient) -> None:
    rows = rows_of(client.get("/compare.csv?table=hosts").data)
    anhui = next(r for r in rows if r[1] == "安徽省")
    assert anhui == [BASE + "place/340000", "安徽省", "安徽省经济和信息化厅", "安徽省工业和信息化厅", "false", "true"]
    assert len(rows) == 1 + 35  # the same 35 regions in both editions, as on the page
    new = rows_of(client.get("/compare.csv?table=orgs-new").data)
    assert new[0] == ["organization", "name", "contests in edition 11", "renamed"]
    assert client.get("/compare.csv?table=chart").status_code == 400
    assert client.get("/compare.csv").status_code == 400


def test_compare_links_host_names_places_and_contests(client: FlaskClient) -> None:
    page = parse(client.get("/compare").get_data(as_text=True))
    anhui = page.find(".//table[@id='hosts']/tbody/tr[@data-region='安徽省']")
    assert anhui is not None
    hosts = [(a.get("href"), text(a)) for a in anhui.findall("td/div/a")]
    assert hosts == [("/org/ah-jxt", "安徽省经济和信息化厅"), ("/org/ah-gxt", "安徽省工业和信息化厅")]
    track = page.find(".//table[@id='tracks']/tbody/tr[@data-status='continued']")
    assert track is not None and all(a.get("href", "").startswith("/place/") for a in track.findall("td/a"))
    new = page.find(".//table[@id='orgs-new']/tbody/tr")
    assert new is not None and new.find("td/div/a") is not None
    assert new.find("td/div/a").get("href", "").startswith("/edition/11/")  # type: ignore[union-attr]


# --- search -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("工信部", ["org/miit"]),
        (
            "江苏",
            [
                "place/320000",  # its short name: exact
                "org/js-gxt",
                "place/320281",  # 江阴市, printed 江苏省江阴市
                "org/js-zxqyfzzx",
                "edition/8/regional/320000",
                "edition/11/regional/320000",
            ],
        ),
        ("Jiangsu", ["place/320000"]),
        ("jiangsu", ["place/320000"]),
        ("320000", ["place/320000", "edition/8/regional/320000", "edition/11/regional/320000"]),
        ("山东省工业和信息厅", ["org/sd-gxt"]),  # the misprint of the 11th plan
        ("浙江杭州", ["place/330100"]),  # a chain of places
        (
            "视觉",
            [
                "track/visual-intelligence",
                "edition/8/thematic/visual-intelligence",
                "edition/11/thematic/visual-intelligence",
            ],
        ),
    ],
)
def test_search_finds_names_short_names_printed_forms_misprints_english_names_and_codes(
    client: FlaskClient, q: str, found: list[str]
) -> None:
    response = client.get("/search", query_string={"q": q}, headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.headers["Vary"] == "Accept, Accept-Encoding"
    document = response.get_json()
    valid(client, "SearchResults", document)
    assert [r["id"] for r in document["results"]] == found
    assert document["results"][0]["kind"] == found[0].split("/")[0].replace("org", "organization")


def test_search_ranks_exact_names_first_and_tells_what_matched(client: FlaskClient) -> None:
    results = client.get("/search?q=江苏&format=json").get_json()["results"]
    assert results[0]["exact"] and results[0]["matched"] == {"text": "江苏", "field": "other name"}
    assert not any(r["exact"] for r in results[1:])
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    only_orgs = client.get("/search?q=江苏&kind=organization&format=json").get_json()
    assert [r["id"] for r in only_orgs["results"]] == ["org/js-gxt", "org/js-zxqyfzzx"]


def test_the_search_page_lists_hits_with_their_kind(client: FlaskClient) -> None:
    response = client.get("/search?q=工信部", headers={"Accept": FIREFOX})
    page = parse(response.get_data(as_text=True))
    hits = page.findall(".//ol[@id='hits']/li")
    assert [(h.get("data-kind"), h.find("a").get("href")) for h in hits] == [("organization", "/org/miit")]  # type: ignore[union-attr]
    box = page.find(".//input[@id='site-search']")
    assert box is not None and box.get("value") == "工信部"


@pytest.mark.parametrize(
    ("query", "parameter"), [("format=json", "q"), ("q=" + "x" * 201, "q"), ("q=a&kind=city", "kind")]
)
def test_a_bad_search_is_a_400_naming_the_parameter(client: FlaskClient, query: str, parameter: str) -> None:
    response = client.get(f"/search?{query}", headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["parameter"] == parameter


def test_every_page_has_the_search_box_a_canonical_link_and_a_description(client: FlaskClient) -> None:
    for path, canonical in [
        ("/", BASE),
        ("/org/", BASE + "org/"),
        ("/org/miit", BASE + "org/miit"),
        ("/compare?a=8&b=11&x=1", BASE + "compare?a=8&b=11"),
        ("/edition/11", BASE + "edition/11"),
        ("/api", BASE + "api"),
        ("/query", BASE + "query"),
    ]:
        page = parse(client.get(path, headers={"Accept": FIREFOX}).get_data(as_text=True))
        links = [link.get("href") for link in page.iter("link") if link.get("rel") == "canonical"]
        assert links == [canonical], path
        descriptions = [m.get("content", "") for m in page.iter("meta") if m.get("name") == "description"]
        assert len(descriptions) == 1 and len(descriptions[0]) > 40, path
        assert page.find(".//form[@role='search']/input[@name='q']") is not None, path
    miit = parse(client.get("/org/miit", headers={"Accept": FIREFOX}).get_data(as_text=True))
    (description,) = [m.get("content", "") for m in miit.iter("meta") if m.get("name") == "description"]
    assert description.startswith("工业和信息化部 (Ministry of Industry and Information Technology): ministry")


# --- robots, sitemap, API documentation, maps ---------------------------------------------------------------------


def test_robots_txt_names_the_sitemap(client: FlaskClient) -> None:
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.content_type == "text/plain; charset=utf-8"
    lines = response.get_data(as_text=True).splitlines()
    assert f"Sitemap: {BASE}sitemap.xml" in lines and "Disallow: /sparql" in lines


def test_the_sitemap_names_every_page(client: FlaskClient) -> None:
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.content_type == "application/xml; charset=utf-8"
    root = ET.fromstring(response.data)  # noqa: S314 - XML we wrote
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = [loc.text for loc in root.findall("s:url/s:loc", ns)]
    assert len(urls) == len(set(urls))
    for expected in ("", "org/", "compare", "org/miit", "place/330100", "track/visual-intelligence", "edition/11",
                     "edition/11/regional/320000", "source/plan-11.txt", "org-kind/ministry", "dataset",
                     "graph/edition/8", "graph/edition/11", "graph/reference", "graph/ontology"):  # fmt: skip
        assert BASE + expected in urls
    for url in urls:  # each answers, here or under the base (the dataset's and the graphs' pages are VoID's)
        assert (
            client.get((url or "").removeprefix(BASE.rstrip("/")), headers={"Accept": "text/html"}).status_code == 200
        )
    assert not any("#" in (u or "") for u in urls)
    contests = [u for u in urls if (u or "").startswith(BASE + "edition/") and (u or "").count("/") > 5]
    assert len(contests) == ALL_CONTESTS
    assert client.get("/sitemap-1.xml").status_code == 404  # one sitemap suffices here


def test_the_api_page_serves_swagger_ui_from_this_server(client: FlaskClient) -> None:
    page = parse(client.get("/api").get_data(as_text=True))
    scripts = [s.get("src") for s in page.iter("script") if s.get("src")]
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in scripts
    for path, media in [
        ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript"),
        ("/static/vendor/swagger-ui/swagger-ui.css", "text/css"),
        ("/static/vendor/d3/d3-geo/dist/d3-geo.min.js", "text/javascript"),
    ]:
        with client.get(path) as response:
            assert response.status_code == 200 and response.mimetype == media
    for path in (
        "/static/vendor/swagger-ui/package.json",
        "/static/vendor/d3/d3-geo/package.json",
        "/static/vendor/d3/../LICENSE",
    ):
        assert client.get(path).status_code == 404


def test_the_openapi_document_describes_the_new_operations(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    for path in ("/org/", "/place/", "/track/", "/edition/", "/search", "/reconcile", "/compare.csv"):
        assert path in document["paths"], path
    run = document["paths"]["/api/queries/region-hosts"]["get"]
    assert "bom" in [p["name"] for p in run["parameters"]]
    for schema in ("Listing", "ListingItem", "SearchResults", "Hit"):
        jsonschema.Draft202012Validator.check_schema(document["components"]["schemas"][schema])


def test_the_map_outlines_are_geojson_of_the_province_level_divisions(client: FlaskClient) -> None:
    response = client.get("/map/china.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    document = json.loads(response.data)
    codes = {f["properties"]["code"] for f in document["features"]}
    assert {"110000", "320000", "650000"} <= codes and len(codes) == 34
    for feature in document["features"]:
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        ring = (
            feature["geometry"]["coordinates"][0]
            if feature["geometry"]["type"] == "Polygon"
            else feature["geometry"]["coordinates"][0][0]
        )
        assert all(70 < lng < 136 and 3 < lat < 54 for lng, lat in ring)


def map_data(client: FlaskClient, path: str) -> dict[str, Any]:
    page = parse(client.get(path, headers={"Accept": FIREFOX}).get_data(as_text=True))
    (script,) = [s for s in page.iter("script") if s.get("class") == "map-data"]
    data: dict[str, Any] = json.loads(script.text or "")
    return data


def test_each_edition_page_maps_where_its_contests_are_held(client: FlaskClient) -> None:
    data = map_data(client, "/edition/11")
    assert data["editions"] == ["11"] and data["outline"] == "/map/china.geojson"
    places = {p["id"]: p for p in data["places"]}
    assert sum(p["total"] for p in places.values()) == 54
    hangzhou = places["place/330100"]
    assert hangzhou["counts"] == {"11": 3} and hangzhou["href"] == "/place/330100"
    assert (round(hangzhou["lng"], 1), round(hangzhou["lat"], 1)) == (120.2, 30.3)
    assert places["place/310110"]["at"] == "上海市"  # 杨浦区, drawn at its city's centre
    assert places["place/xpcc"]["lng"] is None  # the Corps lies in no province of the graph: listed, not drawn
    assert data["source"] == "echarts 4.9.0 (Apache-2.0)"


def test_compare_maps_both_editions(client: FlaskClient) -> None:
    data = map_data(client, "/compare")
    assert data["editions"] == ["8", "11"]
    assert sum(p["counts"]["8"] for p in data["places"]) == 50 and sum(p["counts"]["11"] for p in data["places"]) == 54
    page = parse(client.get("/compare").get_data(as_text=True))
    listed = page.findall(".//ul[@id='map-places']/li/a")
    assert len(listed) == len(data["places"]) and all(a.get("href", "").startswith("/place/") for a in listed)
