"""Query workers: confined processes (no network, bounded memory) that answer jobs from one build's store.

The store is opened once, by a *loader* process, and the workers are forked from it: they share its pages
copy-on-write, so six workers over a store of a million statements in memory take about the memory of one, and a
worker that is killed (a query past the deadline) is replaced in milliseconds, without loading the store again.
The loader is started with the ``spawn`` method (the web process runs threads, and a forked copy of it would
inherit their locks); it runs no thread of its own, so forking it is safe. It imports no rdflib.

The loader talks to the pool that started it over one socket, and, when its spec names a ``listen`` path, to
other pools too (``makerkg serve``'s web processes: one loader, one copy of the store and one start for the whole
server), each over a connection to that Unix socket:

- it sends ``("ready", description)`` once it is confined and the store is open, or ``("error", message)``; the
  description says which store it serves, as ``served(spec)`` (a pool that asked for another opens its own);
- for each request a pool sends (the one byte FORK, and nothing else: the loader unpickles nothing it is sent, and
  takes no descriptor), it makes a pipe, forks a worker on one end and sends that pool ``("forked", pid)``, then
  the other end (a descriptor, with one byte). The pipe is made in the loader's network namespace, the workers':
  a worker that bound its end to a name would bind it there, out of the server's sight, as any socket it makes;
- when one of its workers ends, it sends the pool that asked for it ``("ended", (pid, exit code))``, the exit code
  as ``Process.exitcode`` reads it (minus the signal that ended the process).

The loader ends when the socket to the pool that started it closes. A worker's name (``/proc/PID/comm``, what
``ps`` and ``top`` show) is ``query PID``, the process id of the pool it answers.

A worker talks to the pool over its pipe:

- it sends ``("ready", description)`` once its memory limit is set;
- for each job it sends ``("answer", Answer)``; when the answer is ``streamed``, ``("part", bytes)`` messages
  follow and ``("end", None)`` closes them; or it sends ``("syntax" | "refused" | "failed", message)``, or
  ``("toolarge", None)`` before it ends, when the query needed more memory than its limit;
- when it has kept more than ``kept_memory`` bytes of its own and has then had no job for ``RETIRE_IDLE``
  seconds, it sends ``("retiring", MiB kept)`` and goes on waiting: the pool replaces it by a fresh fork, or sends
  it a job after all (taken just before the message came), which it answers as any other.

Why workers retire: reading Oxigraph's in-memory store writes to the pages it reads (reference counts), so each
page a query touches is copied into the worker; at a million statements one scan copies some 500 MiB into each
worker that runs it. A busy worker keeps its copies (a second run of the same query is up to twice as fast); an
idle one gives them back by being replaced by a fresh fork of the loader.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import resource
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING

from makerkg.store.layout import Build

if TYPE_CHECKING:  # the loader imports this module, and starts sooner without the settings' module
    from makerkg.config import Settings

log = logging.getLogger(__name__)

FORK = b"\x01"  # a pool's request for a worker
ACCEPT_PAUSE = 0.1  # seconds the loader waits after a connection it could not accept
QUERY_STACK = 64 << 20  # the stack of the thread that runs queries: deep expressions recurse in the engine
RETIRE_IDLE = 2.0  # seconds without a job after which a worker holding more than kept_memory of its own retires


@dataclass(frozen=True)
class StoreSpec:
    """Which store a worker opens and how it is confined."""

    build: Path  # the build directory
    in_memory: bool  # load graph.nq and union.nt into memory, or open the on-disk store read-only
    memory_limit: int  # bytes a query may allocate beyond the loaded store; 0: no limit
    sandbox: bool  # refuse to run without network confinement
    kept_memory: int = 0  # bytes of its own an idle worker may keep (see RETIRE_IDLE); 0: workers never retire
    listen: str = ""  # a Unix socket's path where the loader forks workers for other pools too; "": none


def served(spec: StoreSpec) -> tuple[str, bool, int, bool, int]:
    """What a loader's workers answer from, and under which limits: what a pool joining a loader must find."""
    return (str(spec.build), spec.in_memory, spec.memory_limit, spec.sandbox, spec.kept_memory)


def spec_for(build: Build, settings: Settings) -> StoreSpec:
    """How query workers open ``build``: in memory up to ``memory_store_statements`` statements (``engine = auto``)."""
    statements = build.info.triples + sum(build.info.quads_per_graph.values())
    in_memory = settings.engine == "memory" or (
        settings.engine == "auto" and statements <= settings.memory_store_statements
    )
    # only workers that share an in-memory store copy its pages; a worker's own memory over the on-disk store is
    # RocksDB's cache, which a fresh fork would only have to fill again
    kept = settings.worker_kept_memory << 20 if in_memory else 0
    return StoreSpec(build.path, in_memory, settings.query_memory << 20, settings.sandbox, kept)


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


