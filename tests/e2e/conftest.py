"""One server for the whole run: `makerkg serve` on a free 127.0.0.1 port, over a build made for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers


@dataclass(frozen=True)
class Server:
    url: str
    out: Path
    process: subprocess.Popen[bytes]

    @property
    def sparql(self) -> str:
        return f"{self.url}/sparql"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(out: Path, log: Path, **env: str) -> Server:
    """Start `makerkg serve` and wait until it answers; the caller stops it."""
    port = free_port()
    environment = {**os.environ, "MAKERKG_OUT": str(out), **{f"MAKERKG_{k.upper()}": v for k, v in env.items()}}
    with log.open("wb") as output:  # the child keeps its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", "makerkg.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"makerkg serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/sparql", timeout=2) as response:  # noqa: S310 - 127.0.0.1
                if response.status == 200:
                    return Server(url, out, process)
        except OSError:
            time.sleep(0.2)
    stop(Server(url, out, process))
    raise RuntimeError(f"makerkg serve did not answer within 60 s: {log.read_text()[-2000:]}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


def http(
    server: Server,
    path: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, Headers, bytes]:
    """Status, headers (names in any case, as HTTP has them) and body."""
    request = urllib.request.Request(server.url + path, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
            return response.status, Headers(list(response.headers.items())), response.read()
    except urllib.error.HTTPError as err:
        return err.code, Headers(list(err.headers.items())), err.read()


@pytest.fixture(scope="session")
def server(built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    out = built.build.path.parent.parent
    running = start(out, tmp_path_factory.mktemp("log") / "serve.log", query_timeout="3", max_rows="500")
    yield running
    stop(running)
