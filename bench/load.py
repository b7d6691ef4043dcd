"""Load test: `makerkg serve` under a realistic mix at concurrency 16, alone and beside clients sending explosive
queries, which must get their 503 timeout answer while the cheap requests go on being served.

The mix: named queries (/api/queries/NAME, JSON and CSV), SPARQL SELECT in every result format (JSON, XML, CSV,
TSV), CONSTRUCT in every RDF format (Turtle, N-Triples, JSON-LD, RDF/XML), resource pages (HTML and Turtle) and
dumps. The explosive queries: a cross product, REGEX over every pair of literals, an unbounded property path
sorted. Two phases of --duration seconds each, the same cheap clients in both: without and with the explosive
clients. Prints requests served, errors by status, p50/p99 per kind, the explosive answers, the cheap throughput
of both phases and the share the second keeps (goal: at least 70 %), and the query workers' peak memory.

Starts the server itself on a free 127.0.0.1 port over a build (default ./out), with the server's default settings
(--query-timeout changes the one setting the figures depend on most). Nothing but 127.0.0.1 is contacted.
Usage: python bench/load.py [--out DIR] [--duration 120] [--concurrency 16] [--explosive 2] [--query-timeout S]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from makerkg import launch
from makerkg.launch import free_port
from makerkg.queries import load_queries
from makerkg.store import current

SELECT_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}
GRAPH_TYPES = {
    "turtle": "text/turtle",
    "n-triples": "application/n-triples",
    "json-ld": "application/ld+json",
    "rdf/xml": "application/rdf+xml",
}
SELECTS = [
    "PREFIX schema: <https://schema.org/> PREFIX mkg: <https://w3id.org/makerkg/ontology#> "
    "SELECT ?contest ?name ?place WHERE { ?contest mkg:contestKind mkg:ThematicContest ; schema:name ?name ; "
    "schema:location ?place }",
    "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY DESC(?n)",
    "PREFIX skos: <http://www.w3.org/2004/02/skos/core#> SELECT ?place ?label WHERE { ?place skos:prefLabel ?label "
    'FILTER(LANG(?label) = "en") } ORDER BY ?label LIMIT 50',
]
CONSTRUCTS = [
    "PREFIX schema: <https://schema.org/> PREFIX mkg: <https://w3id.org/makerkg/ontology#> "
    "CONSTRUCT { ?c schema:name ?n ; schema:location ?p } WHERE { ?c mkg:contestKind mkg:RegionalContest ; "
    "schema:superEvent/mkg:ordinal 11 ; schema:name ?n ; schema:location ?p }",
    "DESCRIBE <https://w3id.org/makerkg/org/miit-nisc>",
]
EXPLOSIVE = {
    "cross product": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
    "REGEX over literal pairs": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o . ?t ?q ?l FILTER(isLiteral(?o) && "
    'isLiteral(?l) && REGEX(CONCAT(STR(?o), STR(?l)), "^(.*a)*.*z$", "i")) }',
    "unbounded property path": "SELECT ?s ?o WHERE { ?s (<urn:p>|!<urn:p>)* ?o } ORDER BY ?o ?s",
}
DUMPS = ["makerkg.ttl.gz", "makerkg.nt.gz", "makerkg.jsonld", "makerkg.ttl"]
# the mix: kind and weight (of 100)
WEIGHTS = {
    "named query": 30,
    "SPARQL SELECT": 20,
    "SPARQL CONSTRUCT": 10,
    "page (HTML)": 20,
    "page (Turtle)": 15,
    "dump": 5,
}


@dataclass(frozen=True)
class Request:
    kind: str
    path: str
    accept: str


@dataclass
class Tally:
    """What the clients of one phase saw."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    messages: Counter[str] = field(default_factory=Counter)  # the first line of every answer of 500 and above
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, seconds: float, body: bytes) -> None:
        with self.lock:
            self.statuses[kind][status] += 1
            if status == 200 or kind.startswith("explosive"):  # for an explosive query, the time to its 503
                self.latencies[kind].append(seconds)
            if status >= 500 or status == 0:
                self.messages[
                    f"{status} {body.decode(errors='replace').splitlines()[0] if body else '(no answer)'}"
                ] += 1


