"""Every link on every page of the running server resolves: no 404, no 500 (issue 5)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest

from makerkg.launch import Server
from tests.facts import ALL_CONTESTS, ORGANIZATIONS, TRACKS
from tests.oracle import Oracle, text

BASE = "https://w3id.org/makerkg/"

pytestmark = pytest.mark.e2e
SEEDS = [
    "/",
    "/edition/8",
    "/edition/11",
    "/series",
    "/ontology",
    "/dumps/",
    "/.well-known/void",
    "/query",
    "/compare",
    "/scheme/tracks",
    "/scheme/org-kinds",
]
LIMIT = 5000


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (
                (tag == "a" and name == "href") or (tag in ("link", "script", "img") and name in ("href", "src"))
            ):
                self.found.append(value)


def test_every_link_resolves(server: Server, store: Oracle) -> None:
    origin = urllib.parse.urlsplit(server.url)
    seen: set[str] = set()
    queue = list(SEEDS)
    failures: list[str] = []
    pages = 0
    while queue and len(seen) < LIMIT:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        request = urllib.request.Request(server.url + path, headers={"Accept": "text/html,*/*;q=0.8"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
                body = response.read()
                content_type = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            failures.append(f"{err.code} {path}")
            continue
        if not content_type.startswith("text/html"):
            continue
        pages += 1
        parser = Links()
        parser.feed(body.decode("utf-8"))
        for href in parser.found:
            url = urllib.parse.urlsplit(urllib.parse.urljoin(server.url + path, href))
            if (url.scheme, url.netloc) != (origin.scheme, origin.netloc) or url.path.startswith("/sparql"):
                continue  # never leave 127.0.0.1; /sparql links carry queries tested elsewhere
            target = url.path + (f"?{url.query}" if url.query else "")
            if target not in seen:
                queue.append(target)
    assert failures == []
    expected = store.query(
        "PREFIX schema: <https://schema.org/> PREFIX mkg: <https://w3id.org/makerkg/ontology#> "
        "SELECT DISTINCT ?x WHERE { { ?x a mkg:Contest } UNION { ?x a <http://www.w3.org/ns/org#Organization> } "
        "UNION { ?c mkg:track ?x } UNION { ?c schema:location ?x } }"
    )
    paths = {"/" + text(row[0]).removeprefix(BASE) for row in expected.rows}
    assert len(paths) == ALL_CONTESTS + ORGANIZATIONS + TRACKS + 59  # … and the 59 places hosting a contest
    assert paths - seen == set()
