"""Regression: a request that straddled the switch to a newly published build could take its body from the old
build and its footer and ETag from the new one (found by tests/e2e/test_faults.py), so that a client revalidating
with that ETag kept the old body. The engine now answers the whole request from one snapshot."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from makerkg.config import load
from makerkg.pipeline import BuildResult, build
from makerkg.web import create_app
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
        with application.test_request_context("/org/miit-nisc"):
            assert engine.snapshot().build.info.id == fresh.info.id
        response = application.test_client().get("/edition/11/regional/110000", headers={"Accept": "text/html"})
        html = response.get_data(as_text=True)
        assert "https://b.cn/" in html and f"build {fresh.info.id}" in html
        assert response.headers["ETag"].strip('"').startswith(fresh.info.id)
    finally:
        engine.close()


def test_a_new_build_that_cannot_be_opened_is_told_once(
    built: BuildResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The old build goes on being served and the new one is tried again at each look (each second, in each web
    process): its failure is logged once, with its traceback, not at every look."""
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
    finally:
        engine.close()
