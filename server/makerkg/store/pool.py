"""Query execution that can be stopped: a pool of confined worker processes, forked from one that holds the build's
store (they share it, copy-on-write). Under `makerkg serve` that *loader* is the server's own, one per build, and
the pools of all its web processes share it (``SharedLoaders``): one copy of the store, loaded once.

A thread cannot interrupt pyoxigraph, so a query runs in a worker process (``store/worker.py``); when its answer is
not back by the deadline the process is killed and replaced (a fork: milliseconds, whatever the store's size), and
the caller gets QueryTimeout. A worker that dies
of an allocation past its memory limit is replaced too, and the caller gets QueryTooLarge. Answers are serialised
inside the worker, so the caps and the deadline cover serialisation as well; a long answer streams through the
pool in parts, and the deadline covers the stream.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing as mp
import os
import pickle
import queue
import re
import signal
import socket
import struct
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing import reduction
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

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
from makerkg.store.layout import CURRENT, Build, current
from makerkg.store.query import Answer, Job, Reply, select, value
from makerkg.store.worker import FORK, StoreSpec, serve, served, spec_for

if TYPE_CHECKING:
    from makerkg.config import Settings

log = logging.getLogger(__name__)

# the loader is spawned, not forked: the server process runs threads, and a forked child would inherit their locks
_CONTEXT = mp.get_context("spawn")
READY_TIMEOUT = 120.0  # seconds a new loader may take to import, confine itself and load the store
ENDED_KEPT = 64  # how many workers' exit codes a pool keeps until it asks for them
SLOW = 0.5  # seconds after which a running query is lowered in CPU priority
LOW_PRIORITY = 15  # its nice value
# query workers run a little below the web processes (nice 5 more): what a web process answers itself (from the
# answer cache, a refusal, /health) is never queued behind queries evaluating, however many clients send them
WORKER_NICENESS = 5
# where `makerkg serve`'s own loaders fork the web processes' query workers too: the server's process id and the
# name under which its loaders listen, one abstract Unix socket per build (``shared_socket``); set for them by the
# server, not a setting
LOADER_ENV = "MAKERKG_SHARED_LOADERS"
JOIN_PATIENCE = 1.0  # seconds a pool waits for a shared loader's socket to appear (it binds as it starts)
# seconds a web process goes on serving the build before a new one while the server's loader of the new one starts
# (the server looks each FOLLOW_EVERY seconds, and its loader binds as it starts, a Python start later: about 0.5 s
# on a quiet machine, more than JOIN_PATIENCE on a busy one); past it, the web process starts a loader of its own
SERVER_PATIENCE = 10.0
SHARED_FORK_TIMEOUT = 5.0  # seconds a shared loader may take to fork a worker before a pool gives up on it
SMALL_MESSAGE = 64 << 10  # bytes a message other than an answer may take (a loader's, a worker's "ready", …)
MESSAGE_MARGIN = 4 << 20  # what an answer's message may take beyond the job's byte cap (its head, the framing)
FOLLOW_EVERY = 0.2  # seconds between a server's looks at which build is current (its web processes look each second)
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts to start a worker that failed to start


class NotListening(StoreMissing):
    """No loader of the server's listens for a build yet: a pool asked to join one only (``alone`` False) starts
    none of its own."""


def base_priority() -> int:
    """The nice value query workers run at: the web process's, plus WORKER_NICENESS."""
    return min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)


