"""A graph built under another base IRI and served with the default settings: everything reads the base from the
build (issue "One home for each concern": resource pages answered 404, /compare held dead links, /ontology rendered
empty and named queries with a place parameter returned no rows)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rdflib import Graph, URIRef

from makerkg.config import DEFAULT_BASE, load
from makerkg.pipeline import build
from makerkg.web import create_app

OTHER = "https://example.org/kg/"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    out = tmp_path_factory.mktemp("other-base")
    build(load(env={}, out=out, base=OTHER))
    served = load(env={}, out=out)
    assert served.base == DEFAULT_BASE != OTHER  # the server's settings name another base than the build's
    application = create_app(served)
    yield application
    application.extensions["makerkg"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_resource_pages_answer_under_the_build_s_base(client: FlaskClient) -> None:
    page = client.get("/org/miit", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "工业和信息化部" in page.get_data(as_text=True)
    turtle = Graph().parse(data=client.get("/org/miit.ttl").get_data(as_text=True), format="turtle")
    assert (URIRef(OTHER + "org/miit"), None, None) in turtle


def test_every_link_on_compare_resolves(client: FlaskClient) -> None:
    html = client.get("/compare").get_data(as_text=True)
    links = sorted(set(re.findall(r'href="(/(?:place|track|org)/[^"#]+)"', html)))
    assert len(links) > 90
    assert [link for link in links if client.get(link, headers={"Accept": "text/html"}).status_code != 200] == []


def test_the_ontology_page_is_documented(client: FlaskClient) -> None:
    html = client.get("/ontology", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'id="Contest"' in html and 'id="contestKind"' in html


def test_a_named_query_with_a_place_parameter_finds_its_rows(client: FlaskClient) -> None:
    rows = client.get("/api/queries/region-hosts?region=320000").get_json()["rows"]
    assert [r["regionName"] for r in rows] == ["江苏省"]
    assert rows[0]["region"] == OTHER + "place/320000"


def test_void_names_the_build_s_base(client: FlaskClient) -> None:
    void = Graph().parse(data=client.get("/.well-known/void").get_data(as_text=True), format="turtle")
    assert (URIRef(OTHER + "dataset"), None, None) in void
    assert not any(str(s).startswith(DEFAULT_BASE) for s in void.subjects())


def test_the_command_line_reads_the_base_from_the_build(app: Flask) -> None:
    out = app.extensions["makerkg"].settings.out
    args = ["query", "--named", "region-hosts", "--param", "region=320000", "--out", str(out), "--format", "csv"]
    done = subprocess.run([sys.executable, "-m", "makerkg.cli", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith(f"{OTHER}place/320000,江苏省,")
