"""Endpoint benchmark: the named queries against makerkg, Oxigraph's server and rdflib-endpoint, in one run, on the
same data (the current build), at concurrency 1 and 4. Prints p50/p99 latency and throughput, and the ratios.

Needs the bench extra (pip install -e '.[bench]') and a build (makerkg build). Only 127.0.0.1 is contacted.
Usage: python bench/endpoint.py [--out DIR] [--seconds 15]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from makerkg.queries import bind_parameters, bound_text, load_queries
from makerkg.store import current

ACCEPT = "application/sparql-results+json"


@dataclass
class Target:
    name: str
    port: int
    path: str  # the query endpoint's path
    process: subprocess.Popen[bytes] | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(target: Target, probe: str, poll: float = 0.3) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            status, _ = request(http.client.HTTPConnection("127.0.0.1", target.port, timeout=5), target.path, probe)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(poll)
    raise SystemExit(f"{target.name} did not come up")


def request(conn: http.client.HTTPConnection, path: str, query: str) -> tuple[int, int]:
    conn.request("GET", f"{path}?{urllib.parse.urlencode({'query': query})}", headers={"Accept": ACCEPT})
    response = conn.getresponse()
    body = response.read()
    return response.status, len(body)


def measure(target: Target, queries: list[str], concurrency: int, seconds: float) -> tuple[list[float], int, float]:
    """Latencies (s) of every request, errors, and the wall time, with ``concurrency`` keep-alive clients."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
        i = offset
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop_at:
            query = queries[i % len(queries)]
            i += 1
            start = time.perf_counter()
            try:
                status, _ = request(conn, target.path, query)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
                status = 0
            mine.append(time.perf_counter() - start)
            bad += status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n * 3,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.monotonic() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out", help="the build directory (default ./out)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per server and concurrency")
    args = parser.parse_args()
    build = current(Path(args.out))
    base = build.info.base
    named = load_queries()
    queries = [bound_text(q, bind_parameters(q, {}, base)) for q in named.values()]
    bin_dir = Path(sys.executable).parent
    oxigraph = shutil.which("oxigraph", path=str(bin_dir)) or "oxigraph"
    rdflib_endpoint = shutil.which("rdflib-endpoint", path=str(bin_dir)) or "rdflib-endpoint"
    targets: list[tuple[Target, Callable[[Target], subprocess.Popen[bytes]]]] = [
        (
            Target("makerkg", free_port(), "/sparql"),
            lambda t: start(
                [sys.executable, "-m", "makerkg.cli", "serve", "--port", str(t.port)], {"MAKERKG_OUT": args.out}
            ),
        ),
        (
            Target("oxigraph serve-read-only", free_port(), "/query"),
            lambda t: start(
                [oxigraph, "serve-read-only", "--location", str(build.store_dir), "--bind", f"127.0.0.1:{t.port}"]
            ),
        ),
        (
            Target("rdflib-endpoint", free_port(), "/"),
            lambda t: start(
                [
                    rdflib_endpoint,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(t.port),
                    str(build.path / "dumps" / "makerkg.nt"),
                ]
            ),
        ),
    ]
    results: dict[tuple[str, int], tuple[float, float, float, int, int]] = {}
    per_query: dict[str, dict[str, float]] = {}
    for target, launcher in targets:
        target.process = launcher(target)
        try:
            wait_until_up(target, "ASK { ?s ?p ?o }")
            measure(target, queries, 1, 2.0)  # warm-up
            for concurrency in (1, 4):
                latencies, errors, wall = measure(target, queries, concurrency, args.seconds)
                results[(target.name, concurrency)] = (
                    percentile(latencies, 50) * 1000,
                    percentile(latencies, 99) * 1000,
                    len(latencies) / wall,
                    len(latencies),
                    errors,
                )
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
            per_query[target.name] = {}
            for name, query in zip(named, queries, strict=True):
                times = []
                for _ in range(5 if target.name == "rdflib-endpoint" else 30):
                    t0 = time.perf_counter()
                    request(conn, target.path, query)
                    times.append(time.perf_counter() - t0)
                per_query[target.name][name] = statistics.median(times) * 1000
            conn.close()
        finally:
            stop(target.process)

    print(
        f"Named queries ({len(queries)}), build {build.info.id}, {build.info.triples} triples, "
        f"{args.seconds:g} s per server and concurrency, {os.cpu_count()} cores shared by servers and client\n"
    )
    print(f"{'server':26} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'requests':>9} {'errors':>6}")
    for (name, concurrency), (p50, p99, rps, n, errors) in results.items():
        print(f"{name:26} {concurrency:>4} {p50:>8.2f} {p99:>8.2f} {rps:>8.1f} {n:>9} {errors:>6}")
    print()
    for concurrency in (1, 4):
        mk = results[("makerkg", concurrency)]
        ox = results[("oxigraph serve-read-only", concurrency)]
        rd = results[("rdflib-endpoint", concurrency)]
        print(
            f"concurrency {concurrency}: median latency makerkg/oxigraph = {mk[0] / ox[0]:.2f} (goal ≤ 1.5); "
            f"throughput makerkg/oxigraph = {mk[2] / ox[2]:.2f} (goal ≥ 0.5); "
            f"makerkg/rdflib-endpoint = {mk[2] / rd[2]:.1f} (goal ≥ 10)"
        )
    print("\nmedian latency per query, ms (concurrency 1)")
    names = list(per_query)
    print(f"{'query':30} " + " ".join(f"{n[:18]:>18}" for n in names))
    for query in named:
        print(f"{query:30} " + " ".join(f"{per_query[n][query]:>18.2f}" for n in names))


if __name__ == "__main__":
    main()
