"""Regression: the SPARQL checks parse with pyparsing, which is not thread-safe. When the first parses of a web
worker ran in several request threads at once, a parse action's arity could be fixed wrongly for good, and from
then on that worker answered valid queries with 500 or 400 (found by tests/e2e/test_faults.py under load)."""

from __future__ import annotations

import json
import subprocess
import sys

# a fresh interpreter: the race is in the first calls of each parse action
SCRIPT = """
import json, threading
from makerkg.queries import load_queries
from makerkg.sparql.checks import check_query
texts = [q.text for q in load_queries().values()] + ["SELECT ?n WHERE { ?e <urn:x> ?n } LIMIT 3", "ASK { FILTER(1 < 2) }"]
start = threading.Barrier(16)
failures = []
def parse(n):
    start.wait()
    for text in texts[n % len(texts):] + texts[: n % len(texts)]:
        try:
            check_query(text, set())
        except Exception as err:
            failures.append(f"{type(err).__name__}: {err}"[:200])
threads = [threading.Thread(target=parse, args=(n,)) for n in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=120)
after = []
for text in texts:
    try:
        check_query(text, set())
    except Exception as err:
        after.append(f"{type(err).__name__}: {err}"[:200])
print(json.dumps({"during": failures, "after": after}))
"""


def test_first_parses_in_many_threads_at_once_break_nothing() -> None:
    for _ in range(3):  # without the lock, every run of the script failed
        run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr[-2000:]
        assert json.loads(run.stdout) == {"during": [], "after": []}
