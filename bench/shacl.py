"""SHACL engines compared on makerkg's shapes: pySHACL (the reference), pyshacl-turbo, pyrudof and pyshifty.

1. Agreement: every broken graph of tests/unit/test_shapes.py (and the valid one) through each engine, its
   violations (focus node, path, constraint component, severity, message, value) set beside pySHACL's.
2. Time and memory: each engine validates the real build whole, and builds of ~100k and ~1M triples in the build's
   chunks (the reference data with about three editions each, two worker processes), each (engine, size) in a
   process of its own: wall time, CPU time of all its processes, peak RSS of the largest process the engine ran in
   (not of the one cutting the graph into chunks).

The machine has 2 cores shared with other developers: a run takes minutes (the 1M size, given with --sizes, tens of
minutes, pySHACL most of it), so run it once, and read CPU time beside wall time when the machine is busy. Needs the
bench extra (pip install -e '.[bench]'). Only local files are read; nothing reaches a network.

Usage: python bench/shacl.py [--sizes real,100k] [--engines pyshacl,pyshacl-turbo,pyrudof,pyshifty]
                             [--work DIR] [--timeout 1800] [--no-fixtures]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from makerkg import resources
from makerkg.config import SHACL_ENGINES

if TYPE_CHECKING:
    from makerkg.validate import Violation

# The engines and rdflib are imported where they are used, so that this process stays small while it runs the
# builds it measures: a process started by another keeps the peak memory of its parent as its own starting figure.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fixture table of tests/unit/test_shapes.py

ENGINES = (*SHACL_ENGINES, "pyrudof", "pyshifty")
SIZES = {"real": 0, "100k": 60, "1m": 600}  # synthetic editions, as bench/scale.py (~1,650 triples each)
WORKERS = 2


@cache
def _shapes_text() -> str:
    return resources.shapes_file().read_text(encoding="utf-8")


@cache
def _rudof() -> Any:
    import pyrudof

    return pyrudof.Rudof(pyrudof.RudofConfig())


def _run_pyrudof(data: bytes) -> tuple[bool, tuple[Violation, ...]]:
    import pyrudof
    from rdflib import Graph

    from makerkg.validate import violations

    session = _rudof()
    session.reset_all()
    session.read_data(data.decode(), format=pyrudof.RDFFormat.NTriples)
    session.read_shacl(_shapes_text())
    report = session.validate_shacl()
    turtle = session.serialize_shacl_validation_results(format=pyrudof.ResultShaclValidationFormat.Turtle)
    return bool(report.conforms), violations(Graph().parse(data=turtle, format="turtle"))


def _run_pyshifty(data: bytes) -> tuple[bool, tuple[Violation, ...]]:
    import shifty

    from makerkg.validate import violations

    # no SHACL-AF rules in the shapes: inference off; a feature it does not support is an error, not skipped
    conforms, results, _ = shifty.validate(data, _shapes_text(), infer=False, on_unsupported="error")
    return bool(conforms), violations(results)


def run(engine: str, data: bytes) -> tuple[bool, tuple[Violation, ...]]:
    """Validate N-Triples with an engine: makerkg's own for the engines it offers, else the engine's report graph
    read the same way."""
    if engine in SHACL_ENGINES:
        from makerkg.validate import check

        report = check(data, resources.shapes_file(), engine)
        return report.conforms, report.violations
    runners: dict[str, Callable[[bytes], tuple[bool, tuple[Violation, ...]]]] = {
        "pyrudof": _run_pyrudof,
        "pyshifty": _run_pyshifty,
    }
    return runners[engine](data)


def run_file(engine: str, path: Path) -> tuple[bool, tuple[Violation, ...], int]:
    """``run`` on a file, with the peak resident memory of this process (kB)."""
    conforms, found = run(engine, path.read_bytes())
    return conforms, found, peak_rss()


def peak_rss() -> int:
    """This process's peak resident memory in kB (VmHWM: getrusage's figure would start from that of the process
    that started it, which exec keeps)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------------------------------------------
# agreement on the fixtures
# --------------------------------------------------------------------------------------------------------------

FIELDS = ("focus", "path", "component", "severity", "message", "value")


def _brief(v: Violation) -> str:
    base = "https://w3id.org/makerkg/"
    return f"{v.component} on {v.focus.removeprefix(base)}" + (f" {v.path}" if v.path else "")


