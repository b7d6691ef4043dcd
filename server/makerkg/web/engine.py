"""The app's view of the published build: its description, its graphs and the query pool over its store.

When ``OUT/current`` moves to a new build, a pool is opened on it (by the engine's follower, a thread that looks
each second; requests take the snapshot it last opened) and the old pool is closed after the longest query could have
finished, so requests see the old graph or the new one, never a mixture. The follower makes an idle web process
let the build before go too: its query workers, and the server's loader of it, which holds the store.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, g, has_request_context, request

from makerkg.config import Settings, grace
from makerkg.errors import MakerkgError
from makerkg.iris import Layout
from makerkg.queries import NamedQuery, load_queries
from makerkg.store import Build, current
from makerkg.store.pool import RETRY_FIRST, RETRY_MAX, SERVER_PATIENCE, NotListening, QueryPool, shared_loader
from makerkg.store.worker import spec_for

if TYPE_CHECKING:
    from makerkg.store.remote import RemotePool

log = logging.getLogger(__name__)
CHECK_EVERY = 1.0  # seconds between looks at OUT/current


@dataclass(frozen=True)
class Snapshot:
    """One build as served: never changes; a new build is a new snapshot."""

    build: Build
    pool: QueryPool | RemotePool
    graphs: frozenset[str]

    @property
    def etag(self) -> str:
        return self.build.info.id

    @property
    def layout(self) -> Layout[str]:
        """The IRI scheme under the build's own base (whatever base the server's settings name)."""
        return Layout(self.build.info.base)

    def href(self, iri: str) -> str:
        """The server path of an IRI the build mints (fragment kept), or the IRI itself."""
        return self.layout.local_path(iri) or iri


class Engine:
    """Holds the current snapshot and the named queries."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._link = self._target()
        # the last build that could not be opened (told once), when it is tried again, and the pause after that
        self._unopened = ("", 0.0, RETRY_FIRST)
        self._seen = ("", 0.0)  # a build not served yet, and when it was first seen
        self._snapshot = self._open(current(settings.out))  # its first query worker starts meanwhile …
        self.queries: dict[str, NamedQuery] = load_queries()
        self._closed = threading.Event()
        self._follower: threading.Thread | None = None
        self._leaving: list[tuple[threading.Timer, QueryPool | RemotePool]] = []  # pools closed after the grace

    def ready(self) -> Engine:
        """Wait until the snapshot answers (raises StoreMissing when its store cannot be opened)."""
        self._snapshot.pool.ready()
        return self

    def follow(self) -> None:
        """Look at ``OUT/current`` each second in a thread of its own and open a new build found there: requests take
        the snapshot it opened last, never waiting for an opening, and a web process that has no request serves the
        new build too (and lets the build before go after the grace period)."""
        if self._follower is None:
            self._follower = threading.Thread(target=self._follow, name="makerkg-follow", daemon=True)
            self._follower.start()

    def _follow(self) -> None:
        while not self._closed.wait(max(CHECK_EVERY, 0.1)):  # read at each turn: tests shorten it
            try:
                self._look()
            except Exception:  # noqa: BLE001 - a follower that ended would leave the process on the build before
                log.exception("looking for a new build failed; looking again in a second")

    def _target(self) -> str:
        try:
            return os.readlink(self.settings.out / "current")
        except OSError:
            return ""

    def _open(self, build: Build, alone: bool = True) -> Snapshot:
        """A snapshot of ``build``; with ``alone`` False, raises NotListening when the server's loader of it does not
        listen yet, rather than start one of this process's own."""
        pool: QueryPool | RemotePool
        if self.settings.store:  # the build's description and dumps are local; its triples are in the store
            # imported here: its HTTP client costs a web process about 0.1 s at every start, for a store most
            # servers never use
            from makerkg.store.remote import RemotePool

            pool = RemotePool(
                self.settings.store,
                self.settings.query_timeout,
                build.info.quads_per_graph,
                self.settings.store_default_graph,
            )
        else:
            # forked by `makerkg serve`'s own loader of this build (one copy of the store, one start for all)
            pool = QueryPool(
                spec_for(build, self.settings),
                self.settings.query_workers,
                self.settings.query_timeout,
                join=shared_loader(build),
                alone=alone,
            )
        return Snapshot(build, pool, frozenset(build.info.quads_per_graph))

    def snapshot(self) -> Snapshot:
        """The build to answer this request from (a newly published build once it is complete), the same for the
        whole request: its body, the build named in its footer and its ETag never come from two builds. Once the
        follower runs, a request never opens a build itself: it takes the one the follower last opened."""
        if not has_request_context():
            return self._latest()
        pinned: Snapshot | None = g.get("makerkg_snapshot")
        if pinned is None:
            pinned = g.makerkg_snapshot = self._snapshot if self._follower is not None else self._latest()
        return pinned

    def _latest(self) -> Snapshot:
        """The current snapshot, after a look at OUT/current when the last one is more than CHECK_EVERY old."""
        if time.monotonic() - self._checked < CHECK_EVERY:
            return self._snapshot
        return self._look()

    def _look(self) -> Snapshot:
        """The current snapshot, after a look at OUT/current: a new build there is opened, unless it failed to open
        before and its pause has not passed (the pauses grow, as the server's loaders' do)."""
        now = time.monotonic()
        # one thread opens a new build, however long that takes; requests go on with the build served meanwhile
        if not self._lock.acquire(blocking=False):
            return self._snapshot
        try:
            if self._closed.is_set():  # a pool opened now would outlive the engine
                return self._snapshot
            self._checked = now
            target = self._target()
            failed, retry, pause = self._unopened
            if target and target != self._link and not (target == failed and now < retry):
                if target != self._seen[0]:
                    self._seen = (target, now)
                try:
                    # seen before the server has started its loader of it: served once that loader listens (one copy
                    # of the store for the whole server), or with a loader of this process's own should it not come
                    fresh = self._open(current(self.settings.out), alone=now - self._seen[1] >= SERVER_PATIENCE)
                    fresh.pool.ready()
                except NotListening:
                    return self._snapshot  # the next look tries again
                except Exception as err:  # noqa: BLE001 - keep serving the old build; the next look tries again
                    if target != failed:  # once, not at every attempt (in each web process)
                        if isinstance(err, MakerkgError):  # it names what failed and where: no traceback needed
                            log.error(
                                "the new build %s cannot be opened (%s); still serving %s", target, err, self._link
                            )
                        else:
                            log.exception("the new build %s cannot be opened; still serving %s", target, self._link)
                        pause = RETRY_FIRST
                    self._unopened = (target, time.monotonic() + pause, min(RETRY_MAX, pause * 2))
                    return self._snapshot
                old, self._snapshot, self._link = self._snapshot, fresh, target
                log.info("now serving build %s", fresh.build.info.id)
                closer = threading.Timer(grace(self.settings), old.pool.close)
                closer.daemon = True  # a stopping server waits for no grace period (the pool's workers die with it)
                closer.start()
                self._leaving = [(c, pool) for c, pool in self._leaving if c.is_alive()] + [(closer, old.pool)]
            return self._snapshot
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop following, then close the pool served (once an opening under way has ended: its pool is the one) and
        those of the builds before, still in their grace period."""
        self._closed.set()
        with self._lock:
            for closer, pool in self._leaving:
                closer.cancel()
                pool.close()
            self._leaving = []
            self._snapshot.pool.close()


def representation_etag(snapshot: Snapshot, content_type: str) -> str:
    """The ETag of the representation this request gets: its build, path, query string and content type."""
    key = b"%s\n%s\n%s" % (request.path.encode(), request.query_string, content_type.encode())
    return f"{snapshot.etag}-{hashlib.blake2b(key, digest_size=8).hexdigest()}"


def get_engine() -> Engine:
    """The engine of the running app."""
    engine = current_app.extensions["makerkg"]
    assert isinstance(engine, Engine)  # noqa: S101 - set by create_app alone
    return engine
