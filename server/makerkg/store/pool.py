"""Query execution that can be stopped: a pool of confined worker processes, each holding the build's store.

A thread cannot interrupt pyoxigraph, so a query runs in a worker process (``store/worker.py``); when its answer is
not back by the deadline the process is killed and replaced, and the caller gets QueryTimeout. A worker that dies
of an allocation past its memory limit is replaced too, and the caller gets QueryTooLarge. Answers are serialised
inside the worker, so the caps and the deadline cover serialisation as well; a long answer streams through the
pool in parts, and the deadline covers the stream.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from makerkg import metrics
from makerkg.errors import (
    Busy,
    MakerkgError,
    QueryFailed,
    QueryRefused,
    QuerySyntaxError,
    QueryTimeout,
    QueryTooLarge,
    StoreMissing,
    WorkerLost,
)
from makerkg.store.layout import Build
from makerkg.store.query import Answer, Job, Reply, select, value
from makerkg.store.worker import StoreSpec, serve

log = logging.getLogger(__name__)

# spawn, not fork: the server process runs threads, and a forked child would inherit their locks
_CONTEXT = mp.get_context("spawn")
READY_TIMEOUT = 120.0  # seconds a new worker may take to import, confine itself and load the store
SLOW = 0.5  # seconds after which a running query is lowered in CPU priority
LOW_PRIORITY = 15  # its nice value
# query workers run a little below the web processes (nice 5 more): what a web process answers itself (from the
# answer cache, a refusal, /health) is never queued behind queries evaluating, however many clients send them
WORKER_NICENESS = 5
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts to start a worker that failed to start


def base_priority() -> int:
    """The nice value query workers run at: the web process's, plus WORKER_NICENESS."""
    return min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)


class _Worker:
    def __init__(self, spec: StoreSpec) -> None:
        parent, child = _CONTEXT.Pipe()
        self.conn: Connection = parent
        self.process: SpawnProcess = _CONTEXT.Process(target=serve, args=(spec, child), daemon=True)
        self.process.start()
        child.close()
        self.set_priority(base_priority())  # lowering needs no privilege
        self.spec = spec
        self.info: dict[str, Any] = {}
        self._stopping = threading.Lock()

    def wait_ready(self) -> None:
        """Wait until the worker has confined itself and opened the store; raises StoreMissing if it cannot."""
        try:
            message: tuple[str, Any] = (
                self.conn.recv() if self.conn.poll(READY_TIMEOUT) else ("error", "no answer from a new worker")
            )
        except (EOFError, OSError):
            message = ("error", f"the worker ended with exit code {self.process.exitcode} before it was ready")
        if message[0] != "ready":
            self.stop()
            raise StoreMissing(self.spec.build, f"the store cannot be opened ({message[1]})")
        self.info = message[1]

    def ended(self) -> bool:
        """Whether the process has ended. Its sentinel says so whoever reaped it: is_alive() answers True when
        another thread's Process.start() has just reaped it (multiprocessing reaps all children there)."""
        return bool(wait([self.process.sentinel], timeout=0))

    def aborted(self) -> bool:
        """Whether the process ended by abort(): how the engine ends when an allocation fails."""
        self.process.join(timeout=2)
        return self.process.exitcode == -signal.SIGABRT

    def stop(self) -> None:
        """Kill the process and close the pipe; safe to call from several threads at once (a pool closing while
        another thread gives up on this worker's start)."""
        with self._stopping:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=5)
            if not self.conn.closed:
                self.conn.close()

    def set_priority(self, niceness: int) -> bool:
        """Set the worker's nice value; False when the system refuses (raising it back needs privileges)."""
        pid = self.process.pid
        if pid is None:
            return False
        try:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except OSError:
            return False
        return True


