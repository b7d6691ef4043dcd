"""Limits per client address: how many requests it may have in progress at once (``client_concurrency``, on by
default), and how many it may send a minute (a token bucket, ``rate_limit``, off by default); both checked before
every request but the cheapest.

A client past either gets 429 with Retry-After and a one-line message. Without the concurrency limit one client
sending slow queries on a few connections took every query worker, and everyone else waited for a 503. Clients on
this machine's loopback address are not held to the concurrency limit (behind a proxy on this machine, set
``trusted_proxies`` so that each client is told apart).

``rate_limit`` requests a minute refill each client's bucket, which holds at most ``rate_burst``; a request finding
it empty gets 429 with Retry-After. The buckets live in one web server process, so with ``workers`` processes a
client spread over several connections may get up to ``workers`` times the limit. Written here rather than taken
from Flask-Limiter: one bucket per address is all that is needed, and it must never block a request on a store.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, g, request

from makerkg.config import Settings, ip_address
from makerkg.web.errors import problem

MAX_CLIENTS = 10_000  # buckets kept at most; idle (full) ones go first, then the longest unseen
EXEMPT_ENDPOINTS = frozenset({"static", "ops.health", "ops.scrape"})  # cost nothing; monitoring must get through


@dataclass
class _Bucket:
    tokens: float
    seen: float  # when the tokens were last counted


class TokenBuckets:
    """Per-client token buckets with bounded memory; thread-safe.

    >>> clock = iter([0.0, 0.0, 0.0, 30.0]).__next__
    >>> buckets = TokenBuckets(per_minute=2, burst=2, clock=clock)
    >>> [buckets.take("a") for _ in range(4)]
    [0.0, 0.0, 30.0, 0.0]
    """

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.rate = per_minute / 60.0  # tokens a second
        self.burst = float(burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently seen first
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one token of ``client``'s bucket: 0.0 if there was one, else the seconds until there is."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.pop(client, None)
            if bucket is None:
                bucket = _Bucket(self.burst, now)
            else:
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.seen) * self.rate)
                bucket.seen = now
            self._buckets[client] = bucket  # to the end: most recently seen
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - bucket.tokens) / self.rate
            self._evict(now)
            return wait

    def _evict(self, now: float) -> None:
        """Forget buckets that have refilled (the same as no bucket), and the longest unseen beyond the cap."""
        full_after = self.burst / self.rate
        while self._buckets:
            client, oldest = next(iter(self._buckets.items()))
            if now - oldest.seen >= full_after or len(self._buckets) > self.max_clients:
                del self._buckets[client]
            else:
                break

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)


class InFlight:
    """Requests in progress per client, each at most ``limit``; thread-safe.

    >>> counts = InFlight(limit=1)
    >>> counts.enter("a"), counts.enter("a"), counts.enter("b")
    (True, False, True)
    >>> counts.leave("a"); counts.enter("a")
    True
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}  # only clients with a request in progress: bounded by the threads
        self._lock = threading.Lock()

    def enter(self, client: str) -> bool:
        """Count a request of ``client`` in, if it has fewer than ``limit`` in progress."""
        with self._lock:
            count = self._counts.get(client, 0)
            if count >= self.limit:
                return False
            self._counts[client] = count + 1
            return True

    def leave(self, client: str) -> None:
        with self._lock:
            count = self._counts.pop(client, 0) - 1
            if count > 0:
                self._counts[client] = count


def register(app: Flask, settings: Settings) -> None:
    """Install the limits on ``app`` that ``settings`` set."""
    if settings.client_concurrency > 0:
        _limit_concurrency(app, settings.client_concurrency)
    if settings.rate_limit <= 0:
        return
    buckets = TokenBuckets(settings.rate_limit, settings.rate_burst)
    app.extensions["makerkg.limits"] = buckets

    @app.before_request
    def limit() -> Response | None:
        if request.method == "OPTIONS" or request.endpoint in EXEMPT_ENDPOINTS:
            return None
        # the connection's peer, or the client the trusted proxies named (trusted_proxies, applied by ProxyFix)
        wait = buckets.take(request.remote_addr or "unknown")
        if wait <= 0.0:
            return None
        seconds = max(1, math.ceil(wait))
        return problem(
            429,
            f"more than {settings.rate_limit} requests a minute from this client (rate_limit); "
            f"try again in {seconds} s",
            {"Retry-After": str(seconds)},
            limit="rate_limit",
        )


def _limit_concurrency(app: Flask, limit: int) -> None:
    """At most ``limit`` requests of one client in progress in this process; a request counts until its answer is
    made (a streamed answer's parts, past 1 MiB, are sent after it)."""
    in_flight = InFlight(limit)
    app.extensions["makerkg.in_flight"] = in_flight

    @app.before_request
    def enter() -> Response | None:
        if request.method == "OPTIONS" or request.endpoint in EXEMPT_ENDPOINTS:
            return None
        client = request.remote_addr or "unknown"
        if _loopback(client):
            return None
        if not in_flight.enter(client):
            return problem(
                429,
                f"more than {limit} requests at once from this client (client_concurrency); wait for an answer "
                "before sending the next",
                {"Retry-After": "1"},
                limit="client_concurrency",
            )
        g.makerkg_in_flight = client
        return None

    @app.teardown_request
    def leave(_: BaseException | None) -> None:
        client = g.pop("makerkg_in_flight", None)
        if client is not None:
            in_flight.leave(client)


def _loopback(address: str) -> bool:
    """Whether a client address is this machine's own: the operator's tools, or a proxy on this machine that was
    not declared in ``trusted_proxies`` (all its clients would share one count).

    >>> _loopback("127.0.0.1"), _loopback("::1"), _loopback("192.0.2.1"), _loopback("unknown")
    (True, True, False, False)
    """
    found = ip_address(address)
    return found is not None and found.is_loopback
