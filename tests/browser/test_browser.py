"""The pages in a real browser: counts on the home page, YASGUI running a named query, the editions compared; no
request ever leaves 127.0.0.1. A full-page screenshot of each page goes to $MAKERKG_SCREENSHOTS."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from makerkg.launch import Server
from tests.facts import HOSTS_CHANGED, WITHOUT_REGIONAL

pytestmark = pytest.mark.browser


def requests_made(driver: WebDriver) -> list[str]:
    """The URLs the browser asked for since the last call (from Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def outside(urls: list[str]) -> list[str]:
    """The network requests among ``urls`` for any host but 127.0.0.1 (data:, blob: and chrome: stay inside)."""
    return [
        u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).hostname != "127.0.0.1"
    ]


def screenshot(driver: WebDriver, path: Path) -> None:
    """The whole page, beyond the window, through the DevTools protocol."""
    driver.execute_script("window.scrollTo(0, 0)")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def open_page(driver: WebDriver, url: str) -> None:
    requests_made(driver)  # forget what earlier tests asked for
    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_home_page_shows_the_counts(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/")
    totals = {
        row.get_attribute("data-edition"): row.find_element(By.CSS_SELECTOR, "td.total").text
        for row in browser.find_elements(By.CSS_SELECTOR, "#contests tbody tr")
    }
    assert totals == {"8": "50", "11": "54"}
    assert browser.find_element(By.CSS_SELECTOR, "[data-count=organizations]").text == "58"
    examples = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#examples a")]
    assert f"{site.url}/org/miit-nisc" in examples
    screenshot(browser, screenshots / "home.png")
    assert outside(requests_made(browser)) == []


def test_query_editor_runs_a_named_query(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/query")
    root = browser.find_element(By.ID, "query-ui")
    WebDriverWait(browser, 30).until(lambda _: root.get_attribute("data-ready"))
    assert root.get_attribute("data-ready") == "yasgui", (
        "YASGUI did not start: are its assets installed (npm ci --prefix server/makerkg/web/assets)?"
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "li.named-query")) == 10
    assert not browser.find_element(By.ID, "query-form").is_displayed()
    endpoints = [i.get_attribute("value") for i in browser.find_elements(By.CSS_SELECTOR, ".yasgui .controlbar input")]
    assert f"{site.url}/sparql" in endpoints

    browser.find_element(By.CSS_SELECTOR, "button.load-query[data-query='provinces-without-regional']").click()
    text = browser.execute_script("return document.querySelector('.yasqe .CodeMirror').CodeMirror.getValue()")
    assert "mkg:RegionalContest" in text and 'VALUES (?edition) { ("11"^^' in text
    tab = browser.find_element(By.CSS_SELECTOR, ".yasgui .tabsList .tab.active a span").text
    assert tab == "Province-level divisions with no regional contest"

    browser.find_element(By.CSS_SELECTOR, ".yasqe_queryButton").click()
    WebDriverWait(browser, 30).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".yasr table.dataTable tbody tr")) >= 2
    )
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, ".yasr table.dataTable tbody td")]
    names = [c for c in cells if "自治区" in c]
    assert len(names) == len(WITHOUT_REGIONAL)
    assert all(name in cell for name, cell in zip(WITHOUT_REGIONAL.values(), names, strict=True))
    screenshot(browser, screenshots / "query.png")
    made = requests_made(browser)
    assert f"{site.url}/sparql" in made
    assert outside(made) == []


def test_compare_page_marks_changes_and_draws_the_chart(browser: WebDriver, site: Server, screenshots: Path) -> None:
    open_page(browser, f"{site.url}/compare")
    changed = browser.find_elements(By.CSS_SELECTOR, "#hosts tbody tr.changed")
    assert {row.get_attribute("data-region") for row in changed} == HOSTS_CHANGED
    for row in changed:
        marker = row.find_element(By.CSS_SELECTOR, ".badge.changed")
        assert marker.is_displayed() and marker.text == "changed"
    (renamed,) = browser.find_elements(By.CSS_SELECTOR, "#hosts tbody tr.renamed")
    assert renamed.get_attribute("data-region") == "安徽省"
    badge = renamed.find_element(By.CSS_SELECTOR, ".badge.renamed")
    assert badge.is_displayed() and badge.text == "renamed"
    chart = browser.find_element(By.ID, "province-chart")
    assert chart.is_displayed() and chart.size["height"] > 500
    bars = browser.find_elements(By.CSS_SELECTOR, "#province-chart rect.bar[data-count]")
    assert len(bars) == 64
    zhejiang = browser.find_elements(By.CSS_SELECTOR, "#province-chart g.province[data-province='浙江省'] rect")
    assert [(r.get_attribute("data-edition"), r.get_attribute("data-count")) for r in zhejiang] == [
        ("8", "4"),
        ("11", "5"),
    ]
    assert zhejiang[0].size["width"] < zhejiang[1].size["width"]
    screenshot(browser, screenshots / "compare.png")
    assert outside(requests_made(browser)) == []


def test_query_editor_autocompletion_stays_on_this_server(browser: WebDriver, site: Server) -> None:
    """YASQE asks Linked Open Vocabularies for property and class names by default; the page turns that off."""
    open_page(browser, f"{site.url}/query")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "query-ui").get_attribute("data-ready"))
    browser.execute_script(
        "const cm = document.querySelector('.yasqe .CodeMirror').CodeMirror;"
        "cm.setValue('PREFIX schema: <https://schema.org/>\\nSELECT * WHERE {\\n  ?s ');"
        "cm.setCursor(cm.lineCount(), 0); cm.focus();"
    )
    editor = browser.find_element(By.CSS_SELECTOR, ".yasqe .CodeMirror textarea")
    editor.send_keys("schema:nam")
    editor.send_keys(Keys.CONTROL, " ")
    editor.send_keys(" ?o . ?s a schema:Eve")
    editor.send_keys(Keys.CONTROL, " ")
    value = browser.execute_script("return document.querySelector('.yasqe .CodeMirror').CodeMirror.getValue()")
    assert "schema:nam" in value and "schema:Eve" in value
    time.sleep(1.5)  # an autocompleter's request would start within this (there is no event for "none was sent")
    assert outside(requests_made(browser)) == []


def test_query_form_works_when_the_editor_cannot_load(browser: WebDriver, site: Server, screenshots: Path) -> None:
    """Without YASGUI (its files blocked here, as when node_modules is absent) the page is a plain form whose
    results the page's own script draws as a table."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/static/vendor/yasgui/*"]})
    try:
        open_page(browser, f"{site.url}/query")
        root = browser.find_element(By.ID, "query-ui")
        WebDriverWait(browser, 30).until(lambda _: root.get_attribute("data-ready"))
        assert root.get_attribute("data-ready") == "form"
        assert "could not be loaded" in root.text
        browser.find_element(By.CSS_SELECTOR, "button.load-query[data-query='provinces-without-regional']").click()
        textarea = browser.find_element(By.ID, "query-text")
        assert 'VALUES (?edition) { ("11"^^' in (textarea.get_attribute("value") or "")
        browser.find_element(By.ID, "run-query").click()
        WebDriverWait(browser, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#query-result table.results tbody tr")) == 2
        )
        rows = [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#query-result table.results tbody tr")
        ]
        assert rows == [[f"https://w3id.org/makerkg/place/{code}", name] for code, name in WITHOUT_REGIONAL.items()]
        screenshot(browser, screenshots / "query-form.png")
        assert outside(requests_made(browser)) == []
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