class _Loader:
    """The process that opens the build's store and forks the query workers from it (``store/worker.py``): one of
    this pool's own, or the one at ``join`` (a Unix socket's path, and the process id of the server whose child it
    must be) that the server started and shares, when it serves this pool's spec. With ``alone`` False, a pool for
    which nothing listens at ``join`` yet starts no loader: NotListening is raised, and the caller asks again later."""

    def __init__(self, spec: StoreSpec, join: tuple[str, int] | None = None, alone: bool = True) -> None:
        self.spec = spec
        self.info: dict[str, Any] = {}
        self._lock = threading.Lock()  # one exchange with the loader at a time
        self._ended: dict[int, int] = {}  # how workers ended, by pid, as the loader reported (the latest few)
        self.process: SpawnProcess | None = None  # None: a shared loader, which this pool did not start
        self.hung = False  # a shared loader that did not answer in time: the pool starts its own from then on
        joined = _connect(*join, patience=JOIN_PATIENCE if alone else 0.0) if join else None
        self._shared_pid = 0
        if joined is None and join and not alone:
            raise NotListening(spec.build, "the server's process that starts query workers is not listening yet")
        if joined is None:
            self.conn = self._spawn()
        else:
            self.conn, self._shared_pid = joined

    def _spawn(self) -> Connection:
        parent, child = _CONTEXT.Pipe()  # a pair of Unix sockets: the pool's end of each worker's pipe passes over it
        self.process = _CONTEXT.Process(target=serve, args=(self.spec, child), daemon=True)
        self.process.start()
        child.close()
        if self.process.pid is not None:  # its workers inherit its nice value; lowering it needs no privilege
            _renice(self.process.pid, base_priority())
        return parent

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else self._shared_pid  # as the kernel told, not the loader

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode if self.process is not None else None

    def wait_ready(self) -> None:
        """Wait until the loader has confined itself and opened the store; raises StoreMissing if it cannot. A
        shared loader that serves another store, or other limits, is left for one of this pool's own."""
        if self.process is None:
            # it answers once it has loaded the store, which takes a while at a million statements: waited for as
            # long as it runs, and no longer (stopped, or ended)
            deadline = time.monotonic() + READY_TIMEOUT
            while not self.conn.poll(0.1) and _running(self._shared_pid) and time.monotonic() < deadline:
                pass
            try:
                info = _ready(self.conn, self.spec, lambda: "its end", self.conn.close) if self.conn.poll(0) else {}
            except StoreMissing:
                info = {}
            if tuple(info.get("serves", ())) == served(self.spec):
                self.info = info
                return
            log.info("the shared query workers' loader %s: this pool starts its own",
                     "serves another store" if info else "does not answer")  # fmt: skip
            self.conn.close()
            self.conn = self._spawn()
        self.info = _ready(self.conn, self.spec, lambda: f"exit code {self.exitcode}", self.stop)

    def alive(self) -> bool:
        """Whether the loader runs: asked of the process itself, not read from its sentinel, whose pipe its workers
        hold open too (they inherit it in the fork), so that it reads as ended only once they have all ended. A
        shared loader runs while its socket is open (its reports are read meanwhile; busy: it is taken to run)."""
        if self.process is not None:
            return self.process.is_alive()
        if not self._lock.acquire(blocking=False):
            return True
        try:
            while self.conn.poll(0):
                self._read(time.monotonic())
        except (EOFError, OSError, TimeoutError):
            return False
        finally:
            self._lock.release()
        return True

    def fork(self) -> tuple[Connection, int]:
        """A new worker's pipe and process id; raises StoreMissing when the loader cannot make one."""
        try:
            with self._lock:
                os.write(self.conn.fileno(), FORK)  # one byte: the loader unpickles nothing a pool sends
                deadline = time.monotonic() + (READY_TIMEOUT if self.process is not None else SHARED_FORK_TIMEOUT)
                while True:
                    kind, payload = self._read(deadline)
                    if kind == "forked":
                        break
                    if kind == "unable":  # out of descriptors or processes: this start fails, the loader goes on
                        raise StoreMissing(self.spec.build, f"the process that starts query workers cannot ({payload})")
                # then the pool's end of the worker's pipe, which the loader made in the workers' network namespace
                if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError
                return Connection(reduction.recv_handle(self.conn)), int(payload)
        except (EOFError, OSError, TimeoutError, RuntimeError, AssertionError) as err:  # the last two: what reading
            # a descriptor raises when something else came
            if isinstance(err, TimeoutError) and self.process is None:  # a shared loader that hangs: left for good
                self.hung = True
                self.conn.close()
                raise StoreMissing(
                    self.spec.build, "the shared process that starts query workers does not answer"
                ) from err
            raise StoreMissing(self.spec.build, "the process that starts query workers has ended") from err

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """How worker ``pid`` ended (``Process.exitcode``'s reading), once the loader has reaped it; None when it
        does not say within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while pid not in self._ended:
                try:
                    self._read(deadline)
                except (EOFError, OSError, TimeoutError):
                    return None
            return self._ended.pop(pid)

    def _read(self, deadline: float) -> tuple[str, Any]:
        """The loader's next message (its lock held), by ``deadline``; a report of a worker that ended is kept."""
        if not self.conn.poll(max(0.0, deadline - time.monotonic())):
            raise TimeoutError
        try:
            kind, payload = message(self.conn, deadline=max(deadline, time.monotonic() + 1))
        except _Late as err:
            raise TimeoutError from err
        if kind == "ended":
            pid, code = payload
            self._ended[pid] = code
            while len(self._ended) > ENDED_KEPT:  # no one asked how these ended: forget the oldest
                del self._ended[next(iter(self._ended))]
        return kind, payload

    def stop(self) -> None:
        """Stop the loader, or leave a shared one (the workers it forked for this pool are stopped by the pool)."""
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=5)
        if not self.conn.closed:
            self.conn.close()