def differences(reference: tuple[Violation, ...], found: tuple[Violation, ...]) -> list[str]:
    """What an engine reports otherwise: each result paired with the reference's of the same focus node and
    component where there is one (naming the fields that differ), else reported as missing or extra."""
    missing = [v for v in reference if v not in found]
    extra = [v for v in found if v not in reference]
    out = []
    for v in missing:
        twin = next((e for e in extra if (e.focus, e.component) == (v.focus, v.component)), None)
        if twin is None:
            out.append(f"misses {_brief(v)}")
            continue
        extra.remove(twin)
        fields = [
            f"{f} {getattr(twin, f)!r} for {getattr(v, f)!r}" for f in FIELDS if getattr(twin, f) != getattr(v, f)
        ]
        out.append(f"{_brief(v)}: " + "; ".join(fields))
    out.extend(f"adds {_brief(e)} ({e.message!r})" for e in extra)
    return out


def fixtures(engines: list[str]) -> None:
    from rdflib import Graph
    from tests.unit.test_shapes import CASES, VALID_TTL, broken_graph

    from makerkg.validate import Violation

    valid = Graph().parse(VALID_TTL)
    cases = [("valid", valid)] + [(p.id, broken_graph(valid, p.values[0], p.values[1])) for p in CASES]
    agree = dict.fromkeys(engines, 0)
    rows: list[str] = []
    details: list[str] = []
    for case_id, graph in cases:
        data = graph.serialize(format="nt", encoding="utf-8")
        results = {}
        for engine in engines:
            try:
                results[engine] = run(engine, data)
            except Exception as err:  # an engine that fails on a fixture is a finding, not the end of the run
                results[engine] = (False, (Violation("", "", "error", f"{type(err).__name__}: {err}", "", ""),))
        reference = results[SHACL_ENGINES[0]]
        cells = []
        for engine in engines[1:]:
            if results[engine] == reference:
                agree[engine] += 1
                cells.append("same")
            else:
                found = differences(reference[1], results[engine][1])
                if results[engine][0] != reference[0]:
                    found.insert(0, f"conforms {results[engine][0]}")
                cells.append(f"differs ({len(found)})")
                details.extend(f"{case_id} · {engine}: {d}" for d in found)
        rows.append(f"| {case_id} | {len(reference[1])} | " + " | ".join(cells) + " |")
    print(f"\n## Agreement with {engines[0]} on the {len(cases)} fixtures (the valid graph and each broken one)\n")
    print("| fixture | results | " + " | ".join(engines[1:]) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in engines[1:]) + " |")
    print("\n".join(rows))
    print("\n" + "; ".join(f"{e}: {n} of {len(cases)} identical" for e, n in agree.items() if e != engines[0]))
    if details:
        print("\nDifferences, result by result:\n")
        print("\n".join(f"- {d}" for d in details))


# --------------------------------------------------------------------------------------------------------------
# time and memory at size
# --------------------------------------------------------------------------------------------------------------


def chunks(graph_file: Path, base: str, directory: Path) -> Iterator[Path]:
    """The build's graph as the build validates it: whole up to CHUNK_TRIPLES edition triples, else the
    reference data with about CHUNK_TRIPLES edition triples each (makerkg.validate.Validator's chunks)."""
    import pyoxigraph as ox

    from makerkg.iris import GraphKind, Layout
    from makerkg.validate import CHUNK_TRIPLES, ntriples

    layout: Layout[str] = Layout(base)
    graphs = [
        (layout.graph_kind(str(name)[1:-1]), [q.triple for q in group])
        for name, group in itertools.groupby(
            ox.parse(path=graph_file, format=ox.RdfFormat.N_QUADS), key=lambda q: q.graph_name
        )
    ]
    reference = next((ntriples(t) for kind, t in graphs if kind is GraphKind.REFERENCE), b"")
    pending: list[bytes] = []
    size = 0
    for n, (kind, triples) in enumerate(graphs):
        if kind is GraphKind.EDITION:
            pending.append(ntriples(triples))
            size += len(triples)
        last = n == len(graphs) - 1
        if pending and (size >= CHUNK_TRIPLES or last):
            path = directory / f"{n}.nt"
            path.write_bytes(b"".join([reference, *pending]))
            pending, size = [], 0
            yield path


