"""Scale benchmark: the real plans and synthetic editions of ~100k and ~1M triples, in one run.

Per size: build (sources → validated, published graph) wall time, peak memory and stage times; store and dump
sizes; time from `makerkg serve` to its first answer; the named queries round robin at concurrency 4 (p50, p99,
throughput) and each alone at concurrency 1, for makerkg (at each `--engines` setting; with the proportional set size
of all its processes), Oxigraph's server holding the graph in memory (the anchor), `oxigraph serve-read-only` on the
build's store and rdflib-endpoint, with makerkg's ratios to the anchor; and the embedded-store choice: the named
queries in process on pyoxigraph and on rdflib's memory store.

Needs the bench extra (pip install -e '.[bench]'). Only 127.0.0.1 is contacted.
Usage: python bench/scale.py [--sizes real,100k,1m] [--seconds 10] [--work DIR] [--engines auto,memory]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from endpoint import Figures, Target, fresh, load_in_memory, measure, serve, start, stop, wait_until_up  # noqa: E402
from load import server_pss  # noqa: E402

from makerkg import launch  # noqa: E402
from makerkg.launch import free_port  # noqa: E402
from makerkg.queries import bind_parameters, bound_text, load_queries  # noqa: E402
from makerkg.store import Build, current  # noqa: E402
from makerkg.store.worker import RETIRE_IDLE  # noqa: E402

SIZES = {"real": 0, "100k": 60, "1m": 600}  # synthetic editions (~1,650 triples each)
BUILD = """
import json, sys, time
from pathlib import Path
from makerkg.config import load
from makerkg.pipeline import build
result = build(load(out=Path(sys.argv[1]), sources=Path(sys.argv[2]) if sys.argv[2] else None))
print(json.dumps({**result.timings, "triples": result.build.info.triples}))
"""
IN_PROCESS = """
import json, sys, time, statistics
from pathlib import Path
engine, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
queries = json.loads(sys.stdin.read())
t0 = time.perf_counter()
if engine == "pyoxigraph":
    import pyoxigraph as ox
    store = ox.Store.read_only(path)
    run = lambda q: len(list(store.query(q)))
else:
    from rdflib import Dataset
    ds = Dataset(default_union=True)
    ds.parse(path, format="nquads")
    run = lambda q: len(list(ds.query(q)))
load = time.perf_counter() - t0
out = {"load": load}
for name, q in queries.items():
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 and time.perf_counter() < deadline:
        t = time.perf_counter(); run(q); times.append(time.perf_counter() - t)
    out[name] = statistics.median(times)
    print(json.dumps(out), flush=True)
"""


def timed(cmd: list[str], stdin: str | None = None, timeout: float | None = None) -> tuple[float, int, str]:
    """Wall time, peak RSS (bytes) and standard output of a command."""
    start_time = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE, text=True)
    if stdin:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    output = ""
    assert proc.stdout is not None
    deadline = time.monotonic() + (timeout or 1e9)
    for line in proc.stdout:
        output = line
        if time.monotonic() > deadline:
            proc.kill()
            break
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stdout.close()
    return time.perf_counter() - start_time, usage.ru_maxrss * 1024, output


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def first_answer(out: Path) -> float:
    """Seconds from starting `makerkg serve` to its first answer to a query."""
    with launch.start(out, within=180, poll=0.01) as server:
        return server.first_answer


ANCHOR = "oxigraph serve (in memory)"


@dataclass
class Served:
    """One server's figures at one size."""

    mix: Figures  # the named queries round robin at concurrency 4, the same texts again and again
    fresh_mix: Figures  # the same, each text one the server has not seen (a LIMIT of its own)
    per_query: dict[str, float] = field(default_factory=dict)  # median ms of each named query alone, concurrency 1,
    # each time a text the server has not seen
    pss: int = 0  # bytes, every process of the server, at rest after the runs (makerkg only)
    peak_pss: int = 0  # bytes, the most sampled (once a second) during the runs


def renewed(query: str) -> Callable[[int], str]:
    """The query as a text never sent before, each time (no answer cache can help)."""
    serial = itertools.count()
    return lambda _: fresh(query, next(serial))


def renewed_round_robin(texts: list[str]) -> Callable[[int], str]:
    """The texts round robin, each time as a text never sent before."""
    serial = itertools.count()
    return lambda i: fresh(texts[i % len(texts)], next(serial))


