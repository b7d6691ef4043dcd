"""Endpoint benchmark: makerkg against Oxigraph's own server holding the same graph in memory (the anchor), Oxigraph's
server on the build's on-disk store, and rdflib-endpoint, in one run, on the same data (the current build).

Two sets of queries: the named queries, and ad-hoc queries written for this graph without looking at what makerkg
is fast at (a lookup by name, counts per edition and kind, lead hosts per region, contests within a province
through the place hierarchy, organizations in both editions, a CONSTRUCT of one organization). Two modes:
*repeated*, the same texts round robin (what a per-build answer cache sees), and *fresh*, every request a text the
server has never seen (each query with a LIMIT of its own). Keep-alive clients at concurrency 1 and 4. Prints p50
and p99 latency and throughput per server, mode and concurrency, and makerkg's ratios to the anchor; then the
time from `makerkg serve` to its first answer.

Needs the bench extra (pip install -e '.[bench]') and a build (makerkg build). Only 127.0.0.1 is contacted.
Usage: python bench/endpoint.py [--out DIR] [--seconds 8] [--skip rdflib-endpoint] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from makerkg import launch
from makerkg.launch import free_port
from makerkg.queries import bind_parameters, bound_text, load_queries
from makerkg.store import current

ACCEPT = {"select": "application/sparql-results+json", "graph": "application/n-triples"}
PREFIXES = """PREFIX schema: <https://schema.org/>
PREFIX mkg: <https://w3id.org/makerkg/ontology#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX org: <http://www.w3.org/ns/org#>
"""
# written for this graph from docs/model.md, as a user would: not tuned for either server
AD_HOC = {
    "lookup by name": PREFIXES + 'SELECT ?org WHERE { ?org a org:Organization ; skos:prefLabel "工业和信息化部"@zh }',
    "contests per edition and kind": PREFIXES
    + "SELECT ?n ?kind (COUNT(?c) AS ?contests) WHERE { ?c schema:superEvent ?e ; mkg:contestKind ?kind . "
    "?e mkg:ordinal ?n } GROUP BY ?n ?kind ORDER BY ?n ?kind",
    "lead hosts per region": PREFIXES
    + "SELECT ?region ?name ?lead WHERE { ?c mkg:contestKind mkg:RegionalContest ; schema:location ?region ; "
    "mkg:leadOrganizer ?org . ?org skos:prefLabel ?lead . ?region skos:prefLabel ?name "
    "FILTER(lang(?name) = 'zh' && lang(?lead) = 'zh') } ORDER BY ?region",
    "contests within Zhejiang": PREFIXES
    + "SELECT ?c ?name WHERE { ?c schema:location/schema:containedInPlace* <https://w3id.org/makerkg/place/330000> ; "
    "schema:name ?name } ORDER BY ?name",
    "organizations in both editions": PREFIXES
    + "SELECT DISTINCT ?org WHERE { ?c1 schema:superEvent/mkg:ordinal 8 ; prov:qualifiedAssociation/prov:agent ?org . "
    "?c2 schema:superEvent/mkg:ordinal 11 ; prov:qualifiedAssociation/prov:agent ?org } ORDER BY ?org",
    "an organization's graph": PREFIXES
    + "CONSTRUCT { <https://w3id.org/makerkg/org/miit> ?p ?o } WHERE { <https://w3id.org/makerkg/org/miit> ?p ?o }",
}
_LIMIT = re.compile(r"LIMIT\s+\d+\s*$", re.IGNORECASE)


@dataclass
class Target:
    name: str
    port: int
    path: str  # the query endpoint's path
    process: subprocess.Popen[bytes] | None = None


@dataclass(frozen=True)
class Figures:
    p50: float  # ms
    p99: float
    throughput: float  # requests a second
    requests: int
    errors: int


def kind(query: str) -> str:
    return "graph" if re.search(r"\b(CONSTRUCT|DESCRIBE)\b", query) else "select"


def fresh(query: str, n: int) -> str:
    """The query as a text never sent before: with a LIMIT of its own (larger than any answer here)."""
    limit = f"LIMIT {1_000_000 + n}"
    return _LIMIT.sub(limit, query) if _LIMIT.search(query) else f"{query}\n{limit}"


def round_robin(queries: list[str]) -> Callable[[int], str]:
    """The queries in turn, the same texts again and again."""
    return lambda i: queries[i % len(queries)]


def renewed(queries: list[str], serial: Iterator[int]) -> Callable[[int], str]:
    """The queries in turn, each time as a text never sent before (numbered by ``serial``)."""
    return lambda i: fresh(queries[i % len(queries)], next(serial))


def request(conn: http.client.HTTPConnection, path: str, query: str) -> int:
    target = f"{path}?{urllib.parse.urlencode({'query': query})}"
    conn.request("GET", target, headers={"Accept": ACCEPT[kind(query)]})
    response = conn.getresponse()
    response.read()
    return response.status


def wait_until_up(target: Target, timeout: float = 180) -> float:
    """Seconds until the target answers a query."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if target.process is not None and target.process.poll() is not None:
            raise SystemExit(f"{target.name} exited with {target.process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=5)
            if request(conn, target.path, "ASK { ?s ?p ?o }") == 200:
                return time.monotonic() - started
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    raise SystemExit(f"{target.name} did not come up")


def measure(target: Target, texts: Callable[[int], str], concurrency: int, seconds: float) -> Figures:
    """``concurrency`` keep-alive clients sending ``texts(i)`` for i = 0, 1, 2 … (shared) for ``seconds``."""
    latencies, errors, wall = clients(target, texts, concurrency, seconds)
    return Figures(percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, len(latencies) / wall,
                   len(latencies), errors)  # fmt: skip


def clients(
    target: Target, texts: Callable[[int], str], concurrency: int, seconds: float
) -> tuple[list[float], int, float]:
    """As ``measure``: every request's seconds, the answers other than 200, and the seconds it all took."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = itertools.count()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop_at:
            query = texts(next(counter))
            start = time.perf_counter()
            try:
                status = request(conn, target.path, query)
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
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.monotonic() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Another server than makerkg (Oxigraph's, rdflib-endpoint, nginx, gunicorn), in a session of its own."""
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def serve(target: Target, out: str | Path, settings: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`makerkg serve` on the target's port, once it answers (makerkg.launch, as the end-to-end tests start it)."""
    return launch.start(Path(out), None, settings, port=target.port, within=180).process


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        launch.terminate(process, 30)


def load_in_memory(target: Target, build_path: Path) -> None:
    """Give Oxigraph's in-memory server the build: every named graph, and the merge as the default graph."""
    for path, media, params in (
        (build_path / "graph.nq", "application/n-quads", ""),
        (build_path / "union.nt", "application/n-triples", "?default"),
    ):
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=600)
        conn.request("POST", f"/store{params}", body=path.read_bytes(), headers={"Content-Type": media})
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 201, 204):
            raise SystemExit(f"loading {path.name} into {target.name}: {response.status}")