def measure_one(engine: str, out: str) -> None:
    """Validate a build with one engine, as ``--one`` runs it in a process of its own; prints JSON."""
    from makerkg.store import current
    from makerkg.validate import WHOLE_GRAPH_TRIPLES

    build = current(Path(out))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="makerkg-shacl-") as tmp:
        if build.info.triples <= WHOLE_GRAPH_TRIPLES:  # the real size: the whole graph at once, as makerkg validate
            found = [run_file(engine, build.union_file)]
            parts = 1
        else:
            paths = list(chunks(build.graph_file, build.info.base, Path(tmp)))
            parts = len(paths)
            with ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn")) as pool:
                found = list(pool.map(run_file, [engine] * parts, paths))
    elapsed = time.perf_counter() - started
    conforms = all(c for c, _, _ in found)
    count = sum(len(v) for _, v, _ in found)
    rss = max(r for _, _, r in found)  # of the processes the engine ran in (not of cutting the graph into chunks)
    print(json.dumps({"seconds": elapsed, "chunks": parts, "conforms": conforms, "results": count, "rss": rss}))


def build_size(size: str, work: Path) -> tuple[Path, str]:
    """A published build of that size in ``work``, with the figures of making it (`makerkg build`: wall time, CPU
    time of all its processes, peak RSS of the largest); one made by an earlier run is reused, without figures."""
    out = work / f"out-{size}"
    if (out / "current").exists():
        return out, "made by an earlier run"
    command = [sys.executable, "-m", "makerkg.cli"]
    sources: list[str] = []
    if SIZES[size]:
        source_dir = work / f"sources-{size}"
        if not source_dir.exists():
            subprocess.run(
                [*command, "synth", "--editions", str(SIZES[size]), "--out", str(source_dir)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        sources = ["--sources", str(source_dir)]
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "build", *sources, "--out", str(out)], stdout=subprocess.DEVNULL)
    status, usage, _ = _wait(proc, float("inf"))
    if status != 0:
        raise SystemExit(f"the {size} build failed (exit {status})")
    wall, cpu = time.perf_counter() - started, usage.ru_utime + usage.ru_stime
    return out, f"{wall:.1f} s / {cpu:.1f} s / {usage.ru_maxrss / 1024:.0f} MiB"


def _wait(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float) -> tuple[int, Any, bool]:
    """Wait for ``proc`` (killing its process group after ``timeout`` seconds): its exit code, its resource usage
    with that of the processes it waited for (wait4, which Popen.wait does not give), and whether it was stopped."""
    started = time.perf_counter()
    stopped = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if not stopped and time.perf_counter() - started > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            stopped = True
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage, stopped


def timed_cell(engine: str, out: Path, timeout: float) -> tuple[str, str | None]:
    """Run one (engine, build) in a process of its own and describe it for the table, with the chunks it made."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--one", engine, str(out)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    status, usage, stopped = _wait(proc, timeout)
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.stdout.close()
    cpu = usage.ru_utime + usage.ru_stime
    if status != 0 or not output.strip():
        what = f"stopped after {timeout:.0f} s" if stopped else f"failed (exit {status})"
        return f"{what}, {cpu:.0f} s CPU", None
    figures = json.loads(output.strip().splitlines()[-1])
    verdict = "conforms" if figures["conforms"] else f"{figures['results']} results"
    rss = figures["rss"] / 1024
    return f"{figures['seconds']:.2f} s / {cpu:.1f} s / {rss:.0f} MiB ({verdict})", str(figures["chunks"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="real,100k")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--work", default=None, help="a directory for sources and builds (kept; default temporary)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one engine may take at one size")
    parser.add_argument("--no-fixtures", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        measure_one(*args.one)
        return
    engines = args.engines.split(",")
    if engines[0] != SHACL_ENGINES[0]:
        engines.insert(0, SHACL_ENGINES[0])
    work = Path(args.work or tempfile.mkdtemp(prefix="makerkg-shacl-"))
    builds = {size: build_size(size, work) for size in args.sizes.split(",")}  # while this process is small
    from makerkg.store import current

    print("## Builds with the default engine (makerkg build: wall time / CPU time of all processes / peak RSS)\n")
    print("| size | triples | build |\n| --- | --- | --- |")
    for size, (out, figures) in builds.items():
        print(f"| {size} | {current(out).info.triples:,} | {figures} |", flush=True)
    print("\n## Validating the builds (wall time / CPU time of all processes / peak RSS of an engine's process)\n")
    print("| size | chunks | " + " | ".join(engines) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in engines) + " |")
    for size, (out, _) in builds.items():
        cells, parts = [], "?"
        for engine in engines:
            cell, parts_found = timed_cell(engine, out, args.timeout)
            parts = parts_found or parts
            cells.append(cell)
        print(f"| {size} | {parts} | " + " | ".join(cells) + " |", flush=True)
    if not args.no_fixtures:
        fixtures(engines)


if __name__ == "__main__":
    main()