def serve_and_measure(
    args: argparse.Namespace,
    out: Path,
    build: Build,
    queries: dict[str, str],
    with_rdflib: bool,
    oxigraph: str,
    rdflib_endpoint: str,
) -> dict[str, Served]:
    """makerkg (at each ``--engines`` setting), Oxigraph's server in memory (the anchor) and on the build's store,
    and rdflib-endpoint, one after the other on the same build."""

    def makerkg(engine: str) -> Callable[[Target], subprocess.Popen[bytes]]:
        return lambda t: serve(t, out, {"engine": engine})

    servers: list[tuple[Target, Callable[[Target], subprocess.Popen[bytes]], Callable[[Target], None] | None]] = [
        (Target(f"makerkg (engine={engine})", free_port(), "/sparql"), makerkg(engine), None)
        for engine in args.engines.split(",")
    ]
    servers.append(
        (
            Target(ANCHOR, free_port(), "/query"),
            lambda t: start([oxigraph, "serve", "--bind", f"127.0.0.1:{t.port}"]),
            lambda t: load_in_memory(t, build.path),
        )
    )
    servers.append(
        (
            Target("oxigraph serve-read-only (disk)", free_port(), "/query"),
            lambda t: start(
                [oxigraph, "serve-read-only", "--location", str(build.store_dir), "--bind", f"127.0.0.1:{t.port}"]
            ),
            None,
        )
    )
    if with_rdflib:
        dump = str(build.path / "dumps" / "makerkg.nt")
        servers.append(
            (
                Target("rdflib-endpoint", free_port(), "/"),
                lambda t: start([rdflib_endpoint, "serve", "--host", "127.0.0.1", "--port", str(t.port), dump]),
                None,
            )
        )
    texts = list(queries.values())
    results: dict[str, Served] = {}
    for target, launcher, prepare in servers:
        target.process = launcher(target)
        try:
            wait_until_up(target)
            if prepare is not None:
                prepare(target)
            sampler = _PeakPss(target.process.pid if target.name.startswith("makerkg") else None)
            repeated = measure(target, lambda i: texts[i % len(texts)], 4, args.seconds)
            served = Served(repeated, measure(target, renewed_round_robin(texts), 4, args.seconds))
            for name, query in queries.items():
                served.per_query[name] = measure(target, renewed(query), 1, min(args.seconds / 2, 5)).p50
            served.peak_pss = sampler.stop()
            if sampler.pid is not None:
                time.sleep(RETIRE_IDLE + 1)  # at rest: idle workers holding copied pages are replaced meanwhile
                served.pss = server_pss(sampler.pid)
            results[target.name] = served
        except SystemExit as err:
            print(f"{target.name}: {err}")
        finally:
            stop(target.process)
    return results