class QueryPool:
    """A fixed number of worker processes over one build's store; implements ``QueryRunner``."""

    def __init__(self, spec: StoreSpec, size: int, timeout: float) -> None:
        """Start the first worker and return at once: it starts while the caller goes on. ``ready()`` waits for
        it, and starts the others."""
        self.spec = spec
        self.timeout = timeout
        self.size = size
        # last in, first out: a quiet server keeps answering from the worker it used last, whose store is still in
        # the CPU's caches (taking them in turn measured about 1.5 times the CPU per query at the real size)
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._waiting: set[_Worker] = set()  # the workers in the idle queue, which the watcher looks after
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._first: _Worker | None = _Worker(spec)
        self._all.add(self._first)

    @property
    def memory_mib(self) -> int:
        return self.spec.memory_limit >> 20

    def ready(self, background: bool = True) -> QueryPool:
        """Wait until the first worker has opened the store (raises StoreMissing: a server with a broken store does
        not start), then start the others one after the other, in the background: the first answers meanwhile."""
        first, self._first = self._first, None
        if first is None:
            return self
        try:
            first.wait_ready()
        except StoreMissing:
            self.close()
            raise
        log.info("query worker %s ready (sandbox: %s)", first.info.get("pid"), first.info.get("sandbox"))
        self._put_idle(first)
        if background:  # a pool for one check starts no thread (makerkg serve forks its children after it)
            threading.Thread(target=self._grow, name="makerkg-worker-start", daemon=True).start()
            threading.Thread(target=self._watch, name="makerkg-worker-watch", daemon=True).start()
        return self

    def _grow(self) -> None:
        for _ in range(self.size - 1):
            if self._closed.is_set():
                return
            self._add()

    def _add(self) -> None:
        """Start one worker, retrying with a growing pause while it fails (a store being replaced, a full
        machine), until it starts or the pool is closed."""
        pause = RETRY_FIRST
        while not self._closed.is_set():
            with self._lock:
                if self._closed.is_set():
                    return
                worker = _Worker(self.spec)
                self._all.add(worker)
            try:
                worker.wait_ready()
            except StoreMissing as err:
                with self._lock:
                    self._all.discard(worker)
                if self._closed.is_set():
                    return
                log.warning("a query worker could not start (%s); trying again in %.1f s", err.why, pause)
                self._closed.wait(pause)
                pause = min(RETRY_MAX, pause * 2)
                continue
            if self._closed.is_set():
                worker.stop()
                return
            self._put_idle(worker)
            return

    def _put_idle(self, worker: _Worker) -> None:
        with self._lock:
            self._waiting.add(worker)
        self._idle.put(worker)

    def _watch(self) -> None:
        """Replace a worker that ends while it waits for a job (killed, out of memory) at once, not when a request
        next takes it: requests answered from a cache may not come to the pool for a long time."""
        while not self._closed.is_set():
            with self._lock:
                watched = {w.process.sentinel: w for w in self._waiting}
            if not watched:
                self._closed.wait(0.5)
                continue
            for sentinel in wait(list(watched), timeout=0.5):
                worker = watched[sentinel]  # type: ignore[index]
                with self._lock:
                    if (
                        self._closed.is_set() or worker not in self._waiting
                    ):  # taken meanwhile: the request that took it deals with it
                        continue
                    self._waiting.discard(worker)
                log.warning(
                    "query worker %s ended while idle (exit code %s)", worker.process.pid, worker.process.exitcode
                )
                self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        metrics.worker_restarted()
        with self._lock:
            self._all.discard(worker)
            self._waiting.discard(worker)
        worker.stop()
        if not self._closed.is_set():  # the replacement starts beside the request, which answers at once
            threading.Thread(target=self._add, name="makerkg-worker-start", daemon=True).start()

    def _take(self, deadline: float) -> _Worker:
        while True:
            try:
                worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty as err:
                raise Busy(self.timeout) from err
            with self._lock:
                replaced = worker not in self._waiting  # the watcher saw it end and started another
                self._waiting.discard(worker)
            if not worker.ended():
                return worker
            if not replaced:  # ended while idle (killed, or out of memory): not this request's fault; take another
                log.warning(
                    "query worker %s ended while idle (exit code %s)", worker.process.pid, worker.process.exitcode
                )
                self._replace(worker)

    def _receive(self, worker: _Worker, deadline: float, job: Job) -> tuple[str, Any]:
        """The worker's next message, by the deadline; kills and replaces it and raises otherwise."""
        try:
            if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                log.warning("query stopped after %s s: %.200s", self.timeout, job.query)
                self._replace(worker)
                metrics.query_timed_out()
                raise QueryTimeout(self.timeout)
            message: tuple[str, Any] = worker.conn.recv()
        except (EOFError, OSError) as err:
            aborted = worker.aborted()
            self._replace(worker)
            if aborted:
                log.warning("query stopped at the memory limit: %.200s", job.query)
                raise QueryTooLarge(self.memory_mib) from err
            raise WorkerLost() from err
        if message[0] == "toolarge":
            self._replace(worker)
            raise QueryTooLarge(self.memory_mib)
        return message

    def execute(self, job: Job) -> Reply:
        """Run ``job`` in a worker; raises QueryTimeout, QueryTooLarge, Busy, WorkerLost, QuerySyntaxError,
        QueryRefused or QueryFailed."""
        if not self.spec.build.is_dir():  # removed under the server: no worker can start on it, so say so at once
            raise StoreMissing(self.spec.build, "the build being served has been removed")
        deadline = time.monotonic() + self.timeout
        worker = self._take(deadline)
        demoted = False
        try:
            worker.conn.send(job)
        except (OSError, BrokenPipeError) as err:
            self._replace(worker)
            raise WorkerLost() from err
        if not worker.conn.poll(min(SLOW, self.timeout)):
            # a slow query yields the CPU to quick ones: the explosive few must not starve the many
            demoted = worker.set_priority(max(LOW_PRIORITY, base_priority()))
        kind, payload = self._receive(worker, deadline, job)
        metrics.query_finished(time.monotonic() - deadline + self.timeout)
        if kind == "answer" and payload.streamed:
            return Reply(payload, _Parts(self, worker, deadline, job, demoted))
        self._release(worker, demoted)
        if kind == "answer":
            assert isinstance(payload, Answer)  # noqa: S101 - the worker's protocol
            return Reply(payload)
        errors = {"syntax": QuerySyntaxError, "refused": QueryRefused, "failed": QueryFailed}
        raise errors[kind](str(payload))

    def _release(self, worker: _Worker, demoted: bool) -> None:
        if demoted and not worker.set_priority(base_priority()):
            self._replace(worker)  # raising a priority back needs privileges; a fresh worker starts at normal
        else:
            self._put_idle(worker)

    def pids(self) -> list[int]:
        """The worker processes' ids (for operations and tests)."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._closed.set()
            workers = list(self._all)
            self._all.clear()
            self._waiting.clear()  # stopped on purpose: the watcher has nothing to replace
        for worker in workers:
            worker.stop()


class _Parts:
    """The further parts of a streamed answer, read from the worker that makes them. The worker is released at the
    end; closed before the end (the client went away, a HEAD request that reads no body, the deadline passed, the
    worker failed), or never read at all, the worker is replaced: a generator would do neither when it is closed
    before its first part, and a worker left to a stream no one reads is lost to the pool for good."""

    def __init__(self, pool: QueryPool, worker: _Worker, deadline: float, job: Job, demoted: bool) -> None:
        self._pool, self._worker, self._deadline, self._job, self._demoted = pool, worker, deadline, job, demoted
        self._done = False
        self._lock = threading.Lock()

    def __iter__(self) -> _Parts:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        try:
            kind, payload = self._pool._receive(self._worker, self._deadline, self._job)
        except BaseException:
            self._done = True  # _receive replaced the worker
            raise
        if kind == "part":
            assert isinstance(payload, bytes)  # noqa: S101 - the worker's protocol
            return payload
        if kind == "end":
            with self._lock:
                self._done = True
            self._pool._release(self._worker, self._demoted)
            raise StopIteration
        self.close()  # an error after the head was sent: the response can only be cut off
        raise WorkerLost()

    def close(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        log.info("a streamed answer was left before its end: its query worker is replaced")
        self._pool._replace(self._worker)

    def __del__(self) -> None:
        self.close()


# what a build's store must answer before a server listens on it: triples of the default graph (the merge), and quads
VERIFY_QUERIES = (
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
    "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }",
)


def verify(build: Build, pool: QueryPool) -> None:
    """Count the statements of the build's store through ``pool`` (then closed) against build.json; raises
    StoreMissing when it cannot be opened or read, or counts otherwise (files damaged or replaced on disk)."""
    try:
        pool.ready(background=False)  # raises StoreMissing when the store does not open
        expected = (build.info.triples, sum(build.info.quads_per_graph.values()))
        for query, count in zip(VERIFY_QUERIES, expected, strict=True):
            try:
                found = int(value(select(pool, query, 1)[0], "n"))
            except WorkerLost as err:  # killed, or out of memory: damaged tables can make reads allocate without end
                raise StoreMissing(build.store_dir, "the store cannot be read: the worker reading it died") from err
            except MakerkgError as err:
                raise StoreMissing(build.store_dir, f"the store cannot be read ({err})") from err
            if found != count:
                raise StoreMissing(
                    build.store_dir, f"the store holds {found} statements where build.json counts {count}: damaged"
                )
    finally:
        pool.close()