@dataclass
class Server:
    target: Target
    launch: Callable[[Target], subprocess.Popen[bytes]]
    prepare: Callable[[Target], None] | None = None


def running(server: Server) -> Iterator[Target]:
    server.target.process = server.launch(server.target)
    try:
        wait_until_up(server.target)
        if server.prepare is not None:
            server.prepare(server.target)
        yield server.target
    finally:
        stop(server.target.process)


def first_answer(out: str, tries: int = 3) -> list[float]:
    """Seconds from starting `makerkg serve` to its first answer to a query, ``tries`` times."""
    found = []
    for _ in range(tries):
        with launch.start(Path(out), within=180, poll=0.01) as server:
            found.append(server.first_answer)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--out", default="out", help="the build directory (default ./out)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per server, mode and concurrency")
    parser.add_argument("--skip", action="append", default=[], help="a server to leave out (by name)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    build = current(Path(args.out))
    base, editions = build.info.base, build.info.editions
    named = {n: bound_text(q, bind_parameters(q, {}, base, editions=editions)) for n, q in load_queries().items()}
    sets = {"named queries": list(named.values()), "ad-hoc queries": list(AD_HOC.values())}
    bin_dir = Path(sys.executable).parent
    oxigraph = shutil.which("oxigraph", path=str(bin_dir)) or "oxigraph"
    rdflib_endpoint = shutil.which("rdflib-endpoint", path=str(bin_dir)) or "rdflib-endpoint"
    anchor = "oxigraph serve (in memory)"
    servers = [
        Server(Target("makerkg", free_port(), "/sparql"), lambda t: serve(t, args.out)),
        Server(
            Target(anchor, free_port(), "/query"),
            lambda t: start([oxigraph, "serve", "--bind", f"127.0.0.1:{t.port}"]),
            lambda t: load_in_memory(t, build.path),
        ),
        Server(
            Target("oxigraph serve-read-only (disk)", free_port(), "/query"),
            lambda t: start(
                [oxigraph, "serve-read-only", "--location", str(build.store_dir), "--bind", f"127.0.0.1:{t.port}"]
            ),  # fmt: skip
        ),
        Server(
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
            ),  # fmt: skip
        ),
    ]
    results: dict[tuple[str, str, str, int], Figures] = {}
    serial = itertools.count()  # fresh texts never repeat, whatever server or set
    for server in servers:
        if server.target.name in args.skip:
            continue
        for target in running(server):
            slow = target.name == "rdflib-endpoint"
            for set_name, queries in sets.items():
                measure(target, round_robin(queries), 1, 1.0)  # warm-up
                for mode in ("repeated", "fresh"):
                    for concurrency in (1, 4):
                        texts = round_robin(queries) if mode == "repeated" else renewed(queries, serial)
                        seconds = args.seconds if not slow else min(args.seconds, 5.0)
                        results[(target.name, set_name, mode, concurrency)] = measure(target, texts, concurrency,
                                                                                      seconds)  # fmt: skip
    starts = first_answer(args.out)

    print(
        f"build {build.info.id}: {build.info.triples} triples; {args.seconds:g} s per server, set, mode and "
        f"concurrency; {os.cpu_count()} cores shared by servers and clients; load average before "
        f"{os.getloadavg()[0]:.2f}\n"
    )
    print("| server | queries | mode | c | p50 ms | p99 ms | req/s | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (name, set_name, mode, c), f in results.items():
        print(f"| {name} | {set_name} | {mode} | {c} | {f.p50:.2f} | {f.p99:.2f} | {f.throughput:.1f} | {f.errors} |")
    print("\nmakerkg against Oxigraph's server in memory (p50 ratio: lower is better; throughput ratio: higher):\n")
    print("| queries | mode | c | p50 ratio | throughput ratio | goal |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (name, set_name, mode, c), f in results.items():
        reference = results.get((anchor, set_name, mode, c))
        if name != "makerkg" or reference is None:
            continue
        goal = "p50 ≤ 2, throughput ≥ 0.6" if mode == "fresh" else "p50 ≤ 1.5, throughput ≥ 1"
        print(f"| {set_name} | {mode} | {c} | {f.p50 / reference.p50:.2f} | "
              f"{f.throughput / reference.throughput:.2f} | {goal} |")  # fmt: skip
    print(f"\ntime from `makerkg serve` to its first answer: {', '.join(f'{s:.2f}' for s in starts)} s "
          f"(median {statistics.median(starts):.2f} s; goal < 1 s)")  # fmt: skip
    if args.json:
        document = {"|".join(map(str, k)): asdict(v) for k, v in results.items()}
        args.json.write_text(json.dumps({"results": document, "first_answer": starts}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
