"""Faults while `makerkg serve` runs: a query worker or a web worker killed under load, a build published (or
failing) while clients query, and a store missing or damaged at start. Each test starts its own server on its own
copy of the build; every request loop is bounded in count and time."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import pytest

from makerkg.config import Settings
from makerkg.errors import ServeFailed, UsageError
from makerkg.launch import Server, free_port, start, stop
from makerkg.pipeline import BuildResult
from makerkg.store import current

pytestmark = pytest.mark.e2e

CHEAP = [
    "/api/queries/provinces-without-regional?edition=8",
    "/api/queries/orgs-ranked",
    "/api/queries/tracks-compared",
    "/sparql?"
    + urllib.parse.urlencode({"query": "SELECT ?n WHERE { ?e <https://w3id.org/makerkg/ontology#ordinal> ?n }"}),
]
JSON = {"Accept": "application/json, application/sparql-results+json;q=0.9"}
HTML = {"Accept": "text/html"}
BEIJING = "https://w3id.org/makerkg/edition/11/regional/110000"
PAGE_QUERY = "/sparql?" + urllib.parse.urlencode(
    {"query": f"SELECT ?page WHERE {{ <{BEIJING}> <https://w3id.org/makerkg/ontology#registrationPage> ?page }}"}
)
OLD_SITE, NEW_SITE = "https://www.smebj.cn/", "https://rebuilt.smebj.cn/"


# --- processes ----------------------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (from /proc; empty once it has gone)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listing:
                found.extend(int(p) for p in listing.read().split())
    except OSError:
        return []
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            return raw.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def web_workers(server: Server) -> list[int]:
    """granian's worker processes: the children of the app server that `makerkg serve` started (granian forks
    them, so they share its command line; multiprocessing's helpers do not)."""
    masters = [p for p in children(server.process.pid) if "-m granian" in cmdline(p)]
    return [w for m in masters for w in children(m) if "-m granian" in cmdline(w) and alive(w)]


def query_workers(web_worker: int) -> list[int]:
    """The query worker processes of one web worker: the loader that forked them (the server's own, which its web
    processes share, or one a web worker started itself) names each after the web worker it answers."""
    name = f"query {web_worker}"
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii") as comm:
                    if comm.read().strip() == name and alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def shared_loader(server: Server, build: Path) -> int:
    """The one process that forked every query worker on ``build`` of every web worker: asserted to be a loader of
    `makerkg serve` itself (one copy of the store, one start for the whole server)."""
    workers = [q for w in web_workers(server) for q in query_workers(w) if has_store_open(q, build)]
    assert len(workers) == Settings().workers * Settings().query_workers, workers
    [loader] = {parent(q) for q in workers}
    assert parent(loader) == server.process.pid and "spawn_main" in cmdline(loader)
    return loader


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def has_store_open(pid: int, build: Path) -> bool:
    """Whether a query worker holds the build open (it does once it has loaded the store, and tells its pool it is
    ready right after)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(build) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def full_strength(
    server: Server, workers: int = Settings().workers, per_worker: int = Settings().query_workers
) -> bool:
    """Every web worker runs with every query worker ready on the current build's store."""
    store = current(server.out).path.resolve()
    found = web_workers(server)
    return len(found) == workers and all(
        len(ready) == per_worker for ready in ([q for q in query_workers(w) if has_store_open(q, store)] for w in found)
    )


# --- clients ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    path: str
    status: int  # 0: the connection failed
    body: bytes
    headers: dict[str, str]
    error: str = ""


