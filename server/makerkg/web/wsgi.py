"""What the production WSGI server loads: ``makerkg serve`` runs gunicorn on ``makerkg.web.wsgi:application()``."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from makerkg.config import Settings
from makerkg.web import create_app


def application() -> Flask:
    """The app, configured from the environment (for ``gunicorn 'makerkg.web.wsgi:application()'``)."""
    return create_app()


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured from Settings; each worker process creates its own app (and query workers)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options: dict[str, Any] = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.workers,
            "worker_class": "gthread",
            "threads": s.threads,
            # gunicorn restarts a worker silent this long; queries are stopped well before by their own deadline
            "timeout": int(s.query_timeout) + 30,
            "graceful_timeout": int(s.query_timeout) + 5,
            "accesslog": s.access_log or None,
            "errorlog": "-",
            "limit_request_line": 8190,
            "limit_request_fields": 100,
            "limit_request_field_size": 8190,
            "proc_name": "makerkg",
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.settings)


def serve(settings: Settings) -> None:
    """Run the production server until interrupted."""
    Server(settings).run()