def requests_for(out: Path) -> dict[str, list[Request]]:
    """Every request of the mix, by kind; the resource pages are the build's own IRIs, a sample of each kind."""
    mix: dict[str, list[Request]] = defaultdict(list)
    for query in load_queries().values():
        for fmt, accept in (("json", "application/json"), ("csv", "text/csv")):
            mix["named query"].append(Request("named query", f"/api/queries/{query.name}?format={fmt}", accept))
    for text in SELECTS:
        for accept in SELECT_TYPES.values():
            mix["SPARQL SELECT"].append(
                Request("SPARQL SELECT", "/sparql?" + urllib.parse.urlencode({"query": text}), accept)
            )
    for text in CONSTRUCTS:
        for accept in GRAPH_TYPES.values():
            path = "/sparql?" + urllib.parse.urlencode({"query": text})
            mix["SPARQL CONSTRUCT"].append(Request("SPARQL CONSTRUCT", path, accept))
    build = current(out)
    store = ox.Store.read_only(str(build.store_dir))  # the build's own store, read directly, to pick its pages
    base = build.info.base
    for prefix in ("edition/", "org/", "place/", "track/"):
        found = store.query(
            f'SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), "{base}{prefix}") '
            '&& !CONTAINS(STR(?s), "#")) } ORDER BY ?s LIMIT 25'
        )
        assert isinstance(found, ox.QuerySolutions)
        for solution in found:
            subject = solution["s"]
            assert isinstance(subject, ox.NamedNode)
            path = "/" + subject.value[len(base) :]
            mix["page (HTML)"].append(Request("page (HTML)", path, "text/html"))
            mix["page (Turtle)"].append(Request("page (Turtle)", path + ".ttl", "text/turtle"))
    del store
    for name in DUMPS:
        mix["dump"].append(Request("dump", f"/dumps/{name}", "*/*"))
    return mix


def get(conn: http.client.HTTPConnection, path: str, accept: str) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"Accept": accept, "Accept-Encoding": "identity"})
    response = conn.getresponse()
    return response.status, response.read()


def cheap_client(port: int, mix: dict[str, list[Request]], seed: int, stop: threading.Event, tally: Tally) -> None:
    """One keep-alive client sending the weighted mix until ``stop``; a failed connection is opened again."""
    chooser = random.Random(seed)
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while not stop.is_set():
        request = chooser.choice(mix[chooser.choices(kinds, weights)[0]])
        started = time.perf_counter()
        try:
            status, body = get(conn, request.path, request.accept)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            status, body = 0, b""
        tally.add(request.kind, status, time.perf_counter() - started, body)
    conn.close()


# texts of 90-98 kB, under max_request_bytes, that once tied up a web process's parser for a minute or crashed a
# query worker: the pre-check refuses the first two (400 naming the limit), the engine parses the last two
PARSE_BOMBS = {
    "parse bomb: a sum of 49,000 terms": "SELECT (" + "+".join(["1"] * 49_000) + " AS ?x) {}",
    "parse bomb: 5,000 nested parentheses": "SELECT (" + "(" * 5000 + "1" + ")" * 5000 + " AS ?x) {}",
    "parse bomb: CONCAT of 45,000": "SELECT * WHERE { BIND(CONCAT(" + ",".join(["1"] * 45_000) + ") AS ?x) }",
    "parse bomb: IN of 30,000": "SELECT * WHERE { FILTER(1 IN (" + ",".join(["2"] * 30_000) + ")) }",
}
# queries that would take gigabytes: each must end in a 503 at the memory limit (or the deadline)
MEMORY_BOMBS = {
    "memory bomb: a sorted cross product": "SELECT * { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f LIMIT 5",
    "memory bomb: a string doubled 30 times": 'SELECT ?x { BIND("aaaaaaaaaaaaaaaa" AS ?a0) '
    + " ".join(f"BIND(CONCAT(?a{n}, ?a{n}) AS ?a{n + 1})" for n in range(30))
    + " BIND(?a30 AS ?x) }",
}


def bomb_client(port: int, bombs: dict[str, str], offset: int, stop: threading.Event, tally: Tally) -> None:
    """Posts the ``bombs`` one after the other, as ``application/sparql-query``, until ``stop``; each answer is
    tallied under its bomb's name (with the distinct texts, the answer cache cannot help: a no-cache header)."""
    names = list(bombs)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    i = offset
    while not stop.is_set():
        name = names[i % len(names)]
        started = time.perf_counter()
        try:
            headers = {"Content-Type": "application/sparql-query", "Cache-Control": "no-cache"}
            conn.request("POST", "/sparql", body=bombs[name].encode(), headers=headers)
            response = conn.getresponse()
            status, body = response.status, response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            status, body = 0, b""
        tally.add(name, status, time.perf_counter() - started, body)
        i += 1
    conn.close()


