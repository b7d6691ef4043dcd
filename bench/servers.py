"""Which server should `makerkg serve` run? Candidates measured on the same build, one after the other:

- gunicorn gthread: what `makerkg serve` ran before (2 workers of 8 threads, its settings then);
- granian: the Rust HTTP server, alone (`makerkg serve --proxy none`);
- nginx → gunicorn gthread: gunicorn on a Unix socket behind nginx, with the configuration `makerkg serve` writes;
- nginx → granian: `makerkg serve` as it is now.

For each: the ordinary throughput (the ten named queries round-robin over keep-alive connections, as
bench/endpoint.py) at concurrency 1 and 4, then at concurrency 4 beside 40 slow-header and 200 idle connections,
and beside 40 slow-body connections (bench/slowclients.py: alone and beside, alternating in three rounds); the share
of the throughput kept (goal ≥ 90 %).
Needs the bench extra (gunicorn), Debian's nginx for the nginx candidates, and a build. Only 127.0.0.1 is contacted.
Usage: python bench/servers.py [--out DIR] [--seconds 12] [--only NAME]
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

from endpoint import Target, free_port, start, stop, wait_until_up
from slowclients import HOST, Attack, Throughput, compare, named_queries, ordinary

from makerkg.config import environ, load
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
    def launch(port: int, out: Path, _: Path) -> list[subprocess.Popen[bytes]]:
        command = [sys.executable, "-m", "makerkg.cli", "serve", "--host", HOST, "--port", str(port), "--proxy", proxy]
        return [start(command, {"MAKERKG_OUT": str(out)})]

    return launch


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out"), help="the build (default ./out)")
    parser.add_argument("--seconds", type=float, default=12.0, help="seconds of each measurement (12)")
    parser.add_argument("--only", action="append", choices=list(CANDIDATES), help="measure only these")
    args = parser.parse_args()
    out = args.out.resolve()
    queries = named_queries(out)
    rows: list[tuple[str, Throughput, Throughput, Throughput, Throughput, Throughput, Attack, Attack]] = []
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.seconds:g} s a measurement", flush=True)
    for name in args.only or CANDIDATES:
        port = free_port()
        run = Path(tempfile.mkdtemp(prefix="makerkg-bench-"))
        processes = CANDIDATES[name](port, out, run)
        try:
            wait_until_up(Target(name, port, "/sparql"), "ASK { ?s ?p ?o }")
            ordinary(port, queries, 1, 2.0)  # warm-up
            one = ordinary(port, queries, 1, args.seconds)
            loris = Attack(port, slow_headers=40, idle=200)
            four, beside_loris = compare(port, queries, 4, args.seconds, loris)
            bodies = Attack(port, slow_headers=0, slow_bodies=40, idle=0)
            four_again, beside_bodies = compare(port, queries, 4, args.seconds, bodies)
            rows.append((name, one, four, beside_loris, four_again, beside_bodies, loris, bodies))
            print(
                f"{name}: c=1 {one.per_second:.1f}/s, c=4 {four.per_second:.1f}/s, beside slow headers and idle "
                f"{beside_loris.per_second:.1f}/s, c=4 {four_again.per_second:.1f}/s, beside slow bodies "
                f"{beside_bodies.per_second:.1f}/s; load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        finally:
            for process in processes:
                stop(process)
            shutil.rmtree(run, ignore_errors=True)
    print(
        "\n| server | c=1: req/s (p50 ms) | c=4: req/s (p50 ms) | c=4 beside 40 slow-header + 200 idle connections: "
        "req/s, kept | c=4 (second pairing) | c=4 beside 40 slow-body connections: req/s, kept |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, one, four, loris, again, bodies, _, _ in rows:
        print(
            f"| {name} | {one.per_second:.1f} ({one.p50_ms:.1f}) | {four.per_second:.1f} ({four.p50_ms:.1f}) "
            f"| {loris.per_second:.1f}, {loris.per_second / four.per_second:.0%} | {again.per_second:.1f} "
            f"| {bodies.per_second:.1f}, {bodies.per_second / again.per_second:.0%} |"
        )
    print()
    for name, one, four, loris, again, bodies, loris_attack, bodies_attack in rows:
        errors = sum(t.errors for t in (one, four, loris, again, bodies))
        print(f"{name}: {errors} answers other than 200 or failed connections")
        print(f"{loris_attack.summary()}\n{bodies_attack.summary()}")


if __name__ == "__main__":
    main()