class _PeakPss:
    """The largest PSS of a server's processes, sampled once a second in a thread (nothing when ``pid`` is None)."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak = pid, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        if pid is not None:
            self._thread.start()

    def _sample(self) -> None:
        assert self.pid is not None  # noqa: S101 - started only with one
        while not self._done.wait(1.0):
            self.peak = max(self.peak, server_pss(self.pid))

    def stop(self) -> int:
        self._done.set()
        if self.pid is not None:
            self._thread.join()
        return self.peak


def report(results: dict[str, Served], queries: dict[str, str]) -> None:
    for name, served in results.items():
        mix = served.mix
        memory = (
            f"  PSS of all its processes {served.pss / 2**20:.0f} MiB at rest after the runs, "
            f"{served.peak_pss / 2**20:.0f} MiB at most during them"
            if served.pss
            else ""
        )
        for mode, figures in (("repeated", mix), ("fresh", served.fresh_mix)):
            print(
                f"{name:34} c=4 {mode:8} p50 {figures.p50:8.2f} ms  p99 {figures.p99:8.2f} ms  "
                f"{figures.throughput:7.1f} req/s  errors {figures.errors}"
            )
        if memory:
            print("   " + memory)
        print("    median ms per query (c=1): " + ", ".join(f"{k} {v:.1f}" for k, v in served.per_query.items()))
    anchor = results.get(ANCHOR)
    if anchor is None:
        return
    rdflib = results.get("rdflib-endpoint")
    for name, served in results.items():
        if not name.startswith("makerkg"):
            continue
        ratios = {q: served.per_query[q] / anchor.per_query[q] for q in queries}
        worst = max(ratios, key=lambda q: ratios[q])
        print(
            f"{name} ÷ Oxigraph in memory, c=4: repeated p50 {served.mix.p50 / anchor.mix.p50:.2f}, throughput "
            f"{served.mix.throughput / anchor.mix.throughput:.2f}; fresh p50 "
            f"{served.fresh_mix.p50 / anchor.fresh_mix.p50:.2f}, throughput "
            f"{served.fresh_mix.throughput / anchor.fresh_mix.throughput:.2f}; each query alone, fresh (c=1): "
            f"worst {worst} "
            f"{ratios[worst]:.2f}, over 1.5: {sum(r > 1.5 for r in ratios.values())} of {len(ratios)}"
            + (f"; throughput ÷ rdflib-endpoint {served.mix.throughput / rdflib.mix.throughput:.1f}" if rdflib else ""),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="real,100k,1m")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--work", default=None, help="a directory for sources and builds (default: a temporary one)")
    parser.add_argument(
        "--no-rdflib-above",
        type=int,
        default=10**9,
        metavar="TRIPLES",
        help="skip the rdflib store and rdflib-endpoint for builds larger than this",
    )
    parser.add_argument(
        "--engines",
        default="auto",
        help="makerkg's engine settings to serve with, comma-separated: auto, memory, disk (default auto)",
    )
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="makerkg-scale-"))
    bin_dir = Path(sys.executable).parent
    oxigraph = shutil.which("oxigraph", path=str(bin_dir)) or "oxigraph"
    rdflib_endpoint = shutil.which("rdflib-endpoint", path=str(bin_dir)) or "rdflib-endpoint"
    named = load_queries()
    for size in args.sizes.split(","):
        editions = SIZES[size]
        sources = ""
        if editions:
            sources = str(work / f"sources-{size}")
            if not Path(sources).exists():
                subprocess.run(
                    [sys.executable, "-m", "makerkg.cli", "synth", "--editions", str(editions), "--out", sources],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
        out = work / f"out-{size}"
        shutil.rmtree(out, ignore_errors=True)
        wall, rss, output = timed([sys.executable, "-c", BUILD, str(out), sources])
        stages = json.loads(output)
        build = current(out)
        print(f"\n== {size}: {stages['triples']:,} triples ({editions or 2} editions)", flush=True)
        print(
            f"build {wall:.1f} s, peak RSS {rss / 2**20:.0f} MiB; stages: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items() if k != "triples")
        )
        store_mib, dumps_mib = size_of(build.store_dir) / 2**20, size_of(build.path / "dumps") / 2**20
        print(
            f"store on disk {store_mib:.1f} MiB; dumps {dumps_mib:.1f} MiB; "
            f"time to first answer {statistics.median(first_answer(out) for _ in range(5)):.2f} s (median of 5)",
            flush=True,
        )
        base, ordinals = build.info.base, build.info.editions
        queries = {name: bound_text(q, bind_parameters(q, {}, base, editions=ordinals)) for name, q in named.items()}
        with_rdflib = build.info.triples <= args.no_rdflib_above
        engines = [("pyoxigraph", str(build.store_dir))] + (
            [("rdflib memory", str(build.graph_file))] if with_rdflib else []
        )
        for engine, path in engines:
            _, engine_rss, result = timed(
                [sys.executable, "-c", IN_PROCESS, engine.split()[0], path, "60"],
                stdin=json.dumps(queries),
                timeout=900,
            )
            figures = json.loads(result) if result else {}
            load = figures.pop("load", float("nan"))
            print(
                f"in process, {engine}: load {load:.1f} s, RSS {engine_rss / 2**20:.0f} MiB; median ms per query: "
                + ", ".join(f"{k} {v * 1000:.1f}" for k, v in figures.items())
                + ("" if len(figures) == len(queries) else f" (stopped after {len(figures)} of {len(queries)})"),
                flush=True,
            )
        results = serve_and_measure(args, out, build, queries, with_rdflib, oxigraph, rdflib_endpoint)
        report(results, queries)


if __name__ == "__main__":
    main()
