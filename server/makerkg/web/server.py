"""The production server ``makerkg serve`` runs, chosen by measurement (docs/hardening.md, slow clients).

granian, a Rust HTTP server, runs the WSGI app (``makerkg.web.wsgi:application``) in ``workers`` processes of
``threads`` request threads each. In front of it, unless ``proxy = "none"``, nginx holds every client connection:
a request reaches granian, over a Unix socket of this run's own, only once nginx has all of its headers and body,
and nginx takes the answer as fast as granian writes it; a slow, idle or silent client costs an nginx connection
(a few kB), never a request thread. granian alone holds idle connections and slow headers without a thread too,
but a slow request body would keep a request thread reading, with no time limit.

This process supervises both, each in a session of its own so that a signal meant for the server reaches them only
through here: SIGTERM (or SIGINT) closes nginx's listening socket at once (new connections are refused, not left
waiting), lets the requests under way finish, then stops granian and leaves. Either child ending on its own stops
the other, and the server exits non-zero.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import grp
import http.client
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from types import FrameType
from typing import IO

import jinja2

from makerkg.config import Settings, environ, grace, ip_address
from makerkg.errors import MakerkgError, UsageError
from makerkg.metrics import MULTIPROC_ENV
from makerkg.store.pool import LOADER_ENV, loader_environment
from makerkg.web import granian_log
from makerkg.web.rundir import Layout

log = logging.getLogger(__name__)
APP = "makerkg.web.wsgi:application"
READY_TIMEOUT = 120.0  # seconds the app server may take to answer its first request
POLL = 0.2  # seconds between looks at the children
READY_POLL = 0.02  # seconds between looks at a child that is starting: the first answer comes that much sooner
# the paths the app answers POST on, for the Allow of nginx's own 405 (tests/unit/test_server.py checks them against
# the app's routes)
POST_PATHS = ("/sparql", "/reconcile")


class ServerFailed(MakerkgError):
    """A part of the server did not start, or ended on its own."""

    exit_code = 1


def find_nginx() -> str | None:
    """nginx's program (Debian installs it in /usr/sbin, which need not be on PATH)."""
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))


def listen_address(host: str, port: int) -> str:
    """``host:port`` as nginx's ``listen`` takes it.

    >>> listen_address("::1", 8000)
    '[::1]:8000'
    """
    return f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"


def refuse_taken_port(host: str, port: int) -> None:
    """Raise UsageError when another process listens on ``host:port`` already: the readiness probes would reach it
    and take it for this server, which would then say it serves before failing to listen."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx and granian bind: TIME_WAIT is free
        try:
            probe.bind((address, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise UsageError("port", f"{listen_address(host, port)} is taken by another process") from err
            raise UsageError("host", f"cannot listen on {listen_address(host, port)}: {err.strerror}") from err


def nginx_config(settings: Settings, root: Path, upstream: str) -> str:
    """nginx's configuration for one run: listen on ``host:port``, hold the clients, pass whole requests to
    ``upstream`` (``unix:PATH`` or ``HOST:PORT``); ``root`` takes its pid file and buffers."""
    from makerkg.sparql.protocol import MAX_FORM_FIELDS  # here: the supervisor needs it only for this

    template = files("makerkg.web").joinpath("nginx.conf.j2").read_text(encoding="utf-8")
    # not HTML: the values are settings checked by config.load (numbers, paths, an address), never request data
    environment = jinja2.Environment(autoescape=False, keep_trailing_newline=True)  # noqa: S701
    user = None
    if os.geteuid() == 0:  # nginx's workers would run as "nobody", who cannot reach this run's private socket
        user = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
    return environment.from_string(template).render(
        s=settings,
        root=root,
        upstream=upstream,
        user=user,
        listen=listen_address(settings.host, settings.port),
        dual_stack=settings.host.strip("[]") == "::",  # as granian listens on "::": IPv4 clients too
        grace=int(grace(settings)),
        read_timeout=int(settings.query_timeout) + 30,
        post_paths=POST_PATHS,
        max_fields=MAX_FORM_FIELDS,
    )


def granian_command(settings: Settings, bind: list[str], log_config: Path) -> list[str]:
    """The command that runs the app under granian, listening as ``bind`` says (``--uds PATH`` or host and port),
    its logging configured by the JSON file ``log_config`` (``web/granian_log.py``)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--factory",
        "--http",
        "1",
        "--no-ws",
        "--workers",
        str(settings.workers),
        "--blocking-threads",
        str(settings.threads),
        "--http1-header-read-timeout",
        str(int(settings.header_timeout * 1000)),
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        str(int(grace(settings))),
        "--log-level",
        "warning",
        "--log-config",
        str(log_config),
        *bind,
        APP,
    ]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Have the kernel stop this child when the server process dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG;
    no library in the standard set offers it)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _start(command: list[str], env: dict[str, str] | None = None, held: bool = False) -> subprocess.Popen[bytes]:
    """Start a child; ``held``: its output and error output come through pipes, for ``_Relay``s."""
    return subprocess.Popen(  # noqa: S603 - our own commands
        command,
        env=env,
        stdout=subprocess.PIPE if held else None,
        stderr=subprocess.PIPE if held else None,
        start_new_session=True,  # a signal to the server's process group reaches the children only through here
        # the child runs only this between fork and exec (a relay thread may run meanwhile: it takes no lock the
        # child needs, writing with os.write)
        preexec_fn=_die_with_parent,
    )