def explosive_client(port: int, offset: int, stop: threading.Event, tally: Tally) -> None:
    """Sends explosive queries one after the other until ``stop``; each must be stopped at the deadline."""
    names = list(EXPLOSIVE)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    i = offset
    while not stop.is_set():
        name = names[i % len(names)]
        path = "/sparql?" + urllib.parse.urlencode({"query": EXPLOSIVE[name]})
        started = time.perf_counter()
        try:
            status, body = get(conn, path, "application/sparql-results+json")
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            status, body = 0, b""
        timed_out = status == 503 and b"(query_timeout)" in body
        tally.add(
            f"explosive: {name}" + ("" if timed_out else " (not stopped)"), status, time.perf_counter() - started, body
        )
        i += 1
    conn.close()


def query_workers_rss(server: int) -> int:
    """The summed resident memory (bytes) of the server's query processes, from /proc: the loaders started by
    multiprocessing's spawn, wherever they sit under makerkg serve, and the workers they fork (pages they share
    counted in each)."""
    return sum(_memory(pid, "VmRSS:", "status") for pid in descendants(server) if _is_query_worker(pid))


def server_pss(server: int) -> int:
    """The proportional set size (bytes) of every process of the server (makerkg serve, nginx, granian, the query
    workers): memory shared between processes counted once, in shares. The query workers are untraceable, so that
    only root reads theirs: run as another user, the bench stops rather than print a sum without them."""
    processes = [server, *descendants(server)]
    for pid in processes:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb"):
                pass
        except PermissionError:
            raise SystemExit(f"cannot read the memory of process {pid} (a query worker?): run as root") from None
        except OSError:  # ended meanwhile
            continue
    return sum(_memory(pid, "Pss:", "smaps_rollup") for pid in processes)


def descendants(pid: int) -> list[int]:
    found, pending = [], children(pid)
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(children(child))
    return found


def _is_query_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmd:
            return b"spawn_main" in cmd.read()
    except OSError:
        return False


def _memory(pid: int, field: str, source: str) -> int:
    try:
        with open(f"/proc/{pid}/{source}", encoding="ascii") as lines:
            return next((int(line.split()[1]) * 1024 for line in lines if line.startswith(field)), 0)
    except OSError:
        return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listing:
                found.extend(int(p) for p in listing.read().split())
    except OSError:
        return []
    return found


@dataclass
class Phase:
    name: str
    seconds: float
    tally: Tally
    peak_rss: int
    peak_pss: int = 0

    def cheap_served(self) -> int:
        return sum(self.tally.statuses[k][200] for k in WEIGHTS)

    def throughput(self) -> float:
        return self.cheap_served() / self.seconds


