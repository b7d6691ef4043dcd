"""Serving from a remote store, measured: makerkg on its embedded engine, makerkg serving from Virtuoso (`makerkg load`,
then `makerkg serve --store`), and Oxigraph's server holding the build in memory (the anchor), on the same build,
in one run.

Per server: the time to load the build (Virtuoso: `makerkg load` over the Graph Store Protocol, then a checkpoint;
Oxigraph in memory: the build's graph.nq and union.nt posted to its store), each named query alone at concurrency 1
(median ms over --per-query seconds), the named queries every server answers round robin at concurrency 4 (p50, p99,
requests a second, over --seconds), and the memory of all its processes (PSS) after the measurements. Virtuoso
runs with a configuration of its own (tests/e2e/stores.py) on 127.0.0.1: --buffers pages of 8 KiB, no row cap
below makerkg's, a query stopped after 60 s, Virtuoso's own threads per query; both makerkg servers stop a query
after 60 s too, and otherwise run with their defaults.

Needs the bench extra (pip install -e '.[bench]'), Debian's virtuoso-opensource-7-bin and a build (makerkg build, or
makerkg synth then makerkg build --sources for a synthetic one). Only 127.0.0.1 is contacted.
Usage: python bench/remote.py [--out DIR] [--seconds 8] [--per-query 3] [--buffers 170000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from endpoint import Figures, Target, load_in_memory, measure, renewed, serve, start, stop, wait_until_up  # noqa: E402
from load import server_pss  # noqa: E402
from tests.e2e.stores import Limits, Store, start_virtuoso, virtuoso_installed  # noqa: E402

from makerkg.launch import free_port  # noqa: E402
from makerkg.queries import bind_parameters, bound_text, load_queries  # noqa: E402
from makerkg.store import current  # noqa: E402

EMBEDDED, REMOTE, ANCHOR = "makerkg (embedded)", "makerkg --store Virtuoso", "Oxigraph server (in memory)"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def load_virtuoso(store: Store, out: Path) -> None:
    """`makerkg load` into the Virtuoso, as an operator runs it (settings and password in the environment)."""
    environment = {**os.environ, **{f"MAKERKG_{k.upper()}": v for k, v in store.settings().items()}}
    command = [sys.executable, "-m", "makerkg.cli", "load", "--store", store.query, "--out", str(out)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"makerkg load: {done.stderr}")


def bare(query: str) -> str:
    """The query without its comment lines: a named query's header and notes would make some GET URLs longer than
    the 4 KiB request line the app server takes behind nginx (which answers 502 between 4 and 8 KiB, 414 above)."""
    return "\n".join(line for line in query.splitlines() if not line.lstrip().startswith("#"))


def fresh(query: str, n: int) -> str:
    """The query as a text never sent before, by a comment of its own: a LIMIT of its own, as bench/endpoint.py
    makes one, would have to stay under 10,000 with ORDER BY for Virtuoso (its MaxSortedTopRows)."""
    return f"{query}\n# request {n}"


def pss_mib(pid: int) -> float:
    return server_pss(pid) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--out", default="out", help="the build directory (default ./out)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of the concurrency 4 run per server")
    parser.add_argument("--per-query", type=float, default=3.0, help="seconds per named query at concurrency 1")
    parser.add_argument("--buffers", type=int, default=170_000, help="Virtuoso's NumberOfBuffers (8 KiB pages)")
    args = parser.parse_args()
    if not virtuoso_installed():
        raise SystemExit("Virtuoso is not installed (Debian's virtuoso-opensource-7-bin)")
    out = Path(args.out)
    build = current(out)
    base, editions = build.info.base, build.info.editions
    named = {n: bare(bound_text(q, bind_parameters(q, {}, base, editions=editions))) for n, q in load_queries().items()}
    serial = itertools.count()  # every request a text never sent before: makerkg's answer cache is not measured
    oxigraph = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or "oxigraph"
    load_seconds: dict[str, float] = {}
    memory: dict[str, float] = {}
    alone: dict[str, dict[str, Figures]] = {}
    mixed: dict[str, Figures] = {}
    work = Path(tempfile.mkdtemp(prefix="makerkg-remote-"))
    limits = Limits(buffers=args.buffers, max_rows=100_000, seconds=60, threads_per_query=None)
    (work / "virtuoso").mkdir()
    virtuoso = start_virtuoso(work / "virtuoso", limits)
    try:
        load_seconds["makerkg load into Virtuoso"] = timed(lambda: load_virtuoso(virtuoso, out))
        load_seconds["Virtuoso's checkpoint after it"] = timed(virtuoso.after_load)
        database_mib = sum(f.stat().st_size for f in (work / "virtuoso").glob("virtuoso*.db")) / 2**20
        targets = {
            EMBEDDED: Target(EMBEDDED, free_port(), "/sparql"),
            REMOTE: Target(REMOTE, free_port(), "/sparql"),
            ANCHOR: Target(ANCHOR, free_port(), "/query"),
        }
        # a minute per query for either makerkg, as for Virtuoso: the figures are times, not timeouts
        embedded = {"query_timeout": "60"}
        targets[EMBEDDED].process = serve(targets[EMBEDDED], out, embedded)
        remote = {**embedded, "store": virtuoso.query, "store_default_graph": virtuoso.default_graph or ""}
        targets[REMOTE].process = serve(targets[REMOTE], out, remote)
        targets[ANCHOR].process = start([oxigraph, "serve", "--bind", f"127.0.0.1:{targets[ANCHOR].port}"])
        try:
            for target in targets.values():
                wait_until_up(target)
            load_seconds["Oxigraph server in memory: POST graph.nq and union.nt"] = timed(
                lambda: load_in_memory(targets[ANCHOR], build.path)
            )
            for name, target in targets.items():
                alone[name] = {}
                for query_name, query in named.items():
                    alone[name][query_name] = measure(target, renewed([query], serial), 1, args.per_query)
            everywhere = [q for n, q in named.items() if all(alone[s][n].errors == 0 for s in targets)]
            for name, target in targets.items():
                mixed[name] = measure(
                    target, lambda i: fresh(everywhere[i % len(everywhere)], next(serial)), 4, args.seconds
                )
            memory = {name: pss_mib(t.process.pid) for name, t in targets.items() if t.process is not None}
            memory["Virtuoso"] = pss_mib(virtuoso.process.pid)
        finally:
            for target in targets.values():
                stop(target.process)
    finally:
        virtuoso.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"build {build.info.id}: {build.info.triples:,} triples, {len(build.info.quads_per_graph)} graphs; "
        f"{os.cpu_count()} cores shared by servers and clients; load average {os.getloadavg()[0]:.2f}\n"
    )
    for what, seconds in load_seconds.items():
        print(f"{what}: {seconds:.1f} s")
    print(f"Virtuoso's database files: {database_mib:.0f} MiB")
    print("memory after the run (PSS of every process): " + ", ".join(f"{k} {v:.0f} MiB" for k, v in memory.items()))
    names = list(targets)
    print("\n| named query (concurrency 1, median ms) | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for query_name in named:
        cells = []
        for name in names:
            f = alone[name][query_name]
            cells.append(f"{f.p50:.1f}" if f.errors == 0 else f"fails ({f.errors} of {f.requests})")
        print(f"| {query_name} | " + " | ".join(cells) + " |")
    ratios = [
        alone[REMOTE][q].p50 / alone[EMBEDDED][q].p50 for q in named if alone[REMOTE][q].errors == 0
    ]  # fmt: skip
    if ratios:
        spread = f"{min(ratios):.2f}–{max(ratios):.2f} (median {statistics.median(ratios):.2f})"
        print(f"\nVirtuoso ÷ embedded, per query: {spread}")
    print(f"\nconcurrency 4, the {len(everywhere)} named queries every server answers, round robin, {args.seconds:g} s")
    print("(here and above, every request a text never sent before: a comment of its own):\n")
    print("| server | p50 ms | p99 ms | requests/s | errors |")
    print("| --- | --- | --- | --- | --- |")
    for name, f in mixed.items():
        print(f"| {name} | {f.p50:.1f} | {f.p99:.1f} | {f.throughput:.2f} | {f.errors} |")


if __name__ == "__main__":
    main()
