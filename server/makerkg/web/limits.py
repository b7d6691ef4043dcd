"""Rate limiting, off by default: a token bucket per client address, checked before every request.

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

from flask import Flask, Response, request

from makerkg.config import Settings
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


def register(app: Flask, settings: Settings) -> None:
    """Install the limiter on ``app`` when ``settings.rate_limit`` is set; nothing otherwise."""
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
