"""The web layer: ``makerkg.web.create_app`` is the only way to get the Flask app (``web/app.py``).

Importing this package loads nothing else: ``makerkg serve`` imports ``web.server`` (which starts the app server
and nginx, and runs no app itself) without paying for Flask and the blueprints; ``create_app`` loads them when it
is first asked for (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from makerkg.web.app import create_app as create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from makerkg.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
