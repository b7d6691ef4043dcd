"""Scale benchmark: the real plans and synthetic editions of ~100k and ~1M triples, in one run.

Per size: build (sources → validated, published graph) wall time, peak memory and stage times; store and dump
sizes; time from `makerkg serve` to its first answer; named-query latency (p50/p99) and throughput at concurrency 4
for makerkg, `oxigraph serve-read-only` and rdflib-endpoint on the same data, with ratios; and the embedded-store
choice: the named queries in process on pyoxigraph and on rdflib's memory store.

Needs the bench extra (pip install -e '.[bench]'). Only 127.0.0.1 is contacted.
Usage: python bench/scale.py [--sizes real,100k,1m] [--seconds 10] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from endpoint import Target, clients, percentile, serve, start, stop, wait_until_up  # noqa: E402

from makerkg import launch  # noqa: E402
from makerkg.launch import free_port  # noqa: E402
from makerkg.queries import bind_parameters, bound_text, load_queries  # noqa: E402
from makerkg.store import current  # noqa: E402

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
        targets = [
            (
                Target("makerkg", free_port(), "/sparql"),
                lambda t, out=out: serve(t, out),
            ),
            (
                Target("oxigraph serve-read-only", free_port(), "/query"),
                lambda t, out=out, build=build: start(
                    [oxigraph, "serve-read-only", "--location", str(build.store_dir), "--bind", f"127.0.0.1:{t.port}"]
                ),
            ),
            (
                Target("rdflib-endpoint", free_port(), "/"),
                lambda t, out=out, build=build: start(
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
        results = {}
        if not with_rdflib:
            targets = targets[:2]
        for target, launcher in targets:
            target.process = launcher(target)
            try:
                wait_until_up(target)
                per_query = {}
                for name, query in queries.items():
                    latencies, errors, _ = clients(target, lambda _, q=query: q, 1, min(args.seconds / 2, 5))
                    per_query[name] = statistics.median(latencies) * 1000
                texts = list(queries.values())
                latencies, errors, wall_time = clients(target, lambda i, t=texts: t[i % len(t)], 4, args.seconds)
                results[target.name] = (
                    percentile(latencies, 50) * 1000,
                    percentile(latencies, 99) * 1000,
                    len(latencies) / wall_time,
                    errors,
                    per_query,
                )
            except SystemExit as err:
                print(f"{target.name}: {err}")
            finally:
                stop(target.process)
        for name, (p50, p99, rps, errors, per_query) in results.items():
            print(f"{name:26} c=4 p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  {rps:7.1f} req/s  errors {errors}")
            print("    median ms per query (c=1): " + ", ".join(f"{k} {v:.1f}" for k, v in per_query.items()))
        if "makerkg" in results and "oxigraph serve-read-only" in results:
            mk, ox = results["makerkg"], results["oxigraph serve-read-only"]
            worst = max(mk[4][q] / ox[4][q] for q in queries)
            print(
                f"ratios: p50 makerkg/oxigraph {mk[0] / ox[0]:.2f}; per query worst {worst:.2f}; "
                f"throughput makerkg/oxigraph {mk[2] / ox[2]:.2f}"
                + (
                    f"; makerkg/rdflib-endpoint {mk[2] / results['rdflib-endpoint'][2]:.1f}"
                    if "rdflib-endpoint" in results
                    else ""
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
