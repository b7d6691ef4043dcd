"""Slow and idle clients (slowloris) against a server on 127.0.0.1, while ordinary clients measure what it still
serves. Prints the ordinary throughput alone and beside the attack, the share kept (goal: at least 90 %), errors,
and what the server did with the hostile connections.

The hostile connections, each kind bounded in count, and all of them in time (--seconds):
- slow headers: a request line, then one header line every --drip seconds, never the blank line that ends them;
- slow bodies: a POST /sparql whose headers announce a 1,000-byte query, then one byte every --drip seconds;
- idle: connections that send nothing at all.
A connection the server closes is counted (with how long it was held and the status, if any, it was answered with)
and opened again after a second, as an attacker keeps its count up.

The ordinary clients send the ten named queries round-robin over keep-alive connections (as bench/endpoint.py), at
--concurrency, for --seconds alone and --seconds beside the attack, alternating in three rounds (the machine is
shared: alternating spreads whatever else runs over both).

Without --port the script starts `makerkg serve` itself over ./out (or --out); only 127.0.0.1 is ever contacted.
Usage: python bench/slowclients.py [--port P] [--slow-headers 40] [--idle 200] [--slow-bodies 0] [--seconds 15]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import statistics
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from endpoint import Target, clients, percentile, stop, wait_until_up

from makerkg import launch
from makerkg.queries import bind_parameters, bound_text, load_queries
from makerkg.store import current

HOST = "127.0.0.1"  # the only address this script connects to
MAX_CONNECTIONS = 1_000  # hostile connections open at once, whatever the arguments say
REOPEN_AFTER = 1.0  # seconds before a closed hostile connection is opened again
SLOW_HEADERS = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowclients\r\n"
SLOW_BODY = (
    b"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sparql-query\r\n"
    b"Content-Length: 1000\r\n\r\n"
)


@dataclass
class _Conn:
    kind: str
    sock: socket.socket
    opened: float
    next_drip: float
    answer: bytes = b""


@dataclass
class Attack:
    """The hostile connections, kept open by one thread until ``stop`` (or ``seconds``, whichever is first)."""

    port: int
    slow_headers: int = 40
    slow_bodies: int = 0
    idle: int = 200
    drip: float = 5.0
    seconds: float = 60.0
    closed: Counter[str] = field(default_factory=Counter)  # kind and how the server ended it
    held: dict[str, list[float]] = field(default_factory=dict)  # kind: seconds each closed connection was held
    refused: int = 0  # connections the server did not accept
    opened: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.slow_headers + self.slow_bodies + self.idle > MAX_CONNECTIONS:
            raise SystemExit(f"at most {MAX_CONNECTIONS} hostile connections")

    def __enter__(self) -> Attack:
        """Open the connections (again, for another round: the counts add up)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(2.0)  # every connection opened and its first bytes sent before anything is measured
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _open(self, kind: str, selector: selectors.BaseSelector, now: float) -> None:
        try:
            sock = socket.create_connection((HOST, self.port), timeout=5)
        except OSError:
            self.refused += 1
            return
        sock.setblocking(False)
        self.opened += 1
        conn = _Conn(kind, sock, now, now + self.drip)
        try:
            if kind == "slow headers":
                sock.send(SLOW_HEADERS)
            elif kind == "slow bodies":
                sock.send(SLOW_BODY + b"SELECT")  # a start, then a byte at a time
        except OSError:
            pass
        selector.register(sock, selectors.EVENT_READ, conn)

    def _close(self, conn: _Conn, selector: selectors.BaseSelector, now: float, how: str) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()
        self.closed[f"{conn.kind}: {how}"] += 1
        self.held.setdefault(conn.kind, []).append(now - conn.opened)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        started = time.monotonic()
        wanted = {"slow headers": self.slow_headers, "slow bodies": self.slow_bodies, "idle": self.idle}
        pending: list[tuple[float, str]] = [(started, kind) for kind, n in wanted.items() for _ in range(n)]
        try:
            while not self._stop.is_set() and time.monotonic() - started < self.seconds:
                now = time.monotonic()
                due = [p for p in pending if p[0] <= now]
                pending = [p for p in pending if p[0] > now]
                for _, kind in due:
                    self._open(kind, selector, now)
                for key, _ in selector.select(timeout=0.1):
                    conn: _Conn = key.data
                    try:
                        data = conn.sock.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    conn.answer += data
                    if not data:  # closed by the server: record how, and come back
                        status = conn.answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed, no answer"
                        self._close(conn, selector, time.monotonic(), status)
                        pending.append((time.monotonic() + REOPEN_AFTER, conn.kind))
                now = time.monotonic()
                for key in list(selector.get_map().values()):
                    conn = key.data
                    if conn.kind != "idle" and now >= conn.next_drip:
                        conn.next_drip = now + self.drip
                        with contextlib.suppress(OSError):  # closed by the server: the next read sees that
                            conn.sock.send(b"X-Slow: 1\r\n" if conn.kind == "slow headers" else b" ")
        finally:
            for key in list(selector.get_map().values()):
                key.data.sock.close()
            selector.close()

    def summary(self) -> str:
        lines = [f"hostile connections opened: {self.opened}, refused: {self.refused}"]
        for how, count in sorted(self.closed.items()):
            lines.append(f"  closed by the server, {how}: {count}")
        for kind, held in sorted(self.held.items()):
            lines.append(f"  {kind}: held {statistics.median(held):.1f} s (median) before the server closed it")
        return "\n".join(lines)


