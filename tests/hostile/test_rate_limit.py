"""Rate limiting (settings rate_limit, rate_burst, trusted_proxies): off by default; on, a client past its burst
gets 429 with Retry-After and a one-line message while other clients go on being served."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from makerkg.config import Settings, load
from makerkg.errors import UsageError
from makerkg.pipeline import BuildResult
from makerkg.web import create_app
from makerkg.web.limits import TokenBuckets

CHEAP = "/api/queries"  # answered from memory: no query worker involved
BURST = 5


def _app(built: BuildResult, **overrides: Any) -> Flask:
    return create_app(load(env={}, out=built.build.path.parent.parent, query_workers=1, **overrides))


@pytest.fixture(scope="module")
def limited(built: BuildResult) -> Iterator[Flask]:
    # one request a minute after the burst: the test's requests never earn a token back in time
    application = _app(built, rate_limit=1, rate_burst=BURST)
    yield application
    application.extensions["makerkg"].close()


@pytest.fixture(scope="module")
def behind_proxy(built: BuildResult) -> Iterator[Flask]:
    application = _app(built, rate_limit=1, rate_burst=BURST, trusted_proxies=1)
    yield application
    application.extensions["makerkg"].close()


def client_from(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def exhaust(client: FlaskClient, headers: dict[str, str] | None = None) -> None:
    for _ in range(BURST):
        assert client.get(CHEAP, headers=headers).status_code == 200


def test_off_by_default(built: BuildResult) -> None:
    assert Settings().rate_limit == 0
    application = _app(built)
    try:
        assert "makerkg.limits" not in application.extensions
        client = client_from(application, "192.0.2.1")
        statuses = {client.get(CHEAP).status_code for _ in range(3 * Settings().rate_burst)}
        assert statuses == {200}
    finally:
        application.extensions["makerkg"].close()


def test_the_request_after_the_burst_gets_429_with_retry_after(limited: Flask) -> None:
    client = client_from(limited, "192.0.2.10")
    exhaust(client)
    response = client.get(CHEAP)
    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 60
    body = response.get_data(as_text=True)
    assert body == (
        f"429 Too Many Requests: more than 1 requests a minute from this client (rate_limit); try again in {retry} s\n"
    )


def test_429_is_problem_json_when_asked_and_exposes_retry_after(limited: Flask) -> None:
    client = client_from(limited, "192.0.2.11")
    exhaust(client)
    response = client.get(
        "/sparql?query=ASK%7B%7D", headers={"Accept": "application/problem+json", "Origin": "https://example.org"}
    )
    assert response.status_code == 429
    problem = json.loads(response.data)
    assert problem["status"] == 429 and problem["limit"] == "rate_limit" and "rate_limit" in problem["detail"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


def test_other_clients_are_unaffected(limited: Flask) -> None:
    noisy = client_from(limited, "192.0.2.20")
    exhaust(noisy)
    assert noisy.get(CHEAP).status_code == 429
    quiet = client_from(limited, "192.0.2.21")
    assert [quiet.get(CHEAP).status_code for _ in range(BURST)] == [200] * BURST
    assert noisy.get(CHEAP).status_code == 429


def test_x_forwarded_for_is_not_trusted_by_default(limited: Flask) -> None:
    client = client_from(limited, "192.0.2.30")
    for n in range(BURST):
        assert client.get(CHEAP, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code == 200
    assert client.get(CHEAP, headers={"X-Forwarded-For": "198.51.100.99"}).status_code == 429


def test_trusted_proxy_names_the_client(behind_proxy: Flask) -> None:
    proxy = client_from(behind_proxy, "10.0.0.1")
    first = {"X-Forwarded-For": "203.0.113.1"}
    exhaust(proxy, first)
    assert proxy.get(CHEAP, headers=first).status_code == 429
    # the proxy's own entry is the last; what the client wrote before it is not believed
    assert proxy.get(CHEAP, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 200
    assert proxy.get(CHEAP, headers={"X-Forwarded-For": "203.0.113.2, 203.0.113.1"}).status_code == 429
    # a request that did not come through the proxy counts against the connection's address
    assert proxy.get(CHEAP).status_code == 200


def test_preflight_and_the_sites_own_assets_are_not_counted(limited: Flask) -> None:
    client = client_from(limited, "192.0.2.40")
    exhaust(client)
    preflight = client.options(
        "/sparql", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200
    with client.get("/static/site.css") as asset:
        assert asset.status_code == 200
    assert client.get(CHEAP).status_code == 429


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]
    clock.now += 0.5
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    clock.now += 60
    assert [buckets.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]  # never more than the burst


def test_idle_clients_are_forgotten_and_memory_is_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=2, clock=clock, max_clients=100)
    for n in range(1000):
        buckets.take(f"198.51.100.{n}")
    assert len(buckets) == 100  # the cap: the longest unseen went first
    clock.now += 2  # every bucket has refilled: the same as none
    buckets.take("203.0.113.1")
    assert len(buckets) == 1


def test_buckets_are_thread_safe() -> None:
    buckets = TokenBuckets(per_minute=1, burst=50, clock=Clock())
    granted: list[float] = []

    def hammer() -> None:
        for _ in range(100):
            granted.append(buckets.take("one"))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(granted) == 800
    assert granted.count(0.0) == 50


@pytest.mark.parametrize(
    ("env", "parameter"),
    [
        ({"MAKERKG_RATE_LIMIT": "-1"}, "rate_limit"),
        ({"MAKERKG_RATE_BURST": "0"}, "rate_burst"),
        ({"MAKERKG_TRUSTED_PROXIES": "-2"}, "trusted_proxies"),
        ({"MAKERKG_RATE_LIMIT": "many"}, "rate_limit"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], parameter: str) -> None:
    with pytest.raises(UsageError) as caught:
        load(env=env)
    assert caught.value.parameter == parameter


def test_settings_from_the_environment() -> None:
    settings = load(env={"MAKERKG_RATE_LIMIT": "120", "MAKERKG_RATE_BURST": "7", "MAKERKG_TRUSTED_PROXIES": "1"})
    assert (settings.rate_limit, settings.rate_burst, settings.trusted_proxies) == (120, 7, 1)


SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # runs until the query timeout


def test_a_client_may_have_only_so_many_requests_in_progress(built: BuildResult) -> None:
    """client_concurrency (2 by default): one client's third request while two run gets 429 at once, another
    client is served meanwhile, and the first client is served again once its answers are back."""
    assert Settings().client_concurrency == 2
    application = create_app(load(env={}, out=built.build.path.parent.parent, query_workers=3, query_timeout=3))
    try:
        greedy, other = client_from(application, "192.0.2.30"), client_from(application, "192.0.2.31")
        slow = [threading.Thread(target=lambda: greedy.get("/sparql", query_string={"query": SLOW})) for _ in range(2)]
        for thread in slow:
            thread.start()
        time.sleep(1.0)  # both slow queries under way (they run for 3 s)
        refused = greedy.get(CHEAP)
        served = other.get(CHEAP)
        for thread in slow:
            thread.join()
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert refused.get_data(as_text=True) == (
            "429 Too Many Requests: more than 2 requests at once from this client (client_concurrency); "
            "wait for an answer before sending the next\n"
        )
        assert served.status_code == 200
        assert [greedy.get(CHEAP).status_code for _ in range(5)] == [200] * 5  # each counted out once answered
    finally:
        application.extensions["makerkg"].close()