class _Relay:
    """Copies a child's output to ours (file descriptor ``target``), holding it back until ``release()``
    (``drop()``: never shown): the app server starts while the store is checked, and a store that fails the check
    is told in one line."""

    def __init__(self, source: IO[bytes], target: int) -> None:
        self._source, self._target = source, target
        self._held: list[bytes] | None = []  # None once released
        self._dropped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._copy, name="makerkg-relay", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        fd = self._source.fileno()
        while data := os.read(fd, 65536):
            with self._lock:
                if self._dropped:
                    continue
                if self._held is not None:
                    self._held.append(data)
                    continue
            _write_all(self._target, data)

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
            for data in held:
                _write_all(self._target, data)

    def drop(self) -> None:
        with self._lock:
            self._dropped = True
            self._held = []


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # our own error output closed: nothing to tell it
        while data:
            data = data[os.write(fd, data) :]


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, seconds: float) -> None:
    """Send ``sig`` and wait ``seconds``; then kill the child's whole session."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            log.warning("pid %s did not stop within %.0f s; killing it", process.pid, seconds)
    if process.poll() is None or _group_alive(process.pid):
        _kill(process)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill a child's whole session at once (it has nothing worth finishing)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class _UnixConnection(http.client.HTTPConnection):
    """http.client over a Unix socket, for the readiness probe of an app server behind nginx."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.path))
        self.sock = sock


def _answers(connect: Callable[[], http.client.HTTPConnection]) -> bool:
    try:
        conn = connect()
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
    except (OSError, http.client.HTTPException):
        return False
    return ok