def serve(spec: StoreSpec, control: Connection) -> None:
    """The loader's main function: confine, open the store, then fork a worker for each request of a pool, until
    the socket to the pool that started it closes."""
    from makerkg.store import sandbox

    os.environ["RUST_BACKTRACE"] = "0"  # an aborted query prints one line, not a backtrace
    if spec.listen:
        # a server's own loader runs in a session of its own, as the app server does: a stop signal to the server's
        # process group (a terminal's ^C, a service manager's stop) must not end the workers before the requests
        # under way are answered; it ends when the server closes its socket
        os.setsid()
    try:
        listener = None
        if spec.listen:  # bound before the confinement, in the server's network namespace, out of its workers' reach
            try:
                listener = _listen(spec.listen)
            except OSError as err:  # a name taken, say: the pools start loaders of their own (told on stderr, as
                # the loader's logging is not the server's)
                log.warning("the query workers' loader cannot listen (%s): each web process loads the store", err)
        namespace, filtered = sandbox.confine_network(required=spec.sandbox)  # the workers inherit it
        # loaded here, in memory, to be shared; the on-disk store is opened by each worker instead, since RocksDB
        # runs threads of its own from the moment it opens, which a forked copy would lack (the operating system's
        # page cache shares the store's files between the workers)
        store = open_store(spec) if spec.in_memory else None
        # held open for the loader's life and its workers': a build some process still holds is not pruned
        lease = os.open(spec.build, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, RuntimeError, SyntaxError, ValueError) as err:  # RuntimeError: RocksDB's "Corruption: …"
        control.send(("error", " ".join(str(err).split())))
        return
    import makerkg.store.execute  # noqa: F401 - what every worker runs, imported once here rather than in each

    gc.freeze()  # what is loaded now stays out of the collector's reach: a worker's collections copy no page of it
    wake_read, wake_write = os.pipe()  # SIGCHLD writes here: the loop wakes to report a worker that ended
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    description = {
        "pid": os.getpid(),
        "sandbox": sandbox.Confinement(namespace, filtered, None).describe(),
        "serves": served(spec),
    }
    control.send(("ready", description))
    pools = {control: os.getppid()}  # each pool's socket, and the process id of the pool
    owners: dict[int, Connection] = {}  # each worker's pool
    starter_gone = False
    while True:
        ready = wait([*pools, wake_read, *([listener] if listener else [])])
        if wake_read in ready:
            while _drained(wake_read):
                pass
            _report_ended(owners)
        if listener is not None and listener in ready:
            joined = _accept(listener, description)
            if joined is not None:
                pools[joined[0]] = joined[1]
        for pool in [p for p in pools if p in ready]:
            try:
                # a request is one byte: nothing is unpickled, and a descriptor sent along is discarded unopened,
                # since a process on the socket may be one a query has taken over (a worker, of the same user)
                request = os.read(pool.fileno(), 1)
            except OSError:
                request = b""
            if request != FORK:  # the peer has gone, or sent what is no request: it is dropped
                if pool is control:
                    starter_gone = True
                    break
                del pools[pool]
                pool.close()
                continue
            # made here, after the confinement: a socket belongs to the network namespace it was made in, and the
            # worker's end must not be one of the server's (bound to the shared loader's name, it would hold it)
            try:
                ours, theirs = socket.socketpair()
            except OSError as err:  # out of descriptors (a peer holding thousands of connections, say)
                _unable(pool, err)
                continue
            try:
                pid = os.fork()
            except OSError as err:  # out of processes or memory: this request fails, the loader goes on
                ours.close()
                theirs.close()
                _unable(pool, err)
                continue
            if pid == 0:  # the worker
                code = 1
                try:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for other in pools:
                        other.close()
                    if listener is not None:
                        listener.close()
                    os.close(wake_read)
                    os.close(wake_write)
                    ours.close()
                    _close_all_but([theirs.fileno(), lease])
                    _name(f"query {pools[pool]}")
                    _work(store, Connection(theirs.detach()), spec, namespace, filtered)
                    code = 0
                finally:
                    os._exit(code)  # never back into the loader's code, nor its exit handlers
            theirs.close()
            owners[pid] = pool
            try:
                pool.send(("forked", pid))
                reduction.send_handle(pool, ours.fileno(), pools[pool])
            except OSError:
                if pool is control:
                    starter_gone = True
                    break
                del pools[pool]
                pool.close()
            finally:
                ours.close()
        if starter_gone:  # the pool that started the loader has gone: so does the loader
            break
    os.close(lease)


def _unable(pool: Connection, err: OSError) -> None:
    """Tell a pool its worker could not be made (its socket may be full: then it is told nothing, and waits)."""
    with contextlib.suppress(OSError):
        pool.send(("unable", f"{err.strerror or err}"))


def _close_all_but(keep: list[int]) -> None:
    """Close every descriptor above the standard three but those in ``keep``: what the loader holds besides
    (multiprocessing's, among them the write end of its resource tracker's pipe, which leads to a process outside
    the sandbox) has no place in a worker."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def _listen(path: str) -> socket.socket:
    """A Unix socket at ``path`` (an abstract one: ``pool.shared_socket``) where other pools connect."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    return listener


