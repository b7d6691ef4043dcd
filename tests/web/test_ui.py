"""The home page, the query editor and the editions compared, through Flask's test client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from tests.facts import HOSTS_CHANGED, HOSTS_RENAMED, REGIONS, SITES_CHANGED

from makerkg.queries import bind_parameters, bound_text, load_queries
from makerkg.web import ui

BASE = "https://w3id.org/makerkg/"
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Tree(HTMLParser):
    """Just enough of an HTML parser for our own templates: an ElementTree to find things in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = ET.Element("document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = ET.SubElement(self.stack[-1], tag, {k: v or "" for k, v in attrs})
        if tag not in VOID_ELEMENTS:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ET.SubElement(self.stack[-1], tag, {k: v or "" for k, v in attrs})

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        parent = self.stack[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + data
        else:
            parent.text = (parent.text or "") + data


def parse(html: str) -> ET.Element:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree.root


def text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def page(client: FlaskClient, path: str, headers: dict[str, str] | None = None) -> ET.Element:
    response = client.get(path, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return parse(response.get_data(as_text=True))


# --- home -------------------------------------------------------------------------------------------------------


def test_home_shows_the_counts_of_the_build(client: FlaskClient) -> None:
    doc = page(client, "/")
    rows = {row.get("data-edition"): [text(td) for td in row.findall("td")] for row in doc.iter("tr")}
    assert {k: v[-1] for k, v in rows.items() if k} == {"8": "50", "11": "54"}
    assert rows["8"] == ["1", "35", "13", "1", "50"]
    assert rows["11"] == ["1", "35", "17", "1", "54"]
    figures = {span.get("data-count"): text(span) for span in doc.iter("span") if span.get("data-count")}
    assert figures == {"organizations": "58", "places": "59", "tracks": "29", "triples": "5,499"}


def test_home_links_the_entry_points_and_example_resources(client: FlaskClient) -> None:
    hrefs = {a.get("href") for a in page(client, "/").iter("a")}
    entry_points = {"/query", "/compare", "/sparql", "/api/queries", "/api/openapi.json", "/dumps/"}
    assert entry_points | {"/.well-known/void", "/ontology"} <= hrefs
    examples = [
        "/edition/8",
        "/edition/11",
        "/edition/11/regional/110000",
        "/org/miit-nisc",
        "/place/330100",
        "/track/visual-intelligence",
    ]
    assert set(examples) <= hrefs
    for path in examples:
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 200, path


# --- query editor -----------------------------------------------------------------------------------------------


def test_query_page_lists_every_named_query_with_its_text_bound(client: FlaskClient) -> None:
    doc = page(client, "/query")
    queries = load_queries()
    assert len(queries) == 10
    items = [li for li in doc.iter("li") if "named-query" in classes(li)]
    assert [li.get("data-query") for li in items] == list(queries)
    for li in items:
        query = queries[li.get("data-query", "")]
        assert text(li.find("h3")) == query.title  # type: ignore[arg-type]
        assert text(li.find("p[@class='description']")) == " ".join(query.description.split())  # type: ignore[arg-type]
        assert li.find(f"p/button[@data-query='{query.name}']") is not None
        pre = li.find(f".//pre[@id='query-{query.name}']")
        assert pre is not None
        assert pre.text == bound_text(query, bind_parameters(query, {}, BASE, editions=[8, 11]))


def test_named_query_texts_run_as_they_are(client: FlaskClient) -> None:
    doc = page(client, "/query")
    for pre in doc.iter("pre"):
        response = client.post(
            "/sparql", data={"query": pre.text}, headers={"Accept": "application/sparql-results+json"}
        )
        assert response.status_code == 200, (pre.get("id"), response.get_data(as_text=True))
        assert response.get_json()["results"]["bindings"], pre.get("id")


def test_query_page_loads_the_editor_from_this_server(client: FlaskClient) -> None:
    doc = page(client, "/query")
    scripts = [s.get("src", "") for s in doc.iter("script")]
    styles = [link.get("href", "") for link in doc.iter("link") if link.get("rel") != "canonical"]  # not fetched
    assert "/static/vendor/yasgui/yasgui.min.js" in scripts
    assert "/static/vendor/yasgui/yasgui.min.css" in styles
    assert all(url.startswith("/") and not url.startswith("//") for url in scripts + styles)
    editor = doc.find(".//section[@id='query-ui']")
    assert editor is not None and editor.get("data-endpoint") == "/sparql" and editor.get("data-editor") == "yasgui"
    for url, mimetype in (
        ("/static/vendor/yasgui/yasgui.min.js", "text/javascript"),
        ("/static/vendor/yasgui/yasgui.min.css", "text/css"),
        ("/static/query.js", "text/javascript"),
    ):
        with client.get(url) as response:
            assert response.status_code == 200 and response.mimetype == mimetype, url
            assert len(response.data) > 1000


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/yasgui/yasgui.esm.js",
        "/static/vendor/yasgui/package.json",
        "/static/vendor/yasgui/..%2Fpackage.json",
        "/static/vendor/yasgui/..%2F..%2F..%2Fpackage.json",
        "/static/vendor/yasgui/",
        "/static/node_modules/@zazuko/yasgui/build/yasgui.min.js",
        "/static/node_modules/@zazuko/yasgui/package.json",
        "/static/./node_modules/@zazuko/yasgui/package.json",
        "/static/package.json",
        "/static//package-lock.json",
    ],
)
def test_only_the_editor_build_is_served_from_node_modules(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_query_page_without_the_editor_assets_is_a_plain_form(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui, "YASGUI_BUILD", tmp_path / "absent")
    doc = page(client, "/query", {"Cache-Control": "no-cache"})  # made anew, not the page the cache kept
    notice = doc.find(".//p[@id='editor-missing']")
    assert notice is not None and "not installed" in text(notice)
    assert all("vendor" not in s.get("src", "") for s in doc.iter("script"))
    form = doc.find(".//form[@id='query-form']")
    assert form is not None and form.get("action") == "/sparql" and form.get("method") == "post"
    textarea = form.find(".//textarea[@name='query']")
    assert textarea is not None and textarea.text and "SELECT" in textarea.text
    assert doc.find(".//section[@id='query-ui']").get("data-editor") == "form"  # type: ignore[union-attr]
    assert client.get("/static/vendor/yasgui/yasgui.min.js").status_code == 404
    response = client.post("/sparql", data={"query": textarea.text, "format": "json"})
    assert response.status_code == 200


# --- editions compared ------------------------------------------------------------------------------------------


def _rows(doc: ET.Element, table: str) -> list[ET.Element]:
    found = doc.find(f".//table[@id='{table}']/tbody")
    assert found is not None, table
    return found.findall("tr")


def test_compare_marks_exactly_the_regions_whose_hosts_changed(client: FlaskClient) -> None:
    doc = page(client, "/compare?a=8&b=11")
    rows = _rows(doc, "hosts")
    assert len(rows) == REGIONS
    changed = {row.get("data-region") for row in rows if "changed" in classes(row)}
    assert changed == HOSTS_CHANGED
    for row in rows:
        marker = "changed" in text(row.findall("td")[-1])
        assert marker == (row.get("data-region") in HOSTS_CHANGED)
    shenzhen = next(row for row in rows if row.get("data-region") == "深圳市")
    cells = [[text(div) for div in td.findall("div")] for td in shenzhen.findall("td")[:2]]
    assert cells == [["深圳市中小企业服务局", "深圳市工业和信息化局"], ["深圳市中小企业服务局"]]


def test_compare_shows_a_renamed_host_as_renamed_not_changed(client: FlaskClient) -> None:
    """安徽省经济和信息化厅 → 安徽省工业和信息化厅 is one body renamed, by a change event with a source (issue 14)."""
    doc = page(client, "/compare")
    rows = _rows(doc, "hosts")
    renamed = {row.get("data-region") for row in rows if "renamed" in classes(row)}
    assert renamed == set(HOSTS_RENAMED)
    anhui = next(row for row in rows if row.get("data-region") == "安徽省")
    cells = [text(td) for td in anhui.findall("td")]
    assert cells == [*HOSTS_RENAMED["安徽省"], "renamed"]
    summary = text(doc.find(".//ul[@id='summary']/li"))  # type: ignore[arg-type]
    assert summary == "6 of 35 regions changed their host organizations; 1 kept a host that was renamed"


def test_compare_marks_the_regions_whose_registration_sites_changed(client: FlaskClient) -> None:
    rows = _rows(page(client, "/compare"), "sites")
    assert {row.get("data-region") for row in rows if "changed" in classes(row)} == SITES_CHANGED
    beijing = next(row for row in rows if row.get("data-region") == "北京市")
    assert [a.get("href") for a in beijing.iter("a")][1:] == ["http://www.smebj.cn", "https://www.smebj.cn/"]


def test_compare_shows_tracks_continued_added_and_dropped(client: FlaskClient) -> None:
    rows = _rows(page(client, "/compare"), "tracks")
    by_status: dict[str, list[str]] = {}
    for row in rows:
        by_status.setdefault(row.get("data-status", ""), []).append(text(row.find("th")))  # type: ignore[arg-type]
    assert by_status["continued"] == ["视觉智能"]
    assert len(by_status["added"]) == 16 and len(by_status["dropped"]) == 12
    continued = rows[0]
    assert [text(td) for td in continued.findall("td")] == ["continued", "杭州市", "杭州市"]
    assert continued.find("th/a").get("href") == "/track/visual-intelligence"  # type: ignore[union-attr]


def test_compare_lists_organizations_new_and_gone(client: FlaskClient) -> None:
    doc = page(client, "/compare")
    new = [text(row.find("th")) for row in _rows(doc, "orgs-new")]  # type: ignore[arg-type]
    gone = [text(row.find("th")) for row in _rows(doc, "orgs-gone")]  # type: ignore[arg-type]
    assert len(new) == 14 and len(gone) == 13
    assert "大连市企业服务中心" in new and "大连市工业和信息化局" in gone
    assert not set(new) & set(gone)


def test_compare_draws_contests_per_province_for_each_edition(client: FlaskClient) -> None:
    doc = page(client, "/compare")
    svg = doc.find(".//svg[@id='province-chart']")
    assert svg is not None
    provinces = [g for g in svg.iter("g") if "province" in classes(g)]
    assert len(provinces) == 32
    bars: dict[tuple[str, str], int] = {}
    for g in provinces:
        rects = g.findall("rect")
        assert [r.get("data-edition") for r in rects] == ["8", "11"]
        for r in rects:
            bars[(g.get("data-province", ""), r.get("data-edition", ""))] = int(r.get("data-count", ""))
        assert [text(t) for t in g.findall("text")] == [str(bars[(g.get("data-province", ""), e)]) for e in ("8", "11")]
    assert len(bars) == 64
    assert (bars[("浙江省", "8")], bars[("浙江省", "11")]) == (4, 5)
    assert (bars[("北京市", "8")], bars[("北京市", "11")]) == (2, 6)
    assert (bars[("内蒙古自治区", "8")], bars[("内蒙古自治区", "11")]) == (0, 0)
    zhejiang = next(g for g in provinces if g.get("data-province") == "浙江省")
    widths = [float(r.get("width", "")) for r in zhejiang.findall("rect")]
    assert widths[0] < widths[1]
    legend = next(g for g in svg.iter("g") if "legend" in classes(g))
    assert "8th edition" in text(legend) and "11th edition" in text(legend)


def test_compare_defaults_to_the_two_latest_editions(client: FlaskClient) -> None:
    default = client.get("/compare").get_data(as_text=True)
    explicit = client.get("/compare?a=8&b=11").get_data(as_text=True)
    assert default == explicit


def test_compare_either_way_round(client: FlaskClient) -> None:
    doc = page(client, "/compare?a=11&b=8")
    assert {row.get("data-region") for row in _rows(doc, "hosts") if "changed" in classes(row)} == HOSTS_CHANGED
    assert {row.get("data-region") for row in _rows(doc, "hosts") if "renamed" in classes(row)} == set(HOSTS_RENAMED)
    statuses = {row.get("data-status") for row in _rows(doc, "tracks")}
    assert statuses == {"continued", "added", "dropped"}


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        ("a=x", "a", "expected an edition ordinal"),
        ("b=eleven", "b", "expected an edition ordinal"),
        ("a=9", "a", "no edition 9 in this build (editions: 8, 11)"),
        ("b=0", "b", "no edition 0 in this build"),
        ("a=-8", "a", "expected an edition ordinal"),
        ("a=8.0", "a", "expected an edition ordinal"),
        ("a=%EF%BC%98", "a", "expected an edition ordinal"),  # a full-width ８
        ("b=", "b", "expected an edition ordinal"),
        ("a=8&a=11", "a", "given more than once"),
        ("b=1234567", "b", "expected an edition ordinal"),
    ],
)
def test_compare_bad_parameters_are_400_naming_the_parameter(
    client: FlaskClient, query: str, parameter: str, message: str
) -> None:
    response = client.get(f"/compare?{query}", headers={"Accept": "application/problem+json"})
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["parameter"] == parameter
    assert problem["detail"].startswith(f"{parameter}: ") and message in problem["detail"]