def _connect(path: str, server: int, patience: float) -> tuple[Connection, int] | None:
    """A connection to the shared loader listening at ``path``, and the loader's process id, waiting ``patience``
    seconds at most for its socket to appear and take the connection; None when there is none, or when what listens
    there is not a child of process ``server`` (``makerkg serve``) run by this user: another process of the network
    namespace could have bound the name first."""
    deadline = time.monotonic() + patience
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(max(0.01, deadline - time.monotonic()))  # a full backlog holds connect() without end
        try:
            sock.connect(path)
            credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except OSError:
            sock.close()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)
            continue
        pid, uid, _ = struct.unpack("3i", credentials)
        if uid != os.getuid() or _parent(pid) != server:
            log.warning("what listens at %s is not the server's loader (process %s): not joined", path, pid)
            sock.close()
            return None
        sock.settimeout(None)
        return Connection(sock.detach()), pid


def _state(pid: int) -> tuple[str, int]:
    """Process ``pid``'s state letter and parent's id, from /proc/PID/stat; ("X", -1) when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the command's name, which may hold anything
        return fields[0], int(fields[1])
    except (OSError, ValueError, IndexError):
        return "X", -1


def _parent(pid: int) -> int:
    return _state(pid)[1]


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is neither stopped (SIGSTOP, a debugger) nor ended."""
    return _state(pid)[0] not in ("T", "t", "Z", "X")


def shared_socket(name: str, build: Build) -> str:
    """Where the shared loader of ``build`` listens, for a server whose loaders are named ``name`` (LOADER_ENV): an
    abstract Unix socket, which exists in one network namespace only. The loader binds it before it moves into a
    namespace of its own, so its query workers, confined there, can neither reach it nor bind one in its place (a
    socket file, in a directory of the server's user, they could replace: an outside check did, reusing the
    loader's process id to pass for it)."""
    return f"\0{name}/{build.path.name}"


def shared_loader(build: Build) -> tuple[str, int] | None:
    """Where this process's pool on ``build`` joins the server's loader (``makerkg serve`` sets LOADER_ENV for its
    web processes: the name its loaders listen under and the server's process id), or None."""
    server, _, name = os.environ.get(LOADER_ENV, "").partition(":")
    if not server.isdigit() or not name:
        return None
    return shared_socket(name, build), int(server)


def loader_environment(name: str) -> str:
    """LOADER_ENV's value for the web processes of this process (the server), whose loaders are named ``name``."""
    return f"{os.getpid()}:{name}"


