"""Shared fixtures: the real graph is built once per run and only read; a test that changes data builds its own."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from makerkg import resources
from makerkg.config import Settings, load
from makerkg.pipeline import BuildResult, build
from makerkg.store import EmbeddedStore


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The real graph of the shipped plans, built once."""
    out = tmp_path_factory.mktemp("out")
    return build(load(env={}, out=out))


@pytest.fixture(scope="session")
def settings(built: BuildResult) -> Settings:
    return load(env={}, out=built.build.path.parent.parent)


@pytest.fixture(scope="session")
def store(built: BuildResult) -> EmbeddedStore:
    return EmbeddedStore(built.build.store_dir)


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