# --- hostile text from a plan -----------------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script>中心'


def test_text_from_the_plans_is_escaped(renamed_host: Callable[[str], FlaskClient]) -> None:
    """An organization name with markup in a plan is shown as text, never as markup."""
    client = renamed_host(HOSTILE)
    for path in ("/compare", "/"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html, path
    compare = client.get("/compare").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;中心" in compare
    doc = parse(compare)
    qinghai = next(row for row in _rows(doc, "hosts") if row.get("data-region") == "青海省")
    assert text(qinghai.findall("td")[1]) == HOSTILE
    assert HOSTILE in [text(row.find("th")) for row in _rows(doc, "orgs-new")]  # type: ignore[arg-type]
    # the page's own scripts only: the map's data (JSON, its markup escaped) and files from this server
    assert [s.get("src") or s.get("class") for s in doc.iter("script")] == [
        "map-data",
        "/static/vendor/d3/d3-array/dist/d3-array.min.js",
        "/static/vendor/d3/d3-geo/dist/d3-geo.min.js",
        "/static/map.js",
    ]


@pytest.mark.parametrize(
    ("path", "parameter", "detail"),
    [
        ("/api/queries/region-hosts?a=9", "a", "a: no edition 9 in this build (editions: 8, 11)"),
        ("/api/queries/orgs-new?since=12", "since", "since: no edition 12 in this build (editions: 8, 11)"),
        ("/api/queries/orgs-ranked?edition=7", "edition", "edition: no edition 7 in this build (editions: 8, 11)"),
    ],
)
def test_a_named_query_for_an_edition_the_build_lacks_is_400(
    client: FlaskClient, path: str, parameter: str, detail: str
) -> None:
    """As diff and /compare do, a named query says which editions the build has (issue 14)."""
    response = client.get(path, headers={"Accept": "application/problem+json"})
    assert response.status_code == 400
    assert response.get_json()["detail"] == detail and response.get_json()["parameter"] == parameter


def test_named_query_defaults_are_the_builds_two_latest_editions(client: FlaskClient) -> None:
    by_default = client.get("/api/queries/region-hosts").get_json()
    assert by_default == client.get("/api/queries/region-hosts?a=8&b=11").get_json()
    anhui = next(r for r in by_default["rows"] if r["regionName"] == "安徽省")
    assert (anhui["changed"], anhui["renamed"]) == ("false", "true")
    described = next(q for q in client.get("/api/queries").get_json()["queries"] if q["name"] == "region-hosts")
    assert [(p["name"], p["default"]) for p in described["parameters"]] == [("a", 8), ("b", 11), ("region", None)]


def test_compare_says_which_new_and_gone_organizations_were_renamed(client: FlaskClient) -> None:
    doc = page(client, "/compare")
    for table, expected in (
        ("orgs-new", "安徽省工业和信息化厅renamed from 安徽省经济和信息化厅"),  # a link, then a block below it
        ("orgs-gone", "安徽省经济和信息化厅renamed to 安徽省工业和信息化厅"),
    ):
        renamed = [text(row.find("th")) for row in _rows(doc, table) if "renamed" in classes(row)]  # type: ignore[arg-type]
        assert renamed == [expected]
