"""Query execution that can be stopped: worker processes, each with the store open read-only.

A thread cannot interrupt rdflib or pyoxigraph, so a query runs in a worker process; when its answer is not back by
the deadline the process is killed and replaced, and the caller gets QueryTimeout. Results are serialised inside the
worker, so the row cap and the deadline cover serialisation too.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path

from makerkg import metrics
from makerkg.errors import MakerkgError, QuerySyntaxError, StoreMissing
from makerkg.store.build import Build

log = logging.getLogger(__name__)

# spawn, not fork: the server process runs threads, and a forked child would inherit their locks
_CONTEXT = mp.get_context("spawn")


class QueryTimeout(MakerkgError):
    """The query ran past the deadline and its worker was stopped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"the query ran longer than the limit of {self.seconds:g} s (query_timeout) and was stopped; "
            "simplify it or add a LIMIT"
        )


class Busy(MakerkgError):
    """Every query worker stayed busy for the whole wait."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"all query workers are busy; try again in {seconds:g} s")


class WorkerLost(MakerkgError):
    """The worker process ended while running the query."""

    def __init__(self) -> None:
        super().__init__("the query worker stopped unexpectedly; try again")


@dataclass(frozen=True)
class Job:
    """What a worker runs: the query, its dataset, the media type to answer in, and the row cap."""

    query: str
    media_type: str
    max_rows: int
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """A serialised result: its bytes, its media type, and whether the row cap cut it."""

    body: bytes
    media_type: str
    truncated: bool
    form: str  # select, ask, graph


READY_TIMEOUT = 60.0  # seconds a new worker may take to import and open the store


class _Worker:
    def __init__(self, store: Path) -> None:
        parent, child = _CONTEXT.Pipe()
        self.conn: Connection = parent
        self.process: SpawnProcess = _CONTEXT.Process(target=_serve, args=(str(store), child), daemon=True)
        self.process.start()
        child.close()
        self.store = store

    def wait_ready(self) -> None:
        """Wait until the worker has opened the store; raises StoreMissing if it cannot."""
        store = self.store
        try:
            message = self.conn.recv() if self.conn.poll(READY_TIMEOUT) else ("error", "no answer from a new worker")
        except (EOFError, OSError):
            message = ("error", f"the worker ended with exit code {self.process.exitcode} before it was ready")
        if message[0] != "ready":
            self.stop()
            raise StoreMissing(store, f"the store cannot be opened ({message[1]})")

    def ended(self) -> bool:
        """Whether the process has ended. Its sentinel says so whoever reaped it: is_alive() answers True when
        another thread's Process.start() has just reaped it (multiprocessing reaps all children there)."""
        return bool(wait([self.process.sentinel], timeout=0))

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


SLOW = 0.5  # seconds after which a running query is lowered in CPU priority
LOW_PRIORITY = 15  # its nice value


def _set_priority(worker: _Worker, niceness: int) -> bool:
    """Set the worker process's nice value; False when the system refuses (raising it back needs privileges)."""
    pid = worker.process.pid
    if pid is None:
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError:
        return False
    return True


