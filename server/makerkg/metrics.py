"""Prometheus metrics of a running server, one registry across its web worker processes.

The query pool and the web layer record through the small functions below; ``/metrics`` reads them back with
``exposition``. Under ``makerkg serve`` every web worker writes its values to files in the directory named by
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode), and a scrape, whichever worker answers it, sums
the files of all of them; without that variable (tests, a single process) the values stay in this process.

The metric objects are made on the first value recorded, not at import: a query worker imports the pool but never
records, and so neither pays for importing prometheus-client nor leaves files of its own behind at every restart.
prometheus-client keeps metrics process-wide by design, hence the one cached instance below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the Prometheus text format
QUERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class _Metrics:
    registry: CollectorRegistry  # this process's values (read when there is no multiprocess directory)
    requests: Counter
    request_seconds: Histogram
    query_seconds: Histogram
    query_timeouts: Counter
    worker_restarts: Counter
    worker_retirements: Counter
    cache_lookups: Counter


@cache
def _metrics() -> _Metrics:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=True)
    return _Metrics(
        registry=registry,
        requests=Counter(
            "makerkg_http_requests",
            "HTTP requests answered, by route (the URL rule, or 'unmatched') and status",
            ["route", "status"],
            registry=registry,
        ),
        request_seconds=Histogram(
            "makerkg_http_request_duration_seconds",
            "Time from a request's arrival at the app to the last byte of its answer, by route",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        ),
        query_seconds=Histogram(
            "makerkg_query_duration_seconds",
            "Time a query took in a query worker, from sending it to its answer",
            buckets=QUERY_BUCKETS,
            registry=registry,
        ),
        query_timeouts=Counter(
            "makerkg_query_timeouts", "Queries stopped at the deadline (query_timeout)", registry=registry
        ),
        worker_restarts=Counter(
            "makerkg_query_worker_restarts",
            "Query worker processes replaced (after a timeout, or when one ended)",
            registry=registry,
        ),
        worker_retirements=Counter(
            "makerkg_query_worker_retirements",
            "Idle query workers replaced by a fresh fork to give back the memory they held (worker_kept_memory)",
            registry=registry,
        ),
        cache_lookups=Counter(
            "makerkg_cache_lookups",
            "Answer cache lookups, by result (hit or miss)",
            ["result"],
            registry=registry,
        ),
    )


def prepare() -> None:
    """Import prometheus-client and make the metrics now, in a process that is about to record (a web worker, while
    its app is made): neither is safe for two request threads to do first at the same moment."""
    import prometheus_client.core
    import prometheus_client.multiprocess  # noqa: F401 - imported for the scrapes to come

    _metrics()


def request_answered(route: str, status: int, seconds: float) -> None:
    """Count an HTTP request answered with ``status`` on ``route`` after ``seconds``."""
    m = _metrics()
    m.requests.labels(route=route, status=str(status)).inc()
    m.request_seconds.labels(route=route).observe(seconds)


def query_finished(seconds: float) -> None:
    """Record a query answered by a query worker after ``seconds``."""
    _metrics().query_seconds.observe(seconds)


def query_timed_out() -> None:
    """Count a query stopped at its deadline."""
    _metrics().query_timeouts.inc()


def worker_restarted() -> None:
    """Count a query worker replaced."""
    _metrics().worker_restarts.inc()


def worker_retired() -> None:
    """Count an idle query worker replaced to give back its memory."""
    _metrics().worker_retirements.inc()


def cache_lookup(hit: bool) -> None:
    """Count a lookup in an answer cache, found or not."""
    _metrics().cache_lookups.labels(result="hit" if hit else "miss").inc()


def build_collector(build: str, age_seconds: float) -> Collector:
    """The served build, as metrics computed at scrape time: its age and its id."""
    from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

    class _Build:
        def collect(self) -> Iterator[Metric]:
            yield GaugeMetricFamily(
                "makerkg_build_age_seconds", "Seconds since the served build was made", value=age_seconds
            )
            yield InfoMetricFamily("makerkg_build", "The build being served", value={"id": build})

    return _Build()


def exposition(*extra: Collector) -> bytes:
    """Every metric in the Prometheus text format: all web workers' values (or this process's), then the ``extra``
    collectors, computed now."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get(MULTIPROC_ENV):
        recorded = CollectorRegistry()
        MultiProcessCollector(recorded)  # type: ignore[no-untyped-call]
    else:
        recorded = _metrics().registry
    now = CollectorRegistry()
    for collector in extra:
        now.register(collector)
    return generate_latest(recorded) + generate_latest(now)
