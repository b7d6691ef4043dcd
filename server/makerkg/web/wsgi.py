"""What the production WSGI server loads: ``makerkg serve`` runs gunicorn on ``makerkg.web.wsgi:application()``."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import NoMoreData, ParseException

from makerkg.config import Settings
from makerkg.web import create_app
from makerkg.web.errors import problem


def application() -> Flask:
    """The app, configured from the environment (for ``gunicorn 'makerkg.web.wsgi:application()'``)."""
    return _under_gunicorn(create_app())


def _under_gunicorn(app: Flask) -> Flask:
    """``app`` with gunicorn's errors for a body it cannot read (a malformed chunk, a client gone mid-body) answered
    400, as Werkzeug answers a short body; they reach the view that reads the body, which knows no gunicorn."""
    app.register_error_handler(ParseException, _unreadable_body)
    app.register_error_handler(NoMoreData, _unreadable_body)
    return app


def _unreadable_body(err: Exception) -> Response:
    return problem(400, f"body: the request body cannot be read ({err})", parameter="body")


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
        return _under_gunicorn(create_app(self.settings))


def serve(settings: Settings) -> None:
    """Run the production server until interrupted."""
    Server(settings).run()
