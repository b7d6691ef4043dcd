"""Shared fixtures: the real graph is built once per run and only read; a test that changes data builds its own."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from makerkg import resources
from makerkg.config import Settings, load
from makerkg.pipeline import BuildResult, build
from makerkg.store.local import LocalRunner
from makerkg.store.worker import StoreSpec
from makerkg.web import create_app
from tests.oracle import Oracle


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The real graph of the shipped plans, built once."""
    out = tmp_path_factory.mktemp("out")
    return build(load(env={}, out=out))


@pytest.fixture(scope="session")
def settings(built: BuildResult) -> Settings:
    return load(env={}, out=built.build.path.parent.parent)


@pytest.fixture(scope="session")
def store(built: BuildResult) -> Oracle:
    return Oracle(built.build.store_dir)


@pytest.fixture
def copy_sources(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the shipped sources in a temporary directory, optionally with one plan edited."""

    def make(file: str | None = None, edit: Callable[[str], str] | None = None) -> Path:
        directory = tmp_path / "sources"
        directory.mkdir(exist_ok=True)
        for path in resources.sources_dir().iterdir():
            shutil.copy(path, directory / path.name)
        if file is not None and edit is not None:
            target = directory / file
            target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
        return directory

    return make


@pytest.fixture
def renamed_host(copy_sources: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[[str], FlaskClient]]:
    """A test client of an app over a build whose 11th plan prints ``name`` for one of Qinghai's hosts
    (青海省中小企业发展促进中心), an organization no reference table knows: hostile text from a plan."""
    apps: list[Flask] = []

    def make(name: str) -> FlaskClient:
        sources = copy_sources("plan-11.txt", lambda plan: plan.replace("青海省中小企业发展促进中心", name, 1))
        result = build(load(env={}, out=tmp_path / "out", sources=sources))
        assert any(name in str(u) for u in result.links.unresolved)
        apps.append(create_app(load(env={}, out=tmp_path / "out")))
        return apps[-1].test_client()

    yield make
    for app in apps:
        app.extensions["makerkg"].close()


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 that the SERVICE, FROM and LOAD IRIs of refused queries point at: it records
    whatever connects (the first bytes sent, or that it connected); nothing ever may."""
    received: list[bytes] = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    received.append(conn.recv(4096) or b"<connected>")
                except OSError:
                    received.append(b"<connected>")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1], received
    stop.set()
    thread.join(timeout=5)
    sock.close()
    assert received == []


@pytest.fixture(scope="session")
def runner(built: BuildResult) -> LocalRunner:
    """makerkg's in-process query runner over the real build (unconfined: the test process keeps its network)."""
    return LocalRunner(StoreSpec(built.build.path, in_memory=True, memory_limit=0, sandbox=False), confine=False)