class Client:
    """One keep-alive connection to the server, opened again after a failure."""

    def __init__(self, server: Server) -> None:
        self.port = int(server.url.rsplit(":", 1)[1])
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> Outcome:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            self.conn.request("GET", path, headers=headers or JSON)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            return Outcome(path, 0, b"", {}, f"{type(err).__name__}: {err}")
        if response.will_close:
            self.close()
        return Outcome(path, response.status, body, {k.lower(): v for k, v in response.getheaders()})

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Load:
    """Threads sending cheap requests until stopped, or at most ``limit`` each, or for ``seconds``."""

    server: Server
    threads: int = 4
    limit: int = 2_000
    seconds: float = 300.0
    paths: list[str] = field(default_factory=lambda: list(CHEAP))
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        deadline = time.monotonic() + self.seconds
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, args=(n, deadline), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def _run(self, n: int, deadline: float) -> None:
        client = Client(self.server)
        for i in range(self.limit):
            if self._stop.is_set() or time.monotonic() > deadline:
                break
            path = self.paths[(n + i) % len(self.paths)]
            outcome = client.get(path, JSON if path.startswith(("/api/", "/sparql")) else HTML)
            with self._lock:
                self.outcomes.append(outcome)
        client.close()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=self.seconds + 60)

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def recent(self, n: int) -> list[Outcome]:
        with self._lock:
            return self.outcomes[-n:]

    def wait_for(self, requests: int, seconds: float = 180) -> None:
        wait_until(lambda: self.count() >= requests, seconds, f"{requests} requests answered")


