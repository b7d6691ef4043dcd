"""Regression: a request that straddled the switch to a newly published build could take its body from the old
build and its footer and ETag from the new one (found by tests/e2e/test_faults.py), so that a client revalidating
with that ETag kept the old body. The engine now answers the whole request from one snapshot."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from makerkg.config import grace, load
from makerkg.pipeline import BuildResult, build
from makerkg.store import current
from makerkg.store.pool import LOADER_ENV, QueryPool, SharedLoaders, loader_environment, shared_loader
from makerkg.store.worker import spec_for
from makerkg.web import create_app
from makerkg.web import engine as engine_module
from makerkg.web.engine import CHECK_EVERY


def test_one_request_sees_one_build(built: BuildResult, tmp_path: Path, copy_sources: Callable[..., Path]) -> None:
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    application = create_app(load(env={}, out=out, query_workers=1))
    engine = application.extensions["makerkg"]
    try:
        with application.test_request_context("/org/miit-nisc"):
            first = engine.snapshot()
            sources = copy_sources(
                "plan-11.txt", lambda plan: plan.replace("https://www.smebj.cn/", "https://b.cn/", 1)
            )
            fresh = build(load(env={}, out=out, sources=sources)).build
            time.sleep(CHECK_EVERY + 0.2)  # past the engine's next look at OUT/current
            assert engine.snapshot() is first  # the footer and the ETag are computed from it too

        def served() -> str:  # the build a request is answered from: the one the engine's follower opened last
            with application.test_request_context("/org/miit-nisc"):
                return str(engine.snapshot().build.info.id)

        assert wait_for(lambda: served() == fresh.info.id, 10)
        response = application.test_client().get("/edition/11/regional/110000", headers={"Accept": "text/html"})
        html = response.get_data(as_text=True)
        assert "https://b.cn/" in html and f"build {fresh.info.id}" in html
        assert response.headers["ETag"].strip('"').startswith(fresh.info.id)
    finally:
        engine.close()


def test_a_new_build_that_cannot_be_opened_is_told_once(
    built: BuildResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The old build goes on being served and the new one is tried again, after growing pauses, in each web process:
    its failure is logged once, in one line naming the file and what is wrong with it, not at every attempt."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    application = create_app(load(env={}, out=out, query_workers=1))
    engine = application.extensions["makerkg"]
    try:
        broken = out / "builds" / "broken"
        shutil.copytree(built.build.path, broken)
        (broken / "build.json").write_text("{", encoding="utf-8")
        (out / "next").symlink_to(broken.relative_to(out))
        (out / "next").replace(out / "current")
        client = application.test_client()
        with caplog.at_level(logging.ERROR, logger="makerkg.web.engine"):
            for _ in range(3):
                time.sleep(CHECK_EVERY + 0.1)
                assert client.get("/org/miit-nisc").status_code == 200  # the old build
        told = [r for r in caplog.records if "cannot be opened" in r.getMessage()]
        assert len(told) == 1 and "broken" in told[0].getMessage()
        assert "build.json: unreadable build description" in told[0].getMessage() and told[0].exc_info is None
    finally:
        engine.close()


def _publish(out: Path, name: str) -> Path:
    """A copy of the current build published as a new one (as `makerkg build` publishes: the link replaced)."""
    build = (out / "current").resolve()
    fresh = build.parent / name
    shutil.copytree(build, fresh)
    (out / "next").symlink_to(fresh.relative_to(out))
    (out / "next").replace(out / "current")
    return fresh


def test_a_new_build_waits_for_the_server_s_loader_then_does_without(
    built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (CI): a web process that saw a new build before `makerkg serve` had started its loader of it
    started a loader of its own (a second copy of the store) when the server's did not listen within a second, as
    on a busy machine. It now goes on serving the build before until the server's loader listens, and starts one of
    its own only when none has come after SERVER_PATIENCE seconds."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    settings = load(env={}, out=out, query_workers=1)
    loaders = SharedLoaders(f"makerkg-test/{tmp_path.name}", settings, grace=60.0)
    monkeypatch.setenv(LOADER_ENV, loader_environment(loaders.name))
    monkeypatch.setattr(engine_module, "CHECK_EVERY", 0.0)
    first = loaders.start(current(out)).ready(background=False).loader_pid
    engine = create_app(settings).extensions["makerkg"]
    try:
        old = engine.snapshot()
        assert isinstance(old.pool, QueryPool) and old.pool.loader_pid == first
        second = _publish(out, "second")
        for _ in range(5):  # no loader of the server's listens for it yet
            time.sleep(0.2)
            assert engine.snapshot() is old
        shared = loaders.start(current(out)).ready(background=False).loader_pid
        assert wait_for(lambda: engine.snapshot().build.path == second, 10)
        assert cast(QueryPool, engine.snapshot().pool).loader_pid == shared
        monkeypatch.setattr(engine_module, "SERVER_PATIENCE", 1.0)
        third = _publish(out, "third")
        assert engine.snapshot().build.path == second  # within the patience: still the build before
        assert wait_for(lambda: engine.snapshot().build.path == third, 10)  # and then with a loader of its own
        own = cast(QueryPool, engine.snapshot().pool).loader_pid
        assert own not in (None, first, shared)
    finally:
        engine.close()
        loaders.close()


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_an_idle_web_process_lets_the_build_before_go(built: BuildResult, tmp_path: Path) -> None:
    """Regression: a web process looked for a new build only when a request came. One that had none after a build
    was published kept the build before, its query workers and the server's loader of it (at a million
    statements in memory, a copy of the store), for good. Its engine now follows OUT/current itself."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    settings = load(env={}, out=out, query_workers=1, query_timeout=1.0)
    engine = create_app(settings).extensions["makerkg"]
    try:
        old = engine._snapshot  # read as it is: snapshot() would look at OUT/current, as a request does
        assert isinstance(old.pool, QueryPool) and old.pool.pids() and old.pool.loader_alive()
        second = _publish(out, "second")
        assert wait_for(lambda: not old.pool.pids() and not old.pool.loader_alive(), grace(settings) + 10)
        assert engine._snapshot.build.path == second
    finally:
        engine.close()


