"""Which server should `makerkg serve` run? Candidates measured on the same build, one after the other:

- gunicorn gthread: what `makerkg serve` ran before (2 workers of 8 threads, its settings then);
- granian: the Rust HTTP server, alone (`makerkg serve --proxy none`);
- nginx → gunicorn gthread: gunicorn on a Unix socket behind nginx, with the configuration `makerkg serve` writes;
- nginx → granian: `makerkg serve` as it is now.

All of them run at once. The ordinary throughput (the ten named queries round-robin over keep-alive connections, as
bench/endpoint.py) at concurrency 1 and 4 is measured in four short turns per candidate, taken in turn with the
others. Then, one candidate after the other, the throughput at concurrency 4 alone and beside 40 slow-header and 200
idle connections, and alone and beside 40 slow-body connections (bench/slowclients.py: alternating in three rounds),
and the share kept (goal ≥ 90 %).
Needs the bench extra (gunicorn), Debian's nginx for the nginx candidates, and a build. Only 127.0.0.1 is contacted.
Usage: python bench/servers.py [--out DIR] [--seconds 10] [--only NAME]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from endpoint import Target, start, stop, wait_until_up
from slowclients import HOST, Attack, Throughput, compare, named_queries, ordinary

from makerkg import launch
from makerkg.config import environ, load
from makerkg.launch import free_port
from makerkg.web.server import find_nginx, nginx_config

GUNICORN_OPTIONS = [  # makerkg serve's gunicorn settings before granian replaced it
    "--worker-class",
    "gthread",
    "--workers",
    "2",
    "--threads",
    "8",
    "--timeout",
    "40",
    "--graceful-timeout",
    "15",
    "--no-control-socket",
    "--limit-request-line",
    "8190",
    "--limit-request-fields",
    "100",
]


def makerkg_serve(proxy: str) -> Callable[[int, Path, Path], list[subprocess.Popen[bytes]]]:
    def serve(port: int, out: Path, _: Path) -> list[subprocess.Popen[bytes]]:
        return [launch.start(out, None, {"proxy": proxy}, port=port, within=180).process]

    return serve


def gunicorn(port: int, out: Path, _: Path) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "gunicorn", *GUNICORN_OPTIONS, "--bind", f"{HOST}:{port}"]
    return [start([*command, "makerkg.web.wsgi:application()"], {"MAKERKG_OUT": str(out)})]


def nginx_gunicorn(port: int, out: Path, run: Path) -> list[subprocess.Popen[bytes]]:
    nginx = find_nginx()
    if nginx is None:
        raise SystemExit("nginx is not installed")
    settings = load(env={}, out=out, host=HOST, port=port)
    socket_path = run / "app.sock"
    # gunicorn's app trusts nginx's X-Forwarded-* entries, as makerkg serve's own does
    env = environ(replace(settings, trusted_proxies=1))
    command = [sys.executable, "-m", "gunicorn", *GUNICORN_OPTIONS, "--bind", f"unix:{socket_path}"]
    app = start([*command, "makerkg.web.wsgi:application()"], env)
    conf = run / "nginx.conf"
    conf.write_text(nginx_config(settings, run, f"unix:{socket_path}"), encoding="utf-8")
    front = start([nginx, "-p", str(run), "-c", str(conf), "-e", "stderr"])
    return [front, app]


CANDIDATES: dict[str, Callable[[int, Path, Path], list[subprocess.Popen[bytes]]]] = {
    "gunicorn gthread": gunicorn,
    "granian": makerkg_serve("none"),
    "nginx → gunicorn gthread": nginx_gunicorn,
    "nginx → granian (makerkg serve)": makerkg_serve("nginx"),
}


ROUNDS = 4  # throughput: each candidate measured this many times, in turn with the others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out"), help="the build (default ./out)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of each figure (10)")
    parser.add_argument("--only", action="append", choices=list(CANDIDATES), help="measure only these")
    args = parser.parse_args()
    out = args.out.resolve()
    queries = named_queries(out)
    names = args.only or list(CANDIDATES)
    ports = {name: free_port() for name in names}
    runs = {name: Path(tempfile.mkdtemp(prefix="makerkg-bench-")) for name in names}
    processes = [p for name in names for p in CANDIDATES[name](ports[name], out, runs[name])]
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.seconds:g} s a figure", flush=True)
    try:
        for name in names:
            wait_until_up(Target(name, ports[name], "/sparql"))
            ordinary(ports[name], queries, 1, 2.0)  # warm-up
        # all candidates run at once, and the throughput of each is measured in short turns with the others: on a
        # shared machine, whatever else runs then falls on all of them alike
        parts: dict[tuple[str, int], list[Throughput]] = {(n, c): [] for n in names for c in (1, 4)}
        for turn in range(ROUNDS):
            for concurrency in (1, 4):
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    part = ordinary(ports[name], queries, concurrency, args.seconds / ROUNDS)
                    parts[(name, concurrency)].append(part)
        throughput = {key: Throughput.merge(value) for key, value in parts.items()}
        print(f"throughput measured; load average {os.getloadavg()[0]:.2f}", flush=True)
        attacks: dict[str, tuple[Attack, Throughput, Throughput, Attack, Throughput, Throughput]] = {}
        for name in names:
            loris = Attack(ports[name], slow_headers=40, idle=200)
            bodies = Attack(ports[name], slow_headers=0, slow_bodies=40, idle=0)
            with_loris = compare(ports[name], queries, 4, args.seconds, loris)
            attacks[name] = (loris, *with_loris, bodies, *compare(ports[name], queries, 4, args.seconds, bodies))
            print(f"{name}: attacks measured; load average {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        for process in processes:
            stop(process)
        for run in runs.values():
            shutil.rmtree(run, ignore_errors=True)
    print("\n| server | c=1: req/s | p50 ms | c=4: req/s | p50 ms |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        one, four = throughput[(name, 1)], throughput[(name, 4)]
        print(f"| {name} | {one.per_second:.1f} | {one.p50_ms:.1f} | {four.per_second:.1f} | {four.p50_ms:.1f} |")
    print(
        "\n| server | c=4 alone / beside 40 slow-header + 200 idle connections: req/s | kept "
        "| c=4 alone / beside 40 slow-body connections: req/s | kept |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        _, alone, beside, _, alone_again, beside_bodies = attacks[name]
        print(
            f"| {name} | {alone.per_second:.1f} / {beside.per_second:.1f} | {beside.per_second / alone.per_second:.0%} "
            f"| {alone_again.per_second:.1f} / {beside_bodies.per_second:.1f} "
            f"| {beside_bodies.per_second / alone_again.per_second:.0%} |"
        )
    print()
    for name in names:
        loris, alone, beside, bodies, alone_again, beside_bodies = attacks[name]
        errors = sum(t.errors for t in (throughput[(name, 1)], throughput[(name, 4)], alone, beside))
        errors += alone_again.errors + beside_bodies.errors
        print(f"{name}: {errors} answers other than 200 or failed connections")
        print(f"{loris.summary()}\n{bodies.summary()}")


if __name__ == "__main__":
    main()