def copy_out(built: BuildResult, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    return out


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers for one test; each is stopped at the end whatever happens."""
    running: list[Server] = []

    def make(out: Path, **env: str) -> Server:
        server = start(out, tmp_path / f"serve-{len(running)}.log", env)
        running.append(server)
        wait_until(lambda: full_strength(server), 180, "every web worker has its query workers")
        # a web worker finishes booting just after its first query worker is ready: a query worker killed before
        # then fails the boot (granian starts the worker again); let the boots end
        time.sleep(1.0)
        return server

    yield make
    for server in running:
        stop(server)


def log_of(server: Server, tmp_path: Path) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(tmp_path.glob("serve-*.log")))


def sequential_ok(server: Server, count: int = 20) -> Counter[str]:
    """The answers to ``count`` requests one after the other: "200", or the status and error of each other."""
    client = Client(server)
    outcomes = [client.get(CHEAP[i % len(CHEAP)]) for i in range(count)]
    client.close()
    return Counter(str(o.status) if o.status == 200 else f"{o.status} {o.error} {o.body[:100]!r}" for o in outcomes)


# --- a. a query worker killed -------------------------------------------------------------------------------------


def test_the_web_workers_query_workers_come_from_the_server_s_loader(
    built: BuildResult, tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """The loader that checked the store at the start forks every web worker's query workers; a web worker kills and
    replaces its own, from the same loader."""
    out = copy_out(built, tmp_path)
    server = serve(out)
    store = current(out).path.resolve()
    loader = shared_loader(server, store)
    web = web_workers(server)[0]
    victim = query_workers(web)[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not alive(victim) and full_strength(server), 30, "the web worker replaced its query worker")
    assert shared_loader(server, store) == loader and victim not in query_workers(web)


def test_a_killed_query_worker_fails_at_most_its_own_request(
    built: BuildResult, tmp_path: Path, serve: Callable[..., Server]
) -> None:
    server = serve(copy_out(built, tmp_path), query_timeout="5")
    killed: list[int] = []
    with Load(server, threads=4) as load:
        load.wait_for(200)
        for web in web_workers(server):  # every query worker of every web worker, one after the other
            for pid in query_workers(web):
                before = load.count()
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                load.wait_for(before + 100)
        load.wait_for(load.count() + 200)
    failed = [o for o in load.outcomes if o.status != 200]
    print(f"query workers killed: {len(killed)}; requests: {len(load.outcomes)}; failed: {len(failed)}")
    assert len(killed) == Settings().workers * Settings().query_workers  # every query worker of every web worker
    assert len(failed) <= len(killed), Counter((o.status, o.error, o.body[:300]) for o in failed)
    for outcome in failed:  # only the request in flight on a killed worker, answered 503 with why
        assert outcome.status == 503, outcome
        assert json.loads(outcome.body)["detail"] == "the query worker stopped unexpectedly; try again"
        assert outcome.headers["retry-after"] == "1"
    wait_until(lambda: full_strength(server), 180, "the pools replaced their workers")
    assert not set(killed) & {q for w in web_workers(server) for q in query_workers(w)}
    assert sequential_ok(server) == Counter({"200": 20})


def test_a_query_worker_killed_while_idle_costs_no_request(
    built: BuildResult, tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """Regression: a worker that had died while idle was handed the next job, which failed with 503."""
    server = serve(copy_out(built, tmp_path), query_timeout="5")
    killed = [pid for web in web_workers(server) for pid in query_workers(web)]
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    # by pid: a dying process's command line reads empty before it has ended
    wait_until(lambda: not any(alive(p) for p in killed), 10, "the query workers have ended")
    statuses = sequential_ok(server, 40)
    assert statuses == Counter({"200": 40}), statuses
    assert "ended while idle" in log_of(server, tmp_path)


# --- b. a web worker killed ---------------------------------------------------------------------------------------


def test_a_killed_web_worker_is_replaced_and_the_server_keeps_answering(
    built: BuildResult, tmp_path: Path, serve: Callable[..., Server]
) -> None:
    server = serve(copy_out(built, tmp_path), query_timeout="5")
    victim = web_workers(server)[0]
    orphans = query_workers(victim)
    with Load(server, threads=4) as load:
        load.wait_for(200)
        before = load.count()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: full_strength(server) and victim not in web_workers(server), 180, "a new web worker")
        load.wait_for(before + 300)
    after_kill = load.outcomes[before:]
    lost = [o for o in after_kill if o.status != 200]
    print(f"web worker killed; requests after the kill: {len(after_kill)}; lost: {len(lost)}")
    # at most the request each client had in flight on the killed worker's connections
    assert len(lost) <= load.threads, Counter((o.status, o.error) for o in lost)
    # nginx's 502 (Bad Gateway) for a request the killed worker had under way, or a dropped connection; never a
    # wrong answer
    assert all(o.status in (0, 502) for o in lost), Counter((o.status, o.error) for o in lost)
    assert all(o.status == 200 for o in load.outcomes[: before - load.threads])
    wait_until(lambda: not any(alive(p) for p in orphans), 30, "the killed worker's query workers exited")
    assert sequential_ok(server) == Counter({"200": 20})


# --- c. a build published while serving ---------------------------------------------------------------------------


def build_into(out: Path, sources: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerkg.cli", "build", "--sources", str(sources), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sites(outcome: Outcome) -> frozenset[str]:
    return frozenset(b["page"]["value"] for b in json.loads(outcome.body)["results"]["bindings"])


BUILD_ID = re.compile(r"build (\d{8}T\d{6}Z-[0-9a-f]{8})")


def page_state(outcome: Outcome) -> tuple[str, str, str]:
    """What a resource page says: the site it shows, the build its footer names, the build its ETag names."""
    html = outcome.body.decode()
    shown = OLD_SITE if OLD_SITE in html else NEW_SITE if NEW_SITE in html else "neither"
    footer = BUILD_ID.search(html)
    return shown, footer.group(1) if footer else "", outcome.headers.get("etag", "").strip('W/"').rsplit("-", 1)[0]


def test_a_build_published_while_serving_is_picked_up_whole(
    built: BuildResult, tmp_path: Path, serve: Callable[..., Server], copy_sources: Callable[..., Path]
) -> None:
    out = copy_out(built, tmp_path)
    old_id, old_path = current(out).info.id, current(out).path.resolve()
    server = serve(out, query_timeout="5")
    first = shared_loader(server, old_path)
    sources = copy_sources("plan-11.txt", lambda plan: plan.replace(OLD_SITE, NEW_SITE, 1))
    paths = [PAGE_QUERY, "/edition/11/regional/110000"]
    with Load(server, threads=4, limit=100_000, paths=paths) as load:
        load.wait_for(100)
        built_new = build_into(out, sources)
        assert built_new.returncode == 0, built_new.stderr
        new_id = current(out).info.id
        assert new_id != old_id
        published = load.count()

        def serving_new() -> bool:
            recent = load.recent(40)
            return load.count() > published + 40 and all(
                sites(o) == {NEW_SITE} if o.path == PAGE_QUERY else page_state(o)[0] == NEW_SITE for o in recent
            )

        wait_until(serving_new, 180, "the new build is served")
        load.wait_for(load.count() + 100)
        # the new build's workers too come from a loader of the server's, not one per web worker: a web worker that
        # sees the build before that loader listens keeps serving the old build meanwhile
        wait_until(lambda: full_strength(server), 60, "every web worker has its query workers on the new build")
        assert shared_loader(server, current(out).path.resolve()) != first
    answers = Counter(sites(o) if o.path == PAGE_QUERY else page_state(o) for o in load.outcomes if o.status == 200)
    print(f"requests: {len(load.outcomes)}; answers: {dict(answers)}")
    assert all(o.status == 200 for o in load.outcomes), Counter((o.status, o.error) for o in load.outcomes)
    assert set(answers) <= {
        frozenset({OLD_SITE}),
        frozenset({NEW_SITE}),
        (OLD_SITE, old_id, old_id),
        (NEW_SITE, new_id, new_id),
    }, answers
    assert answers[frozenset({OLD_SITE})] and answers[frozenset({NEW_SITE})]


def test_two_builds_at_once_while_serving_lose_no_request(
    built: BuildResult, tmp_path: Path, serve: Callable[..., Server], copy_sources: Callable[..., Path]
) -> None:
    """Two `makerkg build`s started together into the served directory (the same content, so the same second and
    digest): one waits for the other's lock, each publishes a build of its own, and no request of the load gets
    anything but a whole answer."""
    out = copy_out(built, tmp_path)
    old_id = current(out).info.id
    server = serve(out, query_timeout="5")
    sources = copy_sources("plan-11.txt", lambda plan: plan.replace(OLD_SITE, NEW_SITE, 1))
    with Load(server, threads=4, limit=100_000, paths=[PAGE_QUERY, "/dumps/"]) as load:
        load.wait_for(100)
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: build_into(out, sources), range(2)))
        assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
        wait_until(lambda: all(sites(o) == {NEW_SITE} for o in load.recent(40) if o.path == PAGE_QUERY), 180,
                   "the new build is served")  # fmt: skip
        load.wait_for(load.count() + 100)
    ids = {line.split()[1] for r in results for line in r.stdout.splitlines() if line.startswith("built ")}
    assert len(ids) == 2 and old_id not in ids and current(out).info.id in ids, [r.stdout for r in results]
    assert all(o.status == 200 for o in load.outcomes), Counter((o.status, o.error) for o in load.outcomes)


def test_a_failing_build_while_serving_changes_nothing(
    built: BuildResult, tmp_path: Path, serve: Callable[..., Server], copy_sources: Callable[..., Path]
) -> None:
    out = copy_out(built, tmp_path)
    before = sorted(p.name for p in (out / "builds").iterdir())
    old_id = current(out).info.id
    server = serve(out, query_timeout="5")
    sources = copy_sources(
        "plan-11.txt", lambda plan: plan.replace("二、区域赛（共 35 场）", "二、区域赛（共 36 场）", 1)
    )
    with Load(server, threads=4, limit=100_000, paths=[PAGE_QUERY]) as load:
        load.wait_for(100)
        failed = build_into(out, sources)
        load.wait_for(load.count() + 200)  # well past the engine's next looks at OUT/current
    assert failed.returncode == 3
    assert failed.stderr.strip().count("\n") == 0 and "36" in failed.stderr and "plan-11.txt" in failed.stderr
    assert current(out).info.id == old_id
    assert sorted(p.name for p in (out / "builds").iterdir()) == before  # nothing partial left behind
    assert all(o.status == 200 and sites(o) == {OLD_SITE} for o in load.outcomes)


# --- d. no usable store at start ----------------------------------------------------------------------------------


def damage_nothing(store: Path) -> None:
    return None


def delete_store(store: Path) -> None:
    shutil.rmtree(store)


def empty_store(store: Path) -> None:
    shutil.rmtree(store)
    store.mkdir()


def garbage_files(store: Path) -> None:
    for path in store.iterdir():
        if path.is_file():
            path.write_bytes(os.urandom(max(64, path.stat().st_size)))


def garbage_tables(store: Path) -> None:
    for path in store.glob("*.sst"):
        path.write_bytes(os.urandom(path.stat().st_size))


def another_store(store: Path) -> None:
    """A store that opens and answers, but is not the build's: one triple."""
    shutil.rmtree(store)
    other = ox.Store(str(store))
    other.add(ox.Quad(ox.NamedNode("urn:a"), ox.NamedNode("urn:b"), ox.NamedNode("urn:c"), ox.DefaultGraph()))
    other.flush()
    del other


def garbage_description(store: Path) -> None:
    (store.parent / "build.json").write_text("{not json", encoding="utf-8")


def dangling_current(store: Path) -> None:
    shutil.rmtree(store.parent)


def delete_graph_file(store: Path) -> None:
    (store.parent / "graph.nq").unlink()


def garbage_graph_file(store: Path) -> None:
    with (store.parent / "graph.nq").open("ab") as handle:
        handle.write(b"<urn:a> <urn:b> not n-quads .\n")


def union_file_short(store: Path) -> None:
    union = store.parent / "union.nt"
    union.write_bytes(b"".join(union.read_bytes().splitlines(keepends=True)[1:]))


# name → (the engine that reads what is damaged, the damage, the one line `makerkg serve` prints)
DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "store deleted": ("disk", delete_store, "the build is incomplete (no build.json or store)"),
    "store directory empty": ("disk", empty_store, "the store cannot be opened (IO error: No such file or directory"),
    "every store file garbage": ("disk", garbage_files, "the store cannot be opened (Corruption:"),
    "the store's tables garbage": ("disk", garbage_tables, "the store cannot be opened (Corruption:"),
    "another store in its place": ("disk", another_store, "the store holds 1 statements where build.json counts"),
    "build.json garbage": ("memory", garbage_description, "unreadable build description"),
    "current points at nothing": ("memory", dangling_current, "no built graph here"),
    "graph.nq deleted": ("memory", delete_graph_file, "graph.nq: No such file or directory"),
    "graph.nq garbage": ("memory", garbage_graph_file, "graph.nq: "),
    "union.nt short of a line": ("memory", union_file_short, "statements where build.json counts"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_serve_refuses_a_missing_or_damaged_store_in_one_line(built: BuildResult, tmp_path: Path, damage: str) -> None:
    out = copy_out(built, tmp_path)
    store = current(out).store_dir
    engine, harm, expected = DAMAGE[damage]
    harm(store)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "makerkg.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "MAKERKG_OUT": str(out), "MAKERKG_ENGINE": engine},
        start_new_session=True,
    )
    answered = 0
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:  # it must never accept a connection
            with socket.socket() as probe:
                answered += probe.connect_ex(("127.0.0.1", port)) == 0
            time.sleep(0.05)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 5, stderr
    assert answered == 0
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("makerkg: ") and expected in lines[0], lines[0]
    assert stdout == b""


def test_the_launcher_quotes_the_log_of_a_server_that_exits(tmp_path: Path) -> None:
    """makerkg.launch.start over a directory without a build fails at once with the exit code and the log's end."""
    with pytest.raises(ServeFailed, match="exited with 5") as failed:
        start(tmp_path, tmp_path / "serve.log")
    assert f"makerkg: {tmp_path}: no built graph here" in failed.value.log_tail


def test_the_launcher_refuses_an_unknown_setting_by_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="query_timeut: no such setting"):
        start(tmp_path, tmp_path / "serve.log", {"query_timeut": "3"})
    assert not (tmp_path / "serve.log").exists()


def test_an_intact_copy_serves(built: BuildResult, tmp_path: Path, serve: Callable[..., Server]) -> None:
    """The same steps as above without damage: the copy serves (so the refusals above are the damage's)."""
    out = copy_out(built, tmp_path)
    damage_nothing(current(out).store_dir)
    server = serve(out)
    assert sequential_ok(server, 4) == Counter({"200": 4})