def _accept(listener: socket.socket, description: dict[str, object]) -> tuple[Connection, int] | None:
    """A pool's new connection, told what this loader serves, and that pool's process id (None when it has gone
    already)."""
    try:
        sock, _ = listener.accept()
    except OSError:  # out of descriptors, say: the listener stays readable, and the loop would spin on it
        time.sleep(ACCEPT_PAUSE)
        return None
    try:
        pid, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid != os.getuid():  # the directory lets no other user in; checked again here all the same
            sock.close()
            return None
        # never waits on a pool: one that does not read what it is sent is dropped when its socket is full, instead
        # of holding every other pool's forks
        sock.setblocking(False)
        joined = Connection(sock.detach())
        joined.send(("ready", description))
    except OSError:
        return None
    return joined, pid


def _name(name: str) -> None:
    """Name the calling process as ``ps`` and ``top`` show it (15 bytes at most; the command line stays)."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w", encoding="ascii") as comm:
        comm.write(name[:15])


def _drained(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


def _report_ended(owners: dict[int, Connection]) -> None:
    """Reap the workers that have ended and tell the pool of each how it ended (a pool that has gone is told
    nothing)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        pool = owners.pop(pid, None)
        if pool is None or pool.closed:
            continue
        with contextlib.suppress(OSError):
            pool.send(("ended", (pid, os.waitstatus_to_exitcode(status))))


def _work(store: object | None, conn: Connection, spec: StoreSpec, namespace: str, filtered: bool) -> None:
    """A worker's life: open the on-disk store (``store`` is None), bound its memory, then answer jobs in a thread
    with a deep stack until the pipe closes."""
    from makerkg.store import sandbox

    # its output and errors (the server's log) appended to, never written over: F_SETFL, which could turn that off,
    # is refused (``worker_filter``); a pipe or a socket there cannot be written over in the first place
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            again = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND)
            os.dup2(again, fd)
            os.close(again)
    # before the store opens: RocksDB starts threads, and a thread started before this would not be sealed
    sealed = sandbox.sealed()
    own_filter = sandbox.worker_filter()  # threads it starts still (the runner, and RocksDB's)
    if store is None:
        try:
            store = open_store(spec)
        except (OSError, RuntimeError) as err:  # RuntimeError: RocksDB's "Corruption: …"
            conn.send(("error", " ".join(str(err).split())))
            return
    # a worker that runs as root keeps its user but none of its powers: were a query to take over the process
    # (an engine bug), it could not trace or read the web process, nor read files its user may not
    hidden = sandbox.untraceable()  # before the capabilities go, which keep other workers off until then
    powerless = sandbox.drop_capabilities()  # first: capabilities are per thread, and the runner inherits them
    hidden = hidden and sandbox.untraceable()  # still: giving up capabilities does not make it dumpable again
    # queries run in a thread of their own, with a stack deep enough for what the pre-check lets through
    threading.stack_size(QUERY_STACK)
    runner = threading.Thread(target=_loop, args=(store, conn, spec.kept_memory), name="makerkg-query", daemon=True)
    runner.start()
    limit = sandbox.limit_memory(spec.memory_limit) if spec.memory_limit else None
    confinement = sandbox.Confinement(namespace, filtered, limit, not powerless, not hidden, sealed, own_filter)
    described = confinement.describe()
    conn.send(("ready", {"pid": os.getpid(), "sandbox": described, "memory_limit": limit}))
    runner.join()


class _OwnMemory:
    """How much memory a worker holds of its own, read cheaply: the count of page faults (each page copied or
    newly allocated is one) says when it may have grown by ``kept`` bytes, and only then is the kernel's account
    read (/proc/self/smaps_rollup, a walk of every page table)."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._faults = self._count()
        self.held = 0  # bytes of its own, as last read

    @staticmethod
    def _count() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def over(self) -> bool:
        """Whether the worker holds more than ``kept`` bytes of its own."""
        if not self.kept:
            return False
        faults = self._count()
        if (faults - self._faults) * resource.getpagesize() >= self.kept:
            self._faults = faults
            self.held = _private_bytes()
        return self.held > self.kept


def _private_bytes() -> int:
    """Bytes of memory this process alone maps (pages copied from the loader, and its own heap)."""
    total = 0
    with open("/proc/self/smaps_rollup", encoding="ascii") as lines:
        for line in lines:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) << 10  # kB
    return total


def _loop(store: object, conn: Connection, kept_memory: int) -> None:
    import pyoxigraph as ox

    from makerkg.errors import QueryFailed, QueryRefused, QuerySyntaxError
    from makerkg.store.execute import answers, run
    from makerkg.store.query import Answer

    assert isinstance(store, ox.Store)  # noqa: S101 - open_store makes one
    own = _OwnMemory(kept_memory)
    while True:
        try:
            if own.over() and not conn.poll(RETIRE_IDLE):
                conn.send(("retiring", own.held >> 20))
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            messages = answers(run(store, job))
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
