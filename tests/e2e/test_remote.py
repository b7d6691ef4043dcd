"""`makerkg load` and `makerkg serve --store URL` against a real SPARQL server started on 127.0.0.1 (issue 6)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from makerkg.pipeline import BuildResult
from tests.e2e.conftest import Server, free_port, http, start, stop

pytestmark = pytest.mark.e2e
NAMED = [
    "orgs-in-both",
    "region-hosts",
    "tracks-compared",
    "places-in-both",
    "provinces-without-regional",
    "registration-changes",
    "orgs-ranked",
    "contests-per-province",
    "orgs-new",
    "orgs-gone",
]


def _oxigraph() -> str:
    found = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which("oxigraph")
    assert found, "the oxigraph server (pip install oxigraph, in the test extra) is needed"
    return found


@pytest.fixture(scope="module")
def oxigraph_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A read-write Oxigraph server on a free 127.0.0.1 port, empty."""
    port = free_port()
    process = subprocess.Popen(
        [_oxigraph(), "serve", "--location", str(tmp_path_factory.mktemp("oxigraph")), "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/query"
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{url}?query=ASK%7B%7D", timeout=2):  # noqa: S310 - 127.0.0.1
                break
        except OSError:
            time.sleep(0.1)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def remote(built: BuildResult, oxigraph_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    out = built.build.path.parent.parent
    loaded = subprocess.run(
        [sys.executable, "-m", "makerkg.cli", "load", "--store", oxigraph_store, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "5499 triples → (default graph: the merge)" in loaded.stdout
    running = start(out, tmp_path_factory.mktemp("remote-log") / "serve.log", store=oxigraph_store, query_timeout="3")
    yield running
    stop(running)


@pytest.mark.parametrize("name", NAMED)
def test_named_queries_answer_the_same_from_the_remote_store(server: Server, remote: Server, name: str) -> None:
    _, _, local = http(server, f"/api/queries/{name}")
    _, _, far = http(remote, f"/api/queries/{name}")
    a, b = json.loads(local), json.loads(far)
    assert a["columns"] == b["columns"]
    key = [c for c in a["columns"] if not c.endswith(("InA", "InB", "Names"))]
    assert sorted(tuple(r[c] for c in key) for r in a["rows"]) == sorted(tuple(r[c] for c in key) for r in b["rows"])


def test_pages_and_formats_from_the_remote_store(remote: Server) -> None:
    status, headers, body = http(remote, "/org/miit-nisc", headers={"Accept": "text/turtle"})
    assert status == 200 and "工业和信息化部网络安全产业发展中心" in body.decode()
    query = urllib.parse.urlencode({"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 3"})
    for accept in ("application/sparql-results+xml", "text/csv", "text/tab-separated-values"):
        status, headers, _ = http(remote, f"/sparql?{query}", headers={"Accept": accept})
        assert status == 200 and headers["Content-Type"].startswith(accept)


def test_the_same_safety_rules_hold(remote: Server) -> None:
    status, _, _ = http(
        remote,
        "/sparql",
        data=b"INSERT DATA { <urn:a> <urn:b> <urn:c> }",
        headers={"Content-Type": "application/sparql-update"},
    )
    assert status == 403
    service = urllib.parse.urlencode({"query": "SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"})
    assert http(remote, f"/sparql?{service}")[0] == 403
    explosive = urllib.parse.urlencode({"query": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"})
    status, _, body = http(remote, f"/sparql?{explosive}")
    assert status == 503 and b"query_timeout" in body
    assert http(remote, "/api/queries/provinces-without-regional")[0] == 200


@pytest.mark.virtuoso
def test_virtuoso(built: BuildResult, tmp_path: Path) -> None:
    """Against a Virtuoso prepared as docs/scale.md says; MAKERKG_VIRTUOSO_URL is its /sparql endpoint."""
    url = os.environ.get("MAKERKG_VIRTUOSO_URL")
    if not url:
        pytest.skip("set MAKERKG_VIRTUOSO_URL to a Virtuoso prepared as docs/scale.md says")
    graphs = url.replace("/sparql", "/sparql-graph-crud")
    out = built.build.path.parent.parent
    loaded = subprocess.run(
        [sys.executable, "-m", "makerkg.cli", "load", "--store", url, "--graphs", graphs, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    running = start(out, tmp_path / "serve.log", store=url)
    try:
        _, _, body = http(running, "/api/queries/provinces-without-regional?edition=11")
        assert [r["name"] for r in json.loads(body)["rows"]] == ["内蒙古自治区", "宁夏回族自治区"]
    finally:
        stop(running)