@dataclass(frozen=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: signal.Signals  # the signal that stops it gracefully


def _wait_ready(child: _Child, connect: Callable[[], http.client.HTTPConnection]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not _answers(connect):
        if child.process.poll() is not None:
            raise ServerFailed(f"{child.name} exited with code {child.process.returncode} while starting")
        if time.monotonic() > deadline:
            raise ServerFailed(f"{child.name} did not answer within {READY_TIMEOUT:g} s")
        time.sleep(READY_POLL)


def serve(
    settings: Settings,
    started: Callable[[str], None],
    check: Callable[[], None] = lambda: None,
    layout: Layout | None = None,
) -> None:
    """Run the server until SIGTERM or SIGINT; ``started`` is told how it runs once it answers. ``check`` (the
    build's store, say) runs before anything listens where clients reach it (with nginx in front, while granian
    starts on this run's own socket, its output held back until the check has passed): what it raises stops
    everything, and nothing has printed or listened. ``layout``: the run's directory, when the caller made it
    already (a new one otherwise, removed at the end). Raises UsageError when nginx is needed and missing,
    ServerFailed when a part does not start or ends on its own."""
    nginx = find_nginx() if settings.proxy in ("nginx", "auto") else None
    if settings.proxy == "nginx" and nginx is None:
        raise UsageError(
            "proxy",
            'nginx is needed in front of the app server (Debian: apt-get install nginx); or set proxy = "none" '
            "when a proxy of your own holds the clients (docs/deployment.md)",
        )
    if settings.proxy == "auto" and nginx is None:  # a machine without nginx still serves, and says what it lacks
        log.warning(
            "nginx is not installed: granian serves alone, and a client sending its body slowly holds a request "
            "thread (install Debian's nginx, or set proxy = none to silence this; docs/deployment.md)"
        )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    if nginx is None and ip_address(settings.host.strip("[]")) is None:
        raise UsageError("host", f"granian alone listens on an IP address, not a name: {settings.host!r} (127.0.0.1, "
                         "::1, 0.0.0.0 or ::; or nginx in front, which takes a name)")  # fmt: skip
    refuse_taken_port(settings.host, settings.port)
    if nginx is None:
        check()  # before granian, which listens where clients reach it
    own = layout is None  # made here, so removed here; the caller's layout is the caller's to remove
    layout = layout or Layout.create()
    children: list[_Child] = []  # in the order they are stopped: the front first
    host = settings.host.strip("[]")
    try:
        layout.metrics.mkdir()
        app_settings = settings
        if nginx is not None:  # nginx is one more trusted proxy: it appends to X-Forwarded-For, -Proto and -Host
            app_settings = replace(settings, trusted_proxies=settings.trusted_proxies + 1)
            bind = ["--uds", str(layout.socket)]
        else:
            bind = ["--host", host, "--port", str(settings.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAKERKG_")}
        env.update(environ(app_settings))
        env[MULTIPROC_ENV] = str(layout.metrics)
        env[LOADER_ENV] = loader_environment(layout.loaders)  # where the web processes' workers are forked
        held = nginx is not None
        layout.granian_log.write_text(json.dumps(granian_log.config()), encoding="utf-8")
        command = granian_command(settings, bind, layout.granian_log)
        app = _Child("the app server (granian)", _start(command, env, held), signal.SIGTERM)
        children.append(app)
        if nginx is not None:
            # granian, on a socket of this run's own, starts while the store is checked (its first answer comes
            # that much sooner); a store that fails the check stops it at once, its output never shown
            assert app.process.stdout is not None and app.process.stderr is not None  # noqa: S101 - started held
            relays = [_Relay(app.process.stdout, 1), _Relay(app.process.stderr, 2)]
            try:
                check()
            except BaseException:
                for relay in relays:
                    relay.drop()
                children.remove(app)
                _kill(app.process)
                raise
            for relay in relays:
                relay.release()
            _wait_ready(app, lambda: _UnixConnection(layout.socket, 5))
            layout.nginx.mkdir()
            conf = layout.nginx / "nginx.conf"
            conf.write_text(nginx_config(settings, layout.nginx, f"unix:{layout.socket}"), encoding="utf-8")
            # QUIT: nginx closes its listening socket at once and finishes the requests under way
            front = _Child(
                "nginx", _start([nginx, "-p", str(layout.nginx), "-c", str(conf), "-e", "stderr"]), signal.SIGQUIT
            )
            children.insert(0, front)
            _wait_ready(front, lambda: http.client.HTTPConnection(host, settings.port, timeout=5))
            started(f"nginx in front of granian, {settings.workers} workers of {settings.threads} threads")
        else:
            _wait_ready(app, lambda: http.client.HTTPConnection(host, settings.port, timeout=5))
            started(f"granian alone, {settings.workers} workers of {settings.threads} threads")
        while not stopping.wait(POLL):
            for child in children:
                if child.process.poll() is not None:
                    raise ServerFailed(f"{child.name} exited on its own with code {child.process.returncode}")
    finally:
        for child in children:
            _stop(child.process, child.stop_signal, grace(settings))
        if own:
            layout.remove()
