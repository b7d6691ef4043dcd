"""One server for the whole run: `makerkg serve` on a free 127.0.0.1 port, over a build made for it; and, for the
tests that run against each store (issue 16), `makerkg serve --store` over Oxigraph's server and over Virtuoso, each
loaded with the same build by `makerkg load`."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from makerkg.launch import Server, start, stop
from makerkg.pipeline import BuildResult
from tests.e2e.stores import MISSING_VIRTUOSO, Store, start_oxigraph, start_virtuoso, virtuoso_installed

SERVE = {"query_timeout": "3", "max_rows": "500"}  # the settings of every `makerkg serve` the e2e tests share
# the stores tests run against, beside the embedded one: pass as params= to a fixture that serves from each
REMOTE_STORES = ["oxigraph", pytest.param("virtuoso", marks=pytest.mark.virtuoso)]


def http(
    server: Server,
    path: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, Headers, bytes]:
    """Status, headers (names in any case, as HTTP has them) and body."""
    request = urllib.request.Request(server.url + path, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
            return response.status, Headers(list(response.headers.items())), response.read()
    except urllib.error.HTTPError as err:
        return err.code, Headers(list(err.headers.items())), err.read()


@pytest.fixture(scope="session")
def server(built: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    out = built.build.path.parent.parent
    running = start(out, tmp_path_factory.mktemp("log") / "serve.log", SERVE)
    yield running
    stop(running)


def load_into(store: Store, out: Path) -> subprocess.CompletedProcess[str]:
    """`makerkg load` of the build in ``out`` into ``store``, as an operator runs it (settings and password in the
    environment)."""
    environment = {**os.environ, **{f"MAKERKG_{k.upper()}": v for k, v in store.settings().items()}}
    return subprocess.run(
        [sys.executable, "-m", "makerkg.cli", "load", "--store", store.query, "--out", str(out)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def oxigraph_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = start_oxigraph(tmp_path_factory.mktemp("oxigraph"))
    yield store
    store.stop()


@pytest.fixture(scope="session")
def virtuoso_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    if not virtuoso_installed():
        pytest.skip(MISSING_VIRTUOSO)
    store = start_virtuoso(tmp_path_factory.mktemp("virtuoso"))
    yield store
    store.stop()


def _served(built: BuildResult, store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    out = built.build.path.parent.parent
    loaded = load_into(store, out)
    assert loaded.returncode == 0, loaded.stderr
    store.after_load()
    chosen = {k: v for k, v in store.settings().items() if k in ("store", "store_default_graph")}  # no password
    running = start(out, tmp_path_factory.mktemp(f"{store.name}-log") / "serve.log", {**SERVE, **chosen})
    yield running
    stop(running)


@pytest.fixture(scope="session")
def served_from_oxigraph(
    built: BuildResult, oxigraph_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _served(built, oxigraph_store, tmp_path_factory)


@pytest.fixture(scope="session")
def served_from_virtuoso(
    built: BuildResult, virtuoso_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _served(built, virtuoso_store, tmp_path_factory)


@pytest.fixture(scope="session", params=REMOTE_STORES)
def remote_store(request: pytest.FixtureRequest) -> Store:
    """Each remote store in turn (`remote` is makerkg serving from it)."""
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.fixture(scope="session")
def remote(request: pytest.FixtureRequest, remote_store: Store) -> Server:
    """`makerkg serve --store` over each remote store in turn, loaded with the build."""
    served: Server = request.getfixturevalue(f"served_from_{remote_store.name}")
    return served
