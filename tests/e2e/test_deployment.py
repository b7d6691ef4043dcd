"""The production deployment of docs/deployment.md, run: Debian's nginx with docs/deploy/nginx-makerkg.conf (its
ports moved to free ones on 127.0.0.1) in front of `makerkg serve` with proxy = "none", trusted_proxies = 1 and a
public_url. Skipped, saying why, only where nginx is not installed."""

from __future__ import annotations

import getpass
import http.client
import json
import os
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rdflib import Graph

from makerkg.graph.vocab import SD
from makerkg.launch import Server, free_port, start, stop
from makerkg.pipeline import BuildResult
from makerkg.web.server import find_nginx

pytestmark = pytest.mark.e2e

SITE = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx-makerkg.conf"
PUBLIC = "https://kg.example.org/"
NAMED = "/api/queries/provinces-without-regional?edition=8"
ANSWERED_WITHIN = 60  # seconds: "was answered at all"


@dataclass(frozen=True)
class Deployment:
    front: int  # nginx's port
    app: Server
    access_log: Path
    nginx_log: Path


def site_config(front: int, backend: int) -> str:
    """The shipped site file with its listen address and upstream moved to 127.0.0.1 ports of this test."""
    text = SITE.read_text(encoding="utf-8")
    for old, new in (
        ("    listen 80;\n", f"    listen 127.0.0.1:{front};\n"),
        ("    listen [::]:80;\n", ""),
        ("    server 127.0.0.1:8000;\n", f"    server 127.0.0.1:{backend};\n"),
    ):
        assert text.count(old) == 1, f"{SITE.name} no longer has {old.strip()!r} once"
        text = text.replace(old, new)
    return text


def main_config(root: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides around a site, reduced to a run in ``root``."""
    temp = "\n".join(
        f"    {kind}_temp_path {root}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # as root, nginx's workers would run as "nobody", who cannot read the test's temporary directories
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    return (
        f"daemon off;\npid {root}/nginx.pid;\nerror_log stderr warn;\n{user}"
        f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWERED_WITHIN)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.headers, body


@pytest.fixture(scope="module")
def deployment(built: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("Debian's nginx is not installed (apt-get install nginx; .ci/run installs it)")
    root = tmp_path_factory.mktemp("deployment")
    access = root / "access.log"
    app = start(
        built.build.path.parent.parent,
        root / "serve.log",
        {
            "proxy": "none",
            "trusted_proxies": "1",
            "public_url": PUBLIC,
            "access_log": str(access),
            "access_log_format": "json",
        },
    )
    front = free_port()
    site = root / "makerkg.conf"
    site.write_text(site_config(front, int(app.url.rsplit(":", 1)[1])), encoding="utf-8")
    (root / "nginx.conf").write_text(main_config(root, site), encoding="utf-8")
    nginx_log = root / "nginx.log"
    with nginx_log.open("wb") as output:
        process = subprocess.Popen(
            [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "stderr"], stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + ANSWERED_WITHIN
        while True:
            try:
                if get(front, "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, nginx_log.read_text()
            assert time.monotonic() < deadline, "nginx in front of makerkg serve did not answer"
            time.sleep(0.2)
        yield Deployment(front, app, access, nginx_log)
    finally:
        process.terminate()
        process.wait(timeout=ANSWERED_WITHIN)
        stop(app)


def test_queries_are_answered_through_nginx(deployment: Deployment) -> None:
    status, _, body = get(deployment.front, NAMED, {"Accept": "application/json"})
    assert status == 200
    assert len(json.loads(body)["rows"]) > 0


def test_links_use_the_public_url_whatever_the_host(deployment: Deployment) -> None:
    status, headers, body = get(deployment.front, "/sparql", {"Accept": "text/turtle", "Host": "elsewhere.example"})
    assert status == 200
    endpoints = Graph().parse(data=body.decode(), format="turtle").objects(None, SD.endpoint)
    assert {str(endpoint) for endpoint in endpoints} == {f"{PUBLIC}sparql"}
    assert "Host" not in (headers["Vary"] or "")


def test_the_client_is_the_one_nginx_saw(deployment: Deployment) -> None:
    """trusted_proxies = 1: nginx's entry of X-Forwarded-For is believed, the one a client wrote is not."""
    marker = "/api/queries/provinces-without-regional?edition=11"
    assert get(deployment.front, marker, {"X-Forwarded-For": "198.51.100.1"})[0] == 200
    deadline = time.monotonic() + ANSWERED_WITHIN
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not lines:
        text = deployment.access_log.read_text(encoding="utf-8") if deployment.access_log.exists() else ""
        lines = [json.loads(line) for line in text.splitlines() if json.loads(line)["target"] == marker]
        time.sleep(0.1)
    assert [(line["remote"], line["status"]) for line in lines] == [("127.0.0.1", 200)]


def test_metrics_are_served_to_this_machine(deployment: Deployment) -> None:
    status, _, body = get(deployment.front, "/metrics")
    assert status == 200 and b"makerkg_http_requests_total" in body


def test_slow_and_silent_clients_of_nginx_leave_requests_served(deployment: Deployment) -> None:
    opened = []
    try:
        for n in range(140):
            sock = socket.create_connection(("127.0.0.1", deployment.front), timeout=10)
            opened.append(sock)
            if n < 40:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: kg.example.org\r\n")
        query = "/sparql?" + urllib.parse.urlencode({"query": "ASK { ?s ?p ?o }"})
        assert [get(deployment.front, query)[0] for _ in range(10)] == [200] * 10
    finally:
        for sock in opened:
            sock.close()