def run_phase(
    name: str,
    port: int,
    server: int,
    mix: dict[str, list[Request]],
    args: argparse.Namespace,
    explosive: int,
    parse_bombs: int = 0,
    memory_bombs: int = 0,
) -> Phase:
    tally = Tally()
    stop = threading.Event()
    threads = [
        threading.Thread(target=cheap_client, args=(port, mix, n, stop, tally), daemon=True)
        for n in range(args.concurrency)
    ]
    threads += [
        threading.Thread(target=explosive_client, args=(port, n, stop, tally), daemon=True) for n in range(explosive)
    ]
    threads += [
        threading.Thread(target=bomb_client, args=(port, PARSE_BOMBS, n, stop, tally), daemon=True)
        for n in range(parse_bombs)
    ]
    threads += [
        threading.Thread(target=bomb_client, args=(port, MEMORY_BOMBS, n, stop, tally), daemon=True)
        for n in range(memory_bombs)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    peak = peak_pss = 0
    while time.monotonic() - started < args.duration:
        peak = max(peak, query_workers_rss(server))
        peak_pss = max(peak_pss, server_pss(server))
        time.sleep(0.5)
    stop.set()
    elapsed = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=args.query_timeout_seen + 120)
    return Phase(name, elapsed, tally, peak, peak_pss)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(phases: list[Phase]) -> str:
    lines = []
    for phase in phases:
        lines.append(f"\n### {phase.name}: {phase.seconds:.0f} s\n")
        lines.append("| kind | served (200) | other answers | p50 ms | p99 ms |")  # explosive: time to the 503
        lines.append("| --- | --- | --- | --- | --- |")
        for kind in sorted(phase.tally.statuses, key=lambda k: (k not in WEIGHTS, k)):
            statuses = phase.tally.statuses[kind]
            others = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()) if s != 200) or "-"
            latencies = phase.tally.latencies[kind]
            p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
            lines.append(f"| {kind} | {statuses[200]} | {others} | {p50:.1f} | {p99:.1f} |")
        served = sum(sum(c.values()) for c in phase.tally.statuses.values())
        lines.append(
            f"\nrequests answered: {served}; cheap requests served: {phase.cheap_served()} "
            f"({phase.throughput():.1f}/s); query workers' peak RSS: {phase.peak_rss / 2**20:.0f} MiB; "
            f"the whole server's peak PSS: {phase.peak_pss / 2**20:.0f} MiB"
        )
        for message, count in phase.tally.messages.most_common():
            lines.append(f"- {count} × {message[:160]}")
    if len(phases) >= 2 and phases[0].throughput():
        for phase in phases[1:]:
            kept = phase.throughput() / phases[0].throughput()
            lines.append(
                f"\ncheap throughput: {phases[0].throughput():.1f}/s alone, {phase.throughput():.1f}/s {phase.name}: "
                f"{kept:.0%} kept (goal ≥ 70 %)"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out"), help="the build to serve (default ./out)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per phase (default 120)")
    parser.add_argument("--concurrency", type=int, default=16, help="cheap clients (default 16)")
    parser.add_argument("--explosive", type=int, default=2, help="clients sending explosive queries (default 2)")
    parser.add_argument("--query-timeout", type=float, help="the server's query_timeout (default: its own, 10 s)")
    parser.add_argument("--parse-bombs", type=int, default=0, help="a further phase beside this many parse bombs…")
    parser.add_argument("--memory-bombs", type=int, default=0, help="… and this many memory bombs")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of cheap load before measuring")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.query_timeout_seen = args.query_timeout or 10.0
    out = args.out.resolve()
    mix = requests_for(out)
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="makerkg-load-")) / "serve.log"
    print(
        f"serving {current(out).info.id} on 127.0.0.1:{port} (log {log}); concurrency {args.concurrency}, "
        f"{args.explosive} explosive clients, {args.duration:g} s a phase, query_timeout "
        f"{args.query_timeout if args.query_timeout else 'default'}; load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    settings = {"query_timeout": str(args.query_timeout)} if args.query_timeout is not None else {}
    with launch.start(out, log, settings, port=port, within=120, poll=0.3) as server:
        process = server.process
        warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
        run_phase("warm-up", port, process.pid, mix, warm, 0)
        phases = [
            run_phase("cheap clients alone", port, process.pid, mix, args, 0),
            run_phase(f"beside {args.explosive} explosive clients", port, process.pid, mix, args, args.explosive),
        ]
        if args.parse_bombs or args.memory_bombs:
            name = f"beside {args.parse_bombs} parse-bomb and {args.memory_bombs} memory-bomb clients"
            phases.append(run_phase(name, port, process.pid, mix, args, 0, args.parse_bombs, args.memory_bombs))
    logged = log.read_text(encoding="utf-8", errors="replace")
    text = report(phases)
    text += (
        f"\n\nserver log: {logged.count('unexpected error on')} unexpected errors, "
        f"{logged.count('query stopped after')} queries stopped at the deadline"
    )
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "phase": p.name,
                        "seconds": p.seconds,
                        "cheap_per_second": p.throughput(),
                        "statuses": {k: dict(v) for k, v in p.tally.statuses.items()},
                        "p50_ms": {k: percentile(v, 0.5) * 1000 for k, v in p.tally.latencies.items()},
                        "p99_ms": {k: percentile(v, 0.99) * 1000 for k, v in p.tally.latencies.items()},
                        "query_workers_peak_rss": p.peak_rss,
                        "server_peak_pss": p.peak_pss,
                    }
                    for p in phases
                ],
                indent=2,
            ),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
