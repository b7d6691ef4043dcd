"""Run `makerkg serve` as a child process, for tests and benchmarks (ours, or a user's own against a build): on a
free 127.0.0.1 port, over a given build directory, with settings passed as its ``MAKERKG_*`` variables; it is up once
it answers a query, and stopped with SIGTERM, then SIGKILL of its whole process group (nginx, granian, the query
workers).

    with start(Path("out"), Path("serve.log"), {"query_timeout": "3"}) as server:
        urllib.request.urlopen(server.sparql + "?query=ASK%7B%7D")
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from makerkg.config import variable
from makerkg.errors import ServeFailed

HOST = "127.0.0.1"
PROBE = "ASK { ?s ?p ?o }"  # a query: a server is up once a query worker answers, not merely its front
LOG_TAIL = 2000  # characters of the log a failure quotes


@dataclass(frozen=True)
class Server:
    """A running `makerkg serve`: where it answers, the build directory it serves, its process (the leader of a
    process group of its own), its log, and the seconds from its start to its first answer."""

    url: str
    out: Path
    process: subprocess.Popen[bytes]
    log: Path | None = None
    first_answer: float = 0.0

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def sparql(self) -> str:
        return f"{self.url}/sparql"

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        stop(self)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start(
    out: Path,
    log: Path | None = None,
    settings: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    within: float = 60.0,
    poll: float = 0.1,
) -> Server:
    """Start `makerkg serve` over the builds in ``out`` on ``port`` (None: a free one), with ``settings`` (field
    names of ``Settings``) in its environment and its output in ``log`` (None: discarded), and wait until it answers
    a query, looking every ``poll`` seconds. Raises UsageError for an unknown setting, and ServeFailed, quoting the
    end of the log, when it exits or does not answer within ``within`` seconds (it is stopped then)."""
    port = port or free_port()
    environment = {**os.environ, variable("out"): str(out)}
    environment.update({variable(name): text for name, text in (settings or {}).items()})
    command = [sys.executable, "-m", "makerkg.cli", "serve", "--host", HOST, "--port", str(port)]
    started = time.perf_counter()
    with (log or Path(os.devnull)).open("wb") as output:  # the child keeps its own copy of the file
        process = subprocess.Popen(  # noqa: S603 - our own command
            command, stdout=output, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    server = Server(f"http://{HOST}:{port}", out, process, log)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeFailed(f"exited with {process.returncode}", _tail(log))
        if _answers(port):
            return replace(server, first_answer=time.perf_counter() - started)
        time.sleep(poll)
    stop(server)
    raise ServeFailed(f"did not answer within {within:g} s", _tail(log))


def stop(server: Server, grace: float = 20.0) -> None:
    """Stop a server: SIGTERM, then SIGKILL of its process group after ``grace`` seconds."""
    terminate(server.process, grace)


def terminate(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """Stop a process started in a session of its own, and what it started: SIGTERM, then SIGKILL of its process
    group after ``grace`` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request(
            "GET",
            "/sparql?" + urllib.parse.urlencode({"query": PROBE}),
            headers={"Accept": "application/sparql-results+json"},
        )
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _tail(log: Path | None) -> str:
    if log is None:
        return "(no log kept)"
    return log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL:]