def test_a_build_that_cannot_be_opened_is_tried_less_and_less_often_and_never_by_a_request(
    built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (an outside check): a published build whose store could not be loaded was tried again at every
    look, each second in each web process, by whichever request looked first, which waited for the attempt (a
    second or more each). Attempts now pause as the server's loaders' do, and only the follower makes them."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    monkeypatch.setattr(engine_module, "CHECK_EVERY", 0.1)
    monkeypatch.setattr(engine_module, "RETRY_FIRST", 1.5)
    application = create_app(load(env={}, out=out, query_workers=1))
    engine = application.extensions["makerkg"]
    opened: list[str] = []
    tried = engine._open

    def counted(build: object, alone: bool = True) -> object:
        opened.append(engine_module.threading.current_thread().name)
        return tried(build, alone)

    monkeypatch.setattr(engine, "_open", counted)
    try:
        broken = _publish(out, "broken")
        (broken / "graph.nq").write_text("not N-Quads\n", encoding="utf-8")
        client = application.test_client()
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            assert client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"}).status_code == 200
            time.sleep(0.05)
        # at 0.1 s, then after pauses of 1.5 and 3 s: two or three attempts in 4 s (some forty at each look)
        assert 1 <= len(opened) <= 3 and set(opened) == {"makerkg-follow"}
    finally:
        engine.close()


def test_a_build_put_back_within_the_grace_period_keeps_its_loader(
    built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (an outside check): a build made current again while its loader was still kept for the grace
    period (a rollback) got a new loader, which could not listen under the name the old one held; the web processes
    joined the old one until it was stopped, then each loaded a copy of the store of its own."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    settings = load(env={}, out=out, query_workers=1)
    loaders = SharedLoaders(f"makerkg-test/{tmp_path.name}", settings, grace=60.0)
    monkeypatch.setenv(LOADER_ENV, loader_environment(loaders.name))
    try:
        first = current(out)
        kept = loaders.start(first).ready(background=False)
        _publish(out, "second")
        assert loaders.start(current(out)).ready(background=False).loader_pid != kept.loader_pid
        assert loaders.start(first) is kept and kept.loader_alive()
        joined = QueryPool(spec_for(first, settings), 1, settings.query_timeout, join=shared_loader(first))
        try:
            assert joined.ready(background=False).loader_pid == kept.loader_pid
        finally:
            joined.close(keep_loader=True)
    finally:
        loaders.close()


def test_closing_the_engine_while_it_opens_a_build_closes_every_pool(
    built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web process stopping while its follower opened a new build closed the pool served before, and the one
    being opened was put in its place afterwards, never closed (its workers outlived the engine)."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    monkeypatch.setattr(engine_module, "CHECK_EVERY", 0.1)
    engine = create_app(load(env={}, out=out, query_workers=1)).extensions["makerkg"]
    first = engine._snapshot
    opening, go = threading.Event(), threading.Event()
    opened = []
    tried = engine._open

    def held(build: object, alone: bool = True) -> object:
        opening.set()
        go.wait(10)
        opened.append(tried(build, alone))
        return opened[-1]

    monkeypatch.setattr(engine, "_open", held)
    _publish(out, "second")
    try:
        assert opening.wait(10)
        closer = threading.Thread(target=engine.close)
        closer.start()
        time.sleep(0.3)
        assert closer.is_alive()  # it waits for the opening under way
    finally:
        go.set()
    closer.join(20)
    assert not closer.is_alive()
    assert len(opened) == 1 and not opened[0].pool.pids() and not first.pool.pids()