class QueryPool:
    """A fixed number of worker processes over one build's store."""

    def __init__(self, store: Path, size: int, timeout: float) -> None:
        """Start the first worker and return at once: it imports and opens the store while the caller goes on.
        ``ready()`` waits for it, and starts the others."""
        self.store = store
        self.timeout = timeout
        self.size = size
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._first: _Worker | None = _Worker(store)
        self._all.add(self._first)

    def ready(self) -> QueryPool:
        """Wait until the first worker has opened the store (raises StoreMissing: a server with a broken store does
        not start), then start the others one after the other, in the background: the first answers meanwhile,
        and on a fresh server each start has the cores to itself."""
        first, self._first = self._first, None
        if first is None:
            return self
        try:
            first.wait_ready()
        except StoreMissing:
            self.close()
            raise
        self._idle.put(first)
        threading.Thread(target=self._grow, name="makerkg-worker-start", daemon=True).start()
        return self

    def _grow(self) -> None:
        for _ in range(self.size - 1):
            if self._closed:
                return
            self._add()

    def _add(self) -> None:
        try:
            worker = _Worker(self.store)
            worker.wait_ready()
        except StoreMissing:
            if not self._closed:  # a pool closed while its workers start stops them on purpose
                log.exception("a query worker could not start")
            return
        with self._lock:
            if self._closed:
                worker.stop()
                return
            self._all.add(worker)
        self._idle.put(worker)

    def _replace(self, worker: _Worker) -> None:
        metrics.worker_restarted()
        with self._lock:
            self._all.discard(worker)
        worker.stop()
        # start the replacement beside the request, which answers at once
        threading.Thread(target=self._add, name="makerkg-worker-start", daemon=True).start()

    def execute(self, job: Job) -> Answer:
        """Run ``job`` in a worker; raises QueryTimeout, Busy, WorkerLost or QuerySyntaxError."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty as err:
                raise Busy(self.timeout) from err
            if not worker.ended():
                break
            # ended while idle (killed, or out of memory): not this request's fault, so take another
            log.warning("query worker %s ended while idle (exit code %s)", worker.process.pid, worker.process.exitcode)
            self._replace(worker)
        demoted = False
        try:
            worker.conn.send(job)
            if not worker.conn.poll(min(SLOW, self.timeout)):
                # a slow query yields the CPU to quick ones: the explosive few must not starve the many
                demoted = _set_priority(worker, LOW_PRIORITY)
                if not worker.conn.poll(max(0.0, self.timeout - SLOW)):
                    log.warning("query stopped after %s s: %.200s", self.timeout, job.query)
                    self._replace(worker)
                    metrics.query_timed_out()
                    raise QueryTimeout(self.timeout)
            kind, payload = worker.conn.recv()
            metrics.query_finished(time.monotonic() - deadline + self.timeout)
        except (EOFError, OSError, BrokenPipeError) as err:
            self._replace(worker)
            raise WorkerLost() from err
        if demoted and not _set_priority(worker, 0):
            self._replace(worker)  # raising a priority back needs privileges; a fresh worker starts at normal
        else:
            self._idle.put(worker)
        if kind == "syntax":
            raise QuerySyntaxError(str(payload))
        if kind == "error":
            raise MakerkgError(str(payload))
        assert isinstance(payload, Answer)  # noqa: S101 - the worker's protocol: ("answer", Answer)
        return payload

    def pids(self) -> list[int]:
        """The worker processes' ids (for operations and tests)."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop()


# what a build's store must answer before a server listens on it: triples of the default graph (the merge), and quads
VERIFY_QUERIES = (
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
    "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }",
)


def verify(build: Build, pool: QueryPool) -> None:
    """Count the statements of the build's store, through ``pool`` (a pool of one worker over it, then closed),
    against build.json; raises StoreMissing when it cannot be opened or read, or counts otherwise (files damaged
    or replaced on disk)."""
    from makerkg.store.execute import ROWS_JSON

    try:
        pool.ready()  # raises StoreMissing when the store does not open
        expected = (build.info.triples, sum(build.info.quads_per_graph.values()))
        for query, count in zip(VERIFY_QUERIES, expected, strict=True):
            try:
                answer = pool.execute(Job(query, ROWS_JSON, 1))
            except WorkerLost as err:  # killed, or out of memory: damaged tables can make reads allocate without end
                raise StoreMissing(build.store_dir, "the store cannot be read: the worker reading it died") from err
            except MakerkgError as err:
                raise StoreMissing(build.store_dir, f"the store cannot be read ({err})") from err
            found = int(json.loads(answer.body)["rows"][0]["n"])
            if found != count:
                raise StoreMissing(
                    build.store_dir, f"the store holds {found} statements where build.json counts {count}: damaged"
                )
    finally:
        pool.close()


def _serve(store_path: str, conn: Connection) -> None:
    """The worker's loop: open the store once, then answer jobs until the pipe closes."""
    import pyoxigraph as ox

    from makerkg.store.execute import run

    try:
        store = ox.Store.read_only(store_path)
    except (OSError, RuntimeError) as err:  # RuntimeError: RocksDB's "Corruption: …"
        conn.send(("error", str(err)))
        return
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("answer", run(store, job)))
        except SyntaxError as err:  # Oxigraph's message spans lines; an error message is one
            conn.send(("syntax", " ".join(str(err).split())))
        except Exception as err:  # noqa: BLE001 - the boundary of the worker: report, keep serving
            log.exception("query failed in the worker")
            conn.send(("error", f"the query could not be evaluated: {type(err).__name__}"))