@dataclass(frozen=True)
class Throughput:
    """What the ordinary clients got in one or more measurements."""

    latencies: list[float]
    errors: int
    wall: float

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall if self.wall else float("nan")

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000 if self.latencies else float("nan")

    @staticmethod
    def merge(parts: list[Throughput]) -> Throughput:
        return Throughput(
            [x for p in parts for x in p.latencies], sum(p.errors for p in parts), sum(p.wall for p in parts)
        )


def ordinary(port: int, queries: list[str], concurrency: int, seconds: float) -> Throughput:
    """The named queries at ``concurrency`` for ``seconds`` (bench/endpoint.py's client)."""
    latencies, errors, wall = clients(Target("server", port, "/sparql"), lambda i: queries[i % len(queries)],
                                      concurrency, seconds)  # fmt: skip
    return Throughput(latencies, errors, wall)


def named_queries(out: Path) -> list[str]:
    info = current(out).info
    return [bound_text(q, bind_parameters(q, {}, info.base, editions=info.editions)) for q in load_queries().values()]


def compare(
    port: int, queries: list[str], concurrency: int, seconds: float, attack: Attack, rounds: int = 3
) -> tuple[Throughput, Throughput]:
    """Ordinary throughput alone and beside ``attack``, in ``rounds`` alternating pairs of ``seconds / rounds`` each:
    on a shared machine, what else runs changes from minute to minute, and alternating spreads that over both."""
    alone: list[Throughput] = []
    beside: list[Throughput] = []
    for _ in range(rounds):
        alone.append(ordinary(port, queries, concurrency, seconds / rounds))
        attack.seconds = seconds / rounds + 10
        with attack:
            beside.append(ordinary(port, queries, concurrency, seconds / rounds))
    return Throughput.merge(alone), Throughput.merge(beside)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slow-headers", type=int, default=40, help="connections sending headers slowly (40)")
    parser.add_argument("--slow-bodies", type=int, default=0, help="connections sending a body slowly (0)")
    parser.add_argument("--idle", type=int, default=200, help="connections sending nothing (200)")
    parser.add_argument("--drip", type=float, default=5.0, help="seconds between a slow client's bytes (5)")
    parser.add_argument("--concurrency", type=int, default=4, help="ordinary clients (4)")
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="seconds alone and beside the attack, each in 3 rounds (15)"
    )


def report(alone: Throughput, beside: Throughput, attack: Attack) -> str:
    kept = beside.per_second / alone.per_second if alone.per_second else float("nan")
    return (
        f"ordinary requests alone: {alone.per_second:.1f}/s ({alone.requests}, {alone.errors} errors, p50 "
        f"{alone.p50_ms:.1f} ms, p99 {alone.p99_ms:.1f} ms)\n"
        f"beside {attack.slow_headers} slow-header, {attack.slow_bodies} slow-body and {attack.idle} idle "
        f"connections: {beside.per_second:.1f}/s ({beside.requests}, {beside.errors} errors, p50 "
        f"{beside.p50_ms:.1f} ms, p99 {beside.p99_ms:.1f} ms): {kept:.0%} kept (goal ≥ 90 %)\n{attack.summary()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--port", type=int, help=f"a server already listening on {HOST} (default: start one)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="the build (default ./out)")
    add_arguments(parser)
    args = parser.parse_args()
    queries = named_queries(args.out)
    process: subprocess.Popen[bytes] | None = None
    port = args.port
    if port is None:
        served = launch.start(args.out, within=180)
        port, process = served.port, served.process
    else:
        wait_until_up(Target("server", port, "/sparql"))
    try:
        ordinary(port, queries, 1, 2.0)  # warm-up
        print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        attack = Attack(port, args.slow_headers, args.slow_bodies, args.idle, args.drip)
        alone, beside = compare(port, queries, args.concurrency, args.seconds, attack)
        print(report(alone, beside, attack))
    finally:
        stop(process)


if __name__ == "__main__":
    main()
