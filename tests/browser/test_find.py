"""Finding without SPARQL in a real browser (issue 15): listings sorted and filtered, the header's search box, the
maps drawn in the page, a CSV download for Excel, a reconciliation round trip from the page and the API
documentation; no request ever leaves 127.0.0.1. Screenshots go to $MAKERKG_SCREENSHOTS."""

from __future__ import annotations

import codecs
import time
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from makerkg.launch import Server
from tests.browser.test_browser import open_page, outside, requests_made, screenshot
from tests.facts import ORGANIZATIONS

pytestmark = pytest.mark.browser


def rows(browser: WebDriver) -> list[str]:
    return [r.get_attribute("data-id") or "" for r in browser.find_elements(By.CSS_SELECTOR, "#listing tbody tr")]


def test_the_organization_listing_sorts_and_filters(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/org/")
    assert len(rows(browser)) == ORGANIZATIONS
    browser.find_element(By.CSS_SELECTOR, "#listing thead a[data-sort='total']").click()
    WebDriverWait(browser, 30).until(lambda d: "sort=total" in d.current_url)
    assert rows(browser)[0] == "org/miit-nisc"
    first = browser.find_element(By.CSS_SELECTOR, "#listing tbody tr")
    assert [td.text for td in first.find_elements(By.CSS_SELECTOR, "td.num")] == ["14", "18", "32"]
    Select(browser.find_element(By.CSS_SELECTOR, "#listing-filter select[name='edition']")).select_by_value("8")
    Select(browser.find_element(By.CSS_SELECTOR, "#listing-filter select[name='kind']")).select_by_value("ministry")
    browser.find_element(By.CSS_SELECTOR, "#listing-filter button").click()
    WebDriverWait(browser, 30).until(lambda d: "kind=ministry" in d.current_url)
    assert sorted(rows(browser)) == ["org/miit", "org/mof"]  # both ministries host the 8th edition's final
    assert browser.find_element(By.ID, "listing-count").text == "2"
    browser.find_element(By.CSS_SELECTOR, "#listing tbody tr[data-id='org/miit'] th a").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url == f"{site.url}/org/miit")
    assert browser.find_element(By.TAG_NAME, "h1").text == "工业和信息化部"
    screenshot(browser, screenshots / "org-miit.png")
    assert outside(requests_made(browser)) == []


def test_the_search_box_in_the_header_finds_short_names(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/compare")
    box = browser.find_element(By.ID, "site-search")
    box.send_keys("江苏")
    box.submit()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li"))
    hits = browser.find_elements(By.CSS_SELECTOR, "#hits li")
    assert [(h.get_attribute("data-kind"), h.get_attribute("data-id")) for h in hits] == [
        ("place", "place/320000"),
        ("organization", "org/js-gxt"),
        ("place", "place/320281"),
        ("organization", "org/js-zxqyfzzx"),
        ("contest", "edition/8/regional/320000"),
        ("contest", "edition/11/regional/320000"),
    ]
    screenshot(browser, screenshots / "search.png")
    browser.find_element(By.CSS_SELECTOR, "#hits li a").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url == f"{site.url}/place/320000")
    assert outside(requests_made(browser)) == []


def wait_for_map(browser: WebDriver) -> None:
    figure = browser.find_element(By.ID, "contest-map")
    WebDriverWait(browser, 30).until(lambda _: figure.get_attribute("data-ready"))
    assert figure.get_attribute("data-ready") == "map", (
        "the map was not drawn: are its assets installed (npm ci --prefix server/makerkg/web/assets)?"
    )


def test_each_edition_page_draws_its_map(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/edition/8")
    wait_for_map(browser)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#contest-map path.province")) == 34
    circles = browser.find_elements(By.CSS_SELECTOR, "#contest-map a circle.place")
    listed = browser.find_elements(By.CSS_SELECTOR, "#map-places li")
    drawn = [li for li in listed if "not on the map" not in li.text]
    assert len(circles) == len(drawn) == len(listed) - 1  # the Corps lies in no province the graph names
    hangzhou = browser.find_element(By.CSS_SELECTOR, "#contest-map a[data-place='place/330100'] circle")
    assert hangzhou.get_attribute("data-total") == "2"  # 视觉智能 and 低代码, the 8th plan's thematic contests there
    beijing = browser.find_element(By.CSS_SELECTOR, "#contest-map a[data-place='place/110000'] circle")
    assert beijing.rect["y"] < hangzhou.rect["y"] and beijing.rect["x"] < hangzhou.rect["x"]  # north-west of 杭州
    screenshot(browser, screenshots / "edition-8.png")
    # circles overlap (浙江省's centre lies near 杭州's), so the link is followed as a click on it would
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", hangzhou)
    WebDriverWait(browser, 30).until(lambda d: d.current_url == f"{site.url}/place/330100")
    assert outside(requests_made(browser)) == []


def test_compare_draws_both_editions_on_its_map(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/compare")
    wait_for_map(browser)
    series = {
        c.find_element(By.XPATH, "..").get_attribute("data-place"): (c.get_attribute("class") or "").split()[-1]
        for c in browser.find_elements(By.CSS_SELECTOR, "#contest-map circle.place")
    }
    assert series["place/330100"] == "in-both" and series["place/440300"] == "in-both"
    assert series["place/cq-liangjiang"] == "in-b"  # 两江新区 holds a contest in the 11th edition only
    screenshot(browser, screenshots / "compare-map.png")
    assert outside(requests_made(browser)) == []


def test_a_listing_downloads_as_csv_for_excel(browser: WebDriver, site: Server, tmp_path: Path) -> None:
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    open_page(browser, f"{site.url}/track/?edition=11")
    browser.find_element(By.ID, "download-excel").click()
    target = tmp_path / "makerkg-tracks-edition-11.csv"
    deadline = time.monotonic() + 30
    while not target.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    data = target.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "iri,label,english,kind,8th edition,11th edition,total" and len(lines) == 1 + 17
    assert outside(requests_made(browser)) == []


def test_a_reconciliation_round_trip_from_the_page(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/reconcile/try")
    browser.find_element(By.ID, "reconcile-run").click()
    table = browser.find_element(By.ID, "reconcile-results")
    WebDriverWait(browser, 30).until(lambda _: table.get_attribute("data-ready") == "results")
    found = {}
    for row in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        first = row.find_element(By.CSS_SELECTOR, "ol li a")
        found[row.get_attribute("data-name")] = (
            row.find_element(By.CSS_SELECTOR, ".badge").text,
            first.get_attribute("data-id"),
        )
    assert found == {
        "山东省工业和信息厅": ("match", "org/sd-gxt"),
        "工信部": ("match", "org/miit"),
        "杭州": ("match", "place/330100"),
        "工业和信息化部网络安全产业发展中心(工业和信息化部信息中心)": ("match", "org/miit-nisc"),
        "江苏省工信厅": ("no match", "org/js-gxt"),
    }
    screenshot(browser, screenshots / "reconcile.png")
    made = requests_made(browser)
    assert f"{site.url}/reconcile" in made and outside(made) == []


def test_the_api_page_runs_swagger_ui_locally(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/api")
    root = browser.find_element(By.ID, "swagger-ui")
    WebDriverWait(browser, 30).until(lambda _: root.get_attribute("data-ready") == "swagger-ui")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {e.get_attribute("data-path") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/queries/region-hosts", "/org/", "/search", "/reconcile", "/compare.csv"} <= paths
    screenshot(browser, screenshots / "api.png")
    assert outside(requests_made(browser)) == []