class SharedLoaders:
    """The loaders `makerkg serve` shares with its web processes (one copy of a store, one start): one for the build
    it starts with, whose pool checks the store, and one for each build published while it serves, started as soon
    as it is seen; a build's loader is stopped ``grace`` seconds after another became current, once the web
    processes have closed their pools on it (a build made current again before then keeps it), and started again
    should it end before (the web processes' pools join the new one when they next need a worker, or start loaders
    of their own)."""

    def __init__(self, name: str, settings: Settings, grace: float) -> None:
        self.name, self.settings, self.grace = name, settings, grace
        self._pools: dict[Path, tuple[Build, QueryPool]] = {}
        self._leaving: list[tuple[float, QueryPool]] = []  # when each old build's loader is stopped
        self._retry: dict[Path, tuple[float, float]] = {}  # when a build's loader that ended may start again, and the
        # pause after that
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._follower = threading.Thread(target=self._follow, name="makerkg-loaders", daemon=True)

    def start(self, build: Build) -> QueryPool:
        """A pool (of one worker, started by ``ready()``) on a loader for ``build`` that others may join; the loaders
        of any other build are stopped after the grace period. Call ``follow()`` then to follow new builds."""
        with self._lock:  # a build put back within the grace period (a rollback) keeps the loader it had: a new one
            # could not listen under the name the old one holds
            kept = next((p for _, p in self._leaving if p.spec.build == build.path and p.loader_alive()), None)
            self._leaving = [(when, p) for when, p in self._leaving if p is not kept]
        if kept is not None:
            pool = kept
        else:
            spec = replace(spec_for(build, self.settings), listen=shared_socket(self.name, build))
            pool = QueryPool(spec, 1, self.settings.query_timeout)
        with self._lock:
            leaving = time.monotonic() + self.grace
            self._leaving.extend((leaving, old) for _, old in self._pools.values() if old is not pool)
            self._pools = {build.path: (build, pool)}
        return pool

    def follow(self) -> None:
        """Start a loader for each build published from now on, in a thread of its own."""
        self._follower.start()

    def _follow(self) -> None:
        link = self.settings.out / CURRENT
        seen = ""
        while not self._stop.wait(FOLLOW_EVERY):
            try:
                target = os.readlink(link)
                if target != seen:
                    build = current(self.settings.out)
                    seen = target
                    if build.path not in self._pools:
                        self.start(build)
            except (OSError, StoreMissing):
                pass  # no build, or an incomplete one: the next look sees again
            with self._lock:
                ended = [(build, pool) for build, pool in self._pools.values() if not pool.loader_alive()]
            for build, pool in ended:  # killed, or a store it cannot open: started again, less and less often
                when, pause = self._retry.get(build.path, (0.0, RETRY_FIRST))
                if time.monotonic() < when:
                    continue
                if time.monotonic() > when + RETRY_MAX:  # one that had run a good while: a new failure, not the
                    pause = RETRY_FIRST  # same one again, so the pauses start short again
                log.warning("the shared query workers' loader of build %s ended; starting another", build.path.name)
                pool.close()
                self.start(build)  # its socket is bound anew
                self._retry[build.path] = (time.monotonic() + pause, min(RETRY_MAX, pause * 2))
            with self._lock:
                now = time.monotonic()
                done = [pool for when, pool in self._leaving if when <= now]
                self._leaving = [(when, pool) for when, pool in self._leaving if when > now]
            for pool in done:
                pool.close()

    def close(self) -> None:
        """Stop following, and every loader."""
        self._stop.set()
        if self._follower.is_alive():
            self._follower.join()
        with self._lock:
            pools = [*(pool for _, pool in self._pools.values()), *(pool for _, pool in self._leaving)]
            self._pools, self._leaving = {}, []
        for pool in pools:
            pool.close()


