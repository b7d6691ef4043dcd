"""What the production WSGI server loads: ``makerkg serve`` runs granian on ``makerkg.web.wsgi:application`` (a
factory), in each of its worker processes."""

from __future__ import annotations

import logging
import signal
import sys
from multiprocessing.util import Finalize

from flask import Flask

from makerkg.config import Settings, load
from makerkg.web.ops import ACCESS_LOGGER


def application() -> Flask:
    """The app, configured from the environment (``makerkg serve`` passes every setting as ``MAKERKG_*``).

    granian calls this in a new worker process before it installs its own handlers of SIGTERM and SIGINT; until
    then the process has its parent's, under which a stop signal is lost, and a worker that was still starting
    when the server was told to stop served on until it was killed at the end of the grace period. So a stop
    signal that comes while this runs ends the process as soon as the app is made (its query workers with it)."""
    stop_signals: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop_signals.append(signum))
    settings = load()
    _access_log(settings)
    from makerkg.web.engine import Engine

    engine = Engine(settings)  # its first query worker starts now, while the app's modules load
    from makerkg.web.app import create_app

    app = create_app(settings, engine)
    # granian's worker processes end through multiprocessing, which kills their daemonic children (the query
    # workers) after running its finalizers of priority >= 0: close the pool first, so that it stops its workers
    # itself and knows a worker starting meanwhile is stopped on purpose, not failing
    Finalize(app, app.extensions["makerkg"].close, exitpriority=10)
    if stop_signals:
        app.extensions["makerkg"].close()
        sys.exit(0)
    return app


def _access_log(settings: Settings) -> None:
    """Send the access log lines of this process where ``access_log`` says; once per worker process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.propagate = False  # access lines are not diagnostics: they never reach the server's error output
    if not settings.access_log:
        return
    handler = (
        logging.StreamHandler(sys.stdout)
        if settings.access_log == "-"
        else logging.FileHandler(settings.access_log, encoding="utf-8")
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
