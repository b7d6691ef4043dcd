"""Fixtures of the web tests: one app per module over the real build, and Flask's test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from makerkg.config import load
from makerkg.pipeline import BuildResult
from makerkg.web import create_app


@pytest.fixture(scope="module")
def app(built: BuildResult) -> Iterator[Flask]:
    application = create_app(load(env={}, out=built.build.path.parent.parent))
    yield application
    application.extensions["makerkg"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
