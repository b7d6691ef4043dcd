"""A per-build answer cache: a published build never changes, so the same request within one build gets the same
answer, which is kept and answered again from memory, until the build is replaced.

The cache holds whole answers of GET and HEAD requests (and POSTed queries), keyed by the build and a digest of all
an answer may vary by: the method, path, query string, the ``Accept`` headers, the URL the server was reached at
(answers with links built from the request's host: ``web/public.py``) and a POSTed body. Keys are fixed-size, so the
bytes bound holds whatever the requests (a key holding a POSTed body of 100 kB let memory grow by that much per
distinct request). It is bounded in bytes (answers larger than ``cache_entry_bytes`` are never kept), least
recently used first out; a request saying ``Cache-Control: no-store`` leaves nothing in it (RFC 9111, 5.2.1.5).
Each web server process has its own.
An answer that came from it says so in a ``Cache-Status`` header (RFC 9211). Written here rather than taken from
Flask-Caching, whose in-memory cache bounds the number of entries, not their bytes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from flask import Flask, Response, g, request

from makerkg import metrics
from makerkg.config import Settings
from makerkg.web.public import host_url

NAME = "makerkg"  # the cache's name in Cache-Status
VARY = ("Accept", "Accept-Encoding")  # the request headers an answer may vary by (the key holds them)
UNCACHED_PREFIXES = ("/health", "/metrics", "/static/")  # live figures; files already sent from disk


@dataclass(frozen=True)
class Entry:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def size(self) -> int:
        """Bytes it holds, its key and bookkeeping counted in the 64."""
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 64


class AnswerCache:
    """Answers by key, bounded in bytes, least recently used dropped first; thread-safe.

    >>> cache = AnswerCache(max_bytes=400, max_entry=200)
    >>> cache.put(("b", b"/x"), Entry(200, (), b"x" * 100)); cache.put(("b", b"/y"), Entry(200, (), b"y" * 100))
    >>> cache.get(("b", b"/x")) is not None, cache.get(("b", b"/y")) is not None
    (True, True)
    >>> cache.put(("b", b"/z"), Entry(200, (), b"z" * 100)); cache.get(("b", b"/x")) is None  # /x least recent
    True
    """

    def __init__(self, max_bytes: int, max_entry: int) -> None:
        self.max_bytes = max_bytes
        self.max_entry = max_entry
        self._entries: OrderedDict[tuple[str, bytes], Entry] = OrderedDict()
        self._bytes = 0
        self._build = ""
        self._lock = threading.Lock()

    def get(self, key: tuple[str, bytes]) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[str, bytes], entry: Entry) -> None:
        size = entry.size
        if size > self.max_entry or size > self.max_bytes:
            return
        with self._lock:
            if key[0] != self._build:  # a new build: nothing kept of the old one is worth anything
                self._entries.clear()
                self._bytes = 0
                self._build = key[0]
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def request_key(build: str, body: bytes = b"") -> tuple[str, bytes] | None:
    """The cache key of the current request: its build and a digest of all its answer may vary by; or None for a
    request that is never answered from the cache, nor leaves its answer there."""
    if request.method not in ("GET", "HEAD") and not (request.method == "POST" and request.path == "/sparql"):
        return None
    if request.path.startswith(UNCACHED_PREFIXES) or "Range" in request.headers:
        return None
    if "no-store" in request.headers.get("Cache-Control", ""):
        return None
    method = "GET" if request.method == "HEAD" else request.method  # HEAD is GET's answer without its body
    digest = hashlib.blake2b(digest_size=20)
    # the host the server was reached at (after the trusted proxies' X-Forwarded-*): links in answers are built on
    # it when public_url is not set, and one host's answer must never reach a client of another
    parts = (method, host_url(), request.path, request.query_string.decode("latin-1"))
    for part in (*parts, *(request.headers.get(name, "") for name in VARY)):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(body)
    return (build, digest.digest())


def answer(entry: Entry) -> Response:
    """A response replayed from the cache."""
    response = Response(entry.body, status=entry.status)
    response.headers.clear()
    for name, value in entry.headers:
        response.headers.add(name, value)
    response.headers["Cache-Status"] = f"{NAME}; hit"
    return response


def storable(response: Response) -> Entry | None:
    """What the cache keeps of a response, or None for one it must not keep."""
    if response.status_code != 200 or response.is_streamed or response.direct_passthrough:
        return None
    if "Set-Cookie" in response.headers or "no-store" in response.headers.get("Cache-Control", ""):
        return None
    headers = tuple((k, v) for k, v in response.headers.items() if k not in ("Cache-Status", "Date"))
    return Entry(response.status_code, headers, response.get_data())


def register(app: Flask, settings: Settings) -> AnswerCache | None:
    """Answer repeated requests from a cache on ``app`` (none when ``cache_bytes`` is 0). Call it before any other
    after-request function is registered: Flask runs them in reverse order, and what the cache keeps is the
    answer as it finally leaves (ETag, CORS, Vary, compression)."""
    if settings.cache_bytes <= 0:
        return None
    cache = AnswerCache(settings.cache_bytes, settings.cache_entry_bytes)
    app.extensions["makerkg.cache"] = cache

    @app.after_request
    def keep(response: Response) -> Response:
        key = g.pop("makerkg_cache_key", None)
        if key is not None:
            entry = storable(response)
            if entry is not None:
                cache.put(key, entry)
                response.headers["Cache-Status"] = f"{NAME}; fwd=miss; stored"
        return response

    return cache


def lookup(cache: AnswerCache | None, build: str, body: bytes = b"") -> Response | None:
    """The cached answer to the current request, or None (and then the answer made is kept, if it may be)."""
    if cache is None:
        return None
    key = request_key(build, body)
    if key is None:
        return None
    # a client asking to revalidate (RFC 9111, 5.2.1.4) gets a fresh answer, which is kept in place of the old
    entry = None if "no-cache" in request.headers.get("Cache-Control", "") else cache.get(key)
    metrics.cache_lookup(entry is not None)
    if entry is None:
        if request.method != "HEAD":  # a HEAD answer has no body to keep, and GET's key: never kept in its place
            g.makerkg_cache_key = key
        return None
    response = answer(entry)
    if "If-None-Match" in request.headers:
        response.make_conditional(request)
    return response