class _Messages(pickle.Unpickler):
    """Reads what a loader or a query worker sends: plain values, and answers. Were a query to take over its worker
    (an engine bug), the worker could send anything down its pipe; unpickled freely, a message could run code in
    the web process, outside the worker's confinement."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == (Answer.__module__, Answer.__name__):
            return Answer
        raise pickle.UnpicklingError(f"{module}.{name} has no place in a message")


class _Late(Exception):
    """A message began and was not whole by the deadline."""


# what a query worker may send while it has a job: each kind, and the type of its payload
_WORKER_SAYS: dict[str, type] = {
    "answer": Answer,
    "part": bytes,
    "end": type(None),
    "syntax": str,
    "refused": str,
    "failed": str,
    "toolarge": type(None),
    "retiring": int,
}
_CUT = re.compile(r"max_(rows|answer_bytes)=[0-9]{1,19}")  # an answer's ``truncated``
_MEDIA_TYPE = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+-]+")  # an answer's, as the format table writes them


def _cut_by_a_cap(truncated: object) -> bool:
    return isinstance(truncated, str) and _CUT.fullmatch(truncated) is not None


def _well_formed(said: tuple[str, Any]) -> bool:
    """Whether a query worker's message is one of its protocol: a known kind, with a payload of its type, and an
    answer whose fields are what a worker writes (a forged one could carry a line break into a header)."""
    kind, payload = said
    if not isinstance(payload, _WORKER_SAYS.get(kind, ())):
        return False
    if isinstance(payload, Answer):
        return (
            isinstance(payload.body, bytes)
            and isinstance(payload.media_type, str)
            and _MEDIA_TYPE.fullmatch(payload.media_type) is not None
            and payload.form in ("select", "ask", "graph", "none")
            and (payload.truncated is None or _cut_by_a_cap(payload.truncated))
            and isinstance(payload.streamed, bool)
        )
    return True


def message(conn: Connection, limit: int = SMALL_MESSAGE, deadline: float | None = None) -> tuple[str, Any]:
    """The next message on ``conn``, from a loader or a query worker: a kind and its payload, of ``limit`` bytes at
    most, whole by ``deadline`` (raises _Late otherwise). Raises EOFError when the peer has gone, or sent what is not
    such a message. Read here rather than by ``Connection.recv``, which would trust the length the peer announces
    and wait without end for the bytes it does not send."""
    fd = conn.fileno()
    (length,) = struct.unpack("!i", _exactly(fd, 4, deadline))
    if length == -1:  # multiprocessing's header of a message over 2 GiB
        (length,) = struct.unpack("!Q", _exactly(fd, 8, deadline))
    if not 0 <= length <= limit:
        raise EOFError(f"an unreadable message ({length} bytes announced)")
    data = _exactly(fd, length, deadline)
    try:
        said = _Messages(io.BytesIO(data)).load()
    except Exception as err:  # noqa: BLE001 - whatever a forged message makes the unpickler raise
        raise EOFError(f"an unreadable message ({type(err).__name__})") from err
    if not (isinstance(said, tuple) and len(said) == 2 and isinstance(said[0], str)):
        raise EOFError("an unreadable message")
    return said


def _exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while size:
        if deadline is not None and not wait([fd], max(0.0, deadline - time.monotonic())):
            raise _Late()
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the peer has gone")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _ready(conn: Connection, spec: StoreSpec, ended: Callable[[], str], stop: Callable[[], None]) -> dict[str, Any]:
    """The description a new process sends once it is ready on ``conn``; raises StoreMissing (after ``stop()``)
    when it sends an error instead, ends (``ended()`` says how) or is silent for READY_TIMEOUT seconds."""
    try:
        said = message(conn, deadline=time.monotonic() + 5) if conn.poll(READY_TIMEOUT) else ("error", "no answer")
    except (EOFError, OSError, _Late):
        said = ("error", f"it ended with {ended()} before it was ready")
    if said[0] != "ready" or not isinstance(said[1], dict):
        stop()
        raise StoreMissing(spec.build, f"the store cannot be opened ({said[1]})")
    return said[1]


def _renice(pid: int, niceness: int) -> bool:
    """Set a process's nice value; False when the system refuses (raising it back needs privileges)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError:
        return False
    return True


class _Worker:
    """A query worker forked by ``loader``: its pipe, and a pidfd to signal it by (never another process that has
    taken its id since)."""

    def __init__(self, loader: _Loader) -> None:
        self.conn, self.pid = loader.fork()
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except OSError:  # already ended and reaped: a descriptor to signal nothing by
            self.pidfd = os.open(os.devnull, os.O_RDONLY)
        if self.pidfd >= 0 and _parent(self.pid) not in (loader.pid, -1):  # never a process the loader did not fork
            os.close(self.pidfd)
            self.conn.close()
            raise StoreMissing(loader.spec.build, f"the loader named process {self.pid}, not one of its own")
        weakref.finalize(self, os.close, self.pidfd)  # closed with the object, never under a thread's wait()
        self.loader = loader
        self.info: dict[str, Any] = {}
        self._stopping = threading.Lock()

    def wait_ready(self) -> None:
        """Wait until the worker has set its limits (and opened an on-disk store); raises StoreMissing otherwise."""
        self.info = _ready(self.conn, self.loader.spec, self._how_ended, self.stop)

    def _how_ended(self) -> str:
        return f"exit code {self.loader.exit_code(self.pid, 2.0)}"

    def ended(self) -> bool:
        """Whether the process has ended (or been stopped), as an idle worker's pipe tells: it sends nothing unasked,
        so a pipe with something to read has reached its end (the worker alone holds the other end), whichever
        process reaps it (the loader, or init once the loader has ended)."""
        with self._stopping:
            return self.conn.closed or bool(wait([self.conn], timeout=0))

    def retiring(self) -> int | None:
        """For an idle worker whose pipe reads as ended (``ended()``): the MiB it held when it asked to be replaced
        (``store/worker.py``), or None when it has ended (the message is consumed)."""
        with contextlib.suppress(EOFError, OSError, _Late):
            if not self.conn.closed and self.conn.poll(0):
                kind, held = message(self.conn, deadline=time.monotonic() + 1)
                if kind == "retiring" and isinstance(held, int):
                    return held
        return None

    def stop(self) -> None:
        """Kill the process and close the pipe; safe to call from several threads at once (a pool closing while
        another thread gives up on this worker's start)."""
        with self._stopping:
            if self.conn.closed:
                return
            with contextlib.suppress(OSError):  # it has ended already
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            wait([self.pidfd], timeout=5)
            self.conn.close()

    def set_priority(self, niceness: int) -> bool:
        """Set the worker's nice value; False when the system refuses (raising it back needs privileges)."""
        return _renice(self.pid, niceness)


