"""A query worker process: confined (no network, bounded memory), it opens one build's store and answers jobs.

It is started with the ``spawn`` method (the web process runs threads, and a forked child would inherit their
locks), imports no rdflib, and talks to its pool over one pipe:

- it sends ``("ready", description)`` once the store is open, or ``("error", message)``;
- for each job it sends ``("answer", Answer)``; when the answer is ``streamed``, ``("part", bytes)`` messages
  follow and ``("end", None)`` closes them; or it sends ``("syntax" | "refused" | "failed", message)``, or
  ``("toolarge", None)`` before it ends, when the query needed more memory than its limit.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from makerkg.config import Settings
from makerkg.store.layout import Build

log = logging.getLogger(__name__)

QUERY_STACK = 64 << 20  # the stack of the thread that runs queries: deep expressions recurse in the engine


@dataclass(frozen=True)
class StoreSpec:
    """Which store a worker opens and how it is confined."""

    build: Path  # the build directory
    in_memory: bool  # load graph.nq and union.nt into memory, or open the on-disk store read-only
    memory_limit: int  # bytes a query may allocate beyond the loaded store; 0: no limit
    sandbox: bool  # refuse to run without network confinement


def spec_for(build: Build, settings: Settings) -> StoreSpec:
    """How query workers open ``build``: in memory up to ``memory_store_statements`` statements (``engine = auto``)."""
    statements = build.info.triples + sum(build.info.quads_per_graph.values())
    in_memory = settings.engine == "memory" or (
        settings.engine == "auto" and statements <= settings.memory_store_statements
    )
    return StoreSpec(build.path, in_memory, settings.query_memory << 20, settings.sandbox)


def open_store(spec: StoreSpec) -> object:
    """The build's store: in memory (bulk-loaded from the build's files) or the on-disk store, read-only."""
    import pyoxigraph as ox

    from makerkg.store.build import load_files
    from makerkg.store.layout import STORE_DIR

    if not spec.in_memory:
        return ox.Store.read_only(str(spec.build / STORE_DIR))
    store = ox.Store()
    load_files(store, spec.build)
    return store


def serve(spec: StoreSpec, conn: Connection) -> None:
    """The worker's main function: confine, open the store, then answer jobs until the pipe closes."""
    from makerkg.store import sandbox

    os.environ["RUST_BACKTRACE"] = "0"  # an aborted query prints one line, not a backtrace
    try:
        namespace, filtered = sandbox.confine_network(required=spec.sandbox)
        store = open_store(spec)
        # held open for the worker's life: a build some process still holds is not pruned (store/build.py)
        lease = os.open(spec.build, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, RuntimeError, SyntaxError, ValueError) as err:  # RuntimeError: RocksDB's "Corruption: …"
        conn.send(("error", " ".join(str(err).split())))
        return
    # queries run in a thread of their own, with a stack deep enough for what the pre-check lets through
    threading.stack_size(QUERY_STACK)
    runner = threading.Thread(target=_loop, args=(store, conn), name="makerkg-query", daemon=True)
    runner.start()
    limit = sandbox.limit_memory(spec.memory_limit) if spec.memory_limit else None
    confinement = sandbox.Confinement(namespace, filtered, limit)
    conn.send(("ready", {"pid": os.getpid(), "sandbox": confinement.describe(), "memory_limit": limit}))
    runner.join()
    os.close(lease)


def _loop(store: object, conn: Connection) -> None:
    import pyoxigraph as ox

    from makerkg.errors import QueryFailed, QueryRefused, QuerySyntaxError
    from makerkg.store.execute import answers, evaluate, output
    from makerkg.store.query import Answer

    assert isinstance(store, ox.Store)  # noqa: S101 - open_store makes one
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            messages = answers(output(evaluate(store, job), job))
            first = next(messages)
            assert isinstance(first, Answer)  # noqa: S101 - answers() begins with one
            conn.send(("answer", first))
            if first.streamed:
                for part in messages:
                    conn.send(("part", part))
                conn.send(("end", None))
        except QuerySyntaxError as err:
            conn.send(("syntax", err.message))
        except QueryRefused as err:
            conn.send(("refused", err.reason))
        except QueryFailed as err:
            conn.send(("failed", err.message))
        except MemoryError:  # Python's own allocations past the limit; the engine's abort the process instead
            del messages
            conn.send(("toolarge", None))
            return  # the process ends; the pool starts another
        except (BrokenPipeError, EOFError):
            return
