"""Build benchmark: sources → validated, published graph, as a user runs it (`makerkg build`), N cold runs.

Prints the median wall time, CPU time (of the build and the processes it starts) and peak memory (max RSS of
any of them) and the per-stage times of the median run. Usage: python bench/build.py [--runs 5] [--sources DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = """
import json, sys, time
t0 = time.perf_counter()
from makerkg.config import load
from makerkg.pipeline import build
t1 = time.perf_counter()
result = build(load(out=sys.argv[1], sources=sys.argv[2] or None))
print(json.dumps({"imports": t1 - t0, **result.timings, "triples": result.build.info.triples}))
"""


def run_once(out: Path, sources: str) -> tuple[float, int, dict[str, float], float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", STAGES, str(out), sources], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed: {output}")
    return elapsed, usage.ru_maxrss * 1024, json.loads(output), usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sources", default="")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            results.append(run_once(Path(tmp) / f"out{i}", args.sources))
    results.sort(key=lambda r: r[0])
    median_time = statistics.median(r[0] for r in results)
    median_rss = statistics.median(r[1] for r in results)
    median_cpu = statistics.median(r[3] for r in results)
    stages = results[len(results) // 2][2]
    print(f"makerkg build, {args.runs} cold runs, {stages.pop('triples'):.0f} triples")
    print(f"  wall time  median {median_time:.2f} s  (min {results[0][0]:.2f}, max {results[-1][0]:.2f})")
    print(f"  CPU time   median {median_cpu:.2f} s (all its processes: on a busy machine, beside the wall time)")
    print(f"  peak RSS   median {median_rss / 2**20:.0f} MiB")
    print("  stages of the median run: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))


if __name__ == "__main__":
    main()