class QueryPool:
    """A fixed number of worker processes over one build's store; implements ``QueryRunner``."""

    def __init__(
        self, spec: StoreSpec, size: int, timeout: float, join: tuple[str, int] | None = None, alone: bool = True
    ) -> None:
        """Start the loader, or join the shared one listening at ``join`` when it serves ``spec``, and return at
        once: it opens the store while the caller goes on. ``ready()`` waits for it and the first worker, and
        starts the others. With ``alone`` False, raises NotListening when nothing listens at ``join`` (yet) rather
        than start a loader of its own."""
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
        self._join = join
        # held open while the pool is: the workers hold the build too, but they are not traceable, so a `makerkg
        # build` run by the server's user (not root) cannot see them in /proc when it prunes old builds
        try:
            self._lease = os.open(spec.build, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # no such build: the loader says so
            self._lease = -1
        try:
            self._loader = _Loader(spec, join, alone)
        except BaseException:  # NotListening, say: no pool, and no lease
            if self._lease >= 0:
                os.close(self._lease)
            raise
        self._loader_lock = threading.Lock()  # held while a loader that has ended is replaced
        self._reviving = threading.Event()  # set while the watcher has a loader started again
        self._started = False

    @property
    def memory_mib(self) -> int:
        return self.spec.memory_limit >> 20

    def ready(self, background: bool = True) -> QueryPool:
        """Wait until the loader has opened the store and the first worker is ready (raises StoreMissing: a server
        with a broken store does not start), then start the others in the background: the first answers meanwhile."""
        if self._started:
            return self
        self._started = True
        try:
            self._loader.wait_ready()
            first = self._fork()
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
            worker: _Worker | None = None
            try:
                worker = self._fork()
                worker.wait_ready()
            except StoreMissing as err:
                if worker is not None:
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

    def _fork(self) -> _Worker:
        """A new worker, forked by the loader, which is started again first if it has ended (killed, out of
        memory); raises StoreMissing when that fails, or when the pool is closed meanwhile."""
        worker = _Worker(self._living_loader())
        with self._lock:
            if not self._closed.is_set():
                self._all.add(worker)
                return worker
        worker.stop()
        raise StoreMissing(self.spec.build, "the pool was closed")

    def _revive(self) -> None:
        """Start the loader again if it has ended, for the watcher (a failure is logged; the next look retries)."""
        try:
            self._living_loader()
        except StoreMissing as err:
            log.warning("the query workers' loader cannot start again (%s)", err.why)
        finally:
            self._reviving.clear()

    def _living_loader(self) -> _Loader:
        """The loader, started again first if it has ended; raises StoreMissing when that fails."""
        with self._loader_lock:
            loader = self._loader
            if not loader.alive() and not self._closed.is_set():
                log.warning(
                    "the query workers' loader %s ended (exit code %s); starting another",
                    loader.pid,
                    loader.exitcode,
                )
                loader.stop()
                if loader.hung:
                    self._join = None
                loader = _Loader(self.spec, self._join)
                try:
                    loader.wait_ready()
                finally:
                    self._loader = loader  # stopped when it failed: the next attempt starts another
            return loader

    def _put_idle(self, worker: _Worker) -> None:
        with self._lock:
            self._waiting.add(worker)
        self._idle.put(worker)

    def _watch(self) -> None:
        """Replace a worker that ends while it waits for a job (killed, out of memory) at once, not when a request
        next takes it: requests answered from a cache may not come to the pool for a long time."""
        while not self._closed.is_set():
            loader = self._loader
            # its workers answer on meanwhile; a new one is ready before the next worker is needed. Not a shared one,
            # which the server starts again itself (a pool on a build no longer served would load it anew for
            # nothing): the pool joins or starts a loader when it next needs a worker
            if not self._reviving.is_set() and loader.process is not None and not loader.alive():
                self._reviving.set()
                threading.Thread(target=self._revive, name="makerkg-loader-start", daemon=True).start()
            with self._lock:
                watched = {w.conn: w for w in self._waiting}
            if not watched:
                self._closed.wait(0.5)
                continue
            for ready in wait(list(watched), timeout=0.5):
                worker = watched[ready]  # type: ignore[index]
                with self._lock:
                    # taken meanwhile (the request that took it deals with it), or taken, answered and put back
                    # while this waited: its pipe read as ready then for the answer, and the request has read it
                    if self._closed.is_set() or worker not in self._waiting or not worker.ended():
                        continue
                    self._waiting.discard(worker)
                self._replace_idle(worker)

    def _replace_idle(self, worker: _Worker) -> None:
        """Replace an idle worker (taken out of the idle queue) whose pipe reads as ended: it has ended (killed, out
        of memory), or asks to be replaced to give back the memory it holds."""
        held = worker.retiring()
        if held is None:
            log.warning("query worker %s ended while idle (%s)", worker.pid, worker._how_ended())
        else:
            log.info("query worker %s, idle with %s MiB of its own, is replaced by a fresh fork", worker.pid, held)
        self._replace(worker, retired=held is not None)

    def _replace(self, worker: _Worker, retired: bool = False) -> None:
        """Stop ``worker`` and start another in its place, once however many threads replace it: the pool never
        grows past its size."""
        with self._lock:
            mine = worker in self._all
            self._all.discard(worker)
            self._waiting.discard(worker)
        worker.stop()
        if not mine:
            return
        if retired:
            metrics.worker_retired()
        else:
            metrics.worker_restarted()
        if not self._closed.is_set():  # the replacement starts beside the request, which answers at once
            threading.Thread(target=self._add, name="makerkg-worker-start", daemon=True).start()

    def _take(self, deadline: float) -> _Worker:
        while True:
            try:
                worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty as err:
                raise Busy(self.timeout) from err
            with self._lock:
                claimed = worker not in self._waiting  # by the watcher, which replaces it (or by close())
                self._waiting.discard(worker)
            if claimed:  # never handed out: the watcher may have read its pipe empty (a retiring worker) and not
                continue  # have stopped it yet
            if not worker.ended():
                return worker
            self._replace_idle(worker)  # ended while idle (killed, out of memory) or retiring: take another

    def _receive(self, worker: _Worker, deadline: float, job: Job, slow: _Slow | None = None) -> tuple[str, Any]:
        """The worker's next message, by the deadline; kills and replaces it and raises otherwise. With ``slow``, a
        job still running at ``slow.at`` is lowered in priority (``slow.demoted`` says whether it was)."""
        try:
            said: tuple[str, Any] = ("retiring", 0)
            while said[0] == "retiring":  # sent as this request took the worker: it answers the job all the same
                until = deadline if slow is None or slow.passed else min(deadline, slow.at)
                if not worker.conn.poll(max(0.0, until - time.monotonic())):
                    if until < deadline and slow is not None:
                        # a slow query yields the CPU to quick ones: the explosive few must not starve the many
                        slow.passed, slow.demoted = True, worker.set_priority(max(LOW_PRIORITY, base_priority()))
                        continue
                    log.warning("query stopped after %s s: %.200r", self.timeout, job.query)
                    self._replace(worker)
                    metrics.query_timed_out()
                    raise QueryTimeout(self.timeout)
                try:
                    said = message(worker.conn, job.max_bytes + MESSAGE_MARGIN, deadline)
                except _Late:  # a worker that began a message and stopped (not ours, then) is stopped like a slow one
                    log.warning("query stopped after %s s: %.200r", self.timeout, job.query)
                    self._replace(worker)
                    metrics.query_timed_out()
                    raise QueryTimeout(self.timeout) from None
                if not _well_formed(said):  # not ours either: a query has taken the worker over (an engine bug)
                    self._out_of_protocol(worker)
        except (EOFError, OSError) as err:
            code = worker.loader.exit_code(worker.pid, 2.0)
            self._replace(worker)
            if code == -signal.SIGABRT:  # how the engine ends when an allocation fails
                log.warning("query stopped at the memory limit: %.200r", job.query)
                raise QueryTooLarge(self.memory_mib) from err
            log.warning("query worker %s ended while answering (exit code %s): %.200r", worker.pid, code, job.query)
            raise WorkerLost() from err
        if said[0] == "toolarge":
            self._replace(worker)
            raise QueryTooLarge(self.memory_mib)
        return said

    def _out_of_protocol(self, worker: _Worker) -> NoReturn:
        """Stop a worker that sent what its protocol has no place for; the request has lost its worker."""
        log.warning("query worker %s sent what its protocol has no place for; stopped", worker.pid)
        self._replace(worker)
        raise WorkerLost()

    def execute(self, job: Job) -> Reply:
        """Run ``job`` in a worker; raises QueryTimeout, QueryTooLarge, Busy, WorkerLost, QuerySyntaxError,
        QueryRefused or QueryFailed."""
        if not self.spec.build.is_dir():  # removed under the server: no worker can start on it, so say so at once
            raise StoreMissing(self.spec.build, "the build being served has been removed")
        deadline = time.monotonic() + self.timeout
        worker = self._take(deadline)
        try:
            worker.conn.send(job)
        except (OSError, BrokenPipeError) as err:
            self._replace(worker)
            raise WorkerLost() from err
        # timed from here, and past a message the worker sent as it was taken ("retiring"), which is no answer
        slow = _Slow(time.monotonic() + SLOW)
        kind, payload = self._receive(worker, deadline, job, slow)
        metrics.query_finished(time.monotonic() - deadline + self.timeout)
        if kind in ("part", "end"):  # no answer has begun
            self._out_of_protocol(worker)
        if kind == "answer" and payload.streamed:
            return Reply(payload, _Parts(self, worker, deadline, job, slow.demoted))
        self._release(worker, slow.demoted)
        if kind == "answer":
            return Reply(payload)
        errors = {"syntax": QuerySyntaxError, "refused": QueryRefused, "failed": QueryFailed}
        raise errors[kind](str(payload))

    def _release(self, worker: _Worker, demoted: bool) -> None:
        if demoted and not worker.set_priority(base_priority()):
            self._replace(worker)  # raising a priority back needs privileges; a fresh worker starts at normal
        else:
            self._put_idle(worker)

    def loader_alive(self) -> bool:
        """Whether the pool's loader runs (for a server's own loaders, which it starts again)."""
        return self._loader.alive()

    @property
    def loader_pid(self) -> int | None:
        """The id of the process that holds the store and forks the workers (for operations and tests)."""
        return self._loader.pid

    def pids(self) -> list[int]:
        """The worker processes' ids (for operations and tests)."""
        with self._lock:
            return [w.pid for w in self._all]

    def close(self, keep_loader: bool = False) -> None:
        """Stop every worker, and the loader unless ``keep_loader`` (it goes on forking workers for the pools that
        share it, until a last ``close()``)."""
        with self._lock:
            self._closed.set()
            workers = list(self._all)
            self._all.clear()
            self._waiting.clear()  # stopped on purpose: the watcher has nothing to replace
        for worker in workers:
            worker.stop()
        with self._lock:
            lease, self._lease = self._lease, -1
        if lease >= 0:
            os.close(lease)
        if keep_loader:
            return
        with self._loader_lock:
            self._loader.stop()


@dataclass
class _Slow:
    """When a running job counts as slow, and what happened then."""

    at: float  # time.monotonic()
    passed: bool = False
    demoted: bool = False  # its worker was lowered in priority (False too when the system refused)


class _Parts:
    """The further parts of a streamed answer, read from the worker that makes them. The worker is released at the
    end; closed before the end (the client went away, a HEAD request that reads no body, the deadline passed, the
    worker failed), or never read at all, the worker is replaced: a generator would do neither when it is closed
    before its first part, and a worker left to a stream no one reads is lost to the pool for good."""

    def __init__(self, pool: QueryPool, worker: _Worker, deadline: float, job: Job, demoted: bool) -> None:
        self._pool, self._worker, self._deadline, self._job, self._demoted = pool, worker, deadline, job, demoted
        self._done = False
        self._sent = 0  # bytes of parts read: a worker writes no more than the byte cap (a taken-over one could)
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
            self._sent += len(payload)
            if self._sent <= self._job.max_bytes + MESSAGE_MARGIN:
                return cast(bytes, payload)  # _receive read a well-formed message
            log.warning("query worker %s streamed past the byte cap; stopped", self._worker.pid)
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
    """Count the statements of the build's store through ``pool`` against build.json; raises StoreMissing (the pool
    closed) when it cannot be opened or read, or counts otherwise (files damaged or replaced on disk). Its worker is
    stopped then, and its loader left to the pools that share it."""
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
    except BaseException:
        pool.close()
        raise
    pool.close(keep_loader=True)
