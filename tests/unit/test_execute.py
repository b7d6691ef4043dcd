"""Running a job on an Oxigraph store: the engine's own reading decides, caps cut answers between rows and say so,
and every writer's output stays well-formed."""

from __future__ import annotations

import array
import contextlib
import json
import logging
import multiprocessing
import os
import pickle
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import xml.dom.minidom
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest

from makerkg import metrics
from makerkg.config import Settings
from makerkg.errors import (
    Busy,
    QueryFailed,
    QueryRefused,
    QuerySyntaxError,
    QueryTimeout,
    StoreMissing,
    WorkerLost,
)
from makerkg.pipeline import BuildResult
from makerkg.store import current, execute
from makerkg.store import pool as pool_module
from makerkg.store.execute import PART_BYTES, STREAM_AFTER, answers, evaluate, output
from makerkg.store.pool import (
    LOW_PRIORITY,
    SLOW,
    WORKER_NICENESS,
    QueryPool,
    SharedLoaders,
    _Late,
    _state,
    _Worker,
    base_priority,
    message,
    shared_socket,
)
from makerkg.store.query import Answer, Job, select, value
from makerkg.store.worker import RETIRE_IDLE, spec_for

EX = "http://example.org/"
G1, G2 = EX + "g1", EX + "g2"
JSON, XML, CSV, TSV, TURTLE = (
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
    "text/turtle",
)


@pytest.fixture(scope="module")
def store() -> ox.Store:
    store = ox.Store()
    for n in range(50):
        store.add(ox.Quad(ox.NamedNode(f"{EX}s{n}"), ox.NamedNode(EX + "p"), ox.Literal(f"v{n}"), ox.NamedNode(G1)))
    store.add(
        ox.Quad(ox.NamedNode(EX + "x"), ox.NamedNode(EX + "q"), ox.Literal("杭州", language="zh"), ox.NamedNode(G2))
    )
    for quad in list(store):
        store.add(ox.Quad(quad.subject, quad.predicate, quad.object, ox.DefaultGraph()))
    return store


def run(store: ox.Store, job: Job) -> tuple[Answer, bytes]:
    messages = list(answers(execute.run(store, job)))
    first = messages[0]
    assert isinstance(first, Answer)
    return first, first.body + b"".join(m for m in messages[1:] if isinstance(m, bytes))


def job(query: str, form: str | None = "SELECT", media: str = JSON, **extra: object) -> Job:
    return Job(query, form, media, max_rows=extra.pop("max_rows", 1000), **extra)  # type: ignore[arg-type]


def test_predefined_prefixes_and_the_base_resolve_names(store: ox.Store) -> None:
    text = "SELECT ?v WHERE { <x> <q> ?v FILTER(DATATYPE(?v) = rdf:langString) }"
    answer, body = run(store, job(text, base_iri=EX, prefixes=True))
    assert [b["v"]["value"] for b in json.loads(body)["results"]["bindings"]] == ["杭州"]


def test_a_query_s_own_prefix_wins(store: ox.Store) -> None:
    text = "PREFIX rdf: <http://example.org/> SELECT ?v WHERE { ?s rdf:q ?v }"
    _, body = run(store, job(text, prefixes=True))
    assert len(json.loads(body)["results"]["bindings"]) == 1


def test_an_undeclared_prefix_is_named(store: ox.Store) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        evaluate(store, job("SELECT * WHERE {\n  ?s foo:bar ?o }"))
    assert caught.value.message == (
        "SPARQL syntax error at line 2, column 13: the prefix foo: is not declared (declare it with PREFIX foo: <…>)"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param(
            "SELECT (SUM(?r) AS ?sum) (?sum / 3 AS ?x) WHERE { ?s ?p ?r }",
            "SPARQL syntax error at line 1, column 61: the SELECT contains an expression with a variable that is unbound",
            id="the parser's own reason, not a list of tokens",
        ),
        pytest.param(
            "# hi",
            "SPARQL syntax error at line 1, column 5: found the end of the text, expected more text",
            id="the end of the text after a comment, not the comment's last word",
        ),
        pytest.param(
            "SELEC * {}", "SPARQL syntax error at line 1, column 10: found '}', expected CONSTRUCT", id="a token"
        ),
        pytest.param(
            "SELECT * WHERE { ?s ?p ?o } LIMIT lots",
            "SPARQL syntax error at line 1, column 35: found 'lots', expected HAVING, OFFSET, OPTIONAL, VALUES or a name or "
            "number",
            id="a position inside a word shows the word",
        ),
    ],
)
def test_syntax_errors_say_what_was_found_and_why(store: ox.Store, query: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        evaluate(store, job(query))
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("query", "graphs", "count"),
    [
        pytest.param(f"SELECT * FROM <{G1}> {{ ?s ?p ?o }}", {}, 50, id="FROM a graph of the dataset"),
        pytest.param(f"SELECT * FROM <{EX}absent> {{ ?s ?p ?o }}", {}, 0, id="FROM a graph it lacks: empty"),
        pytest.param(f"SELECT * FROM NAMED <{G2}> {{ GRAPH ?g {{ ?s ?p ?o }} }}", {}, 1, id="FROM NAMED"),
        pytest.param("SELECT * { ?s ?p ?o }", {"default_graphs": (G2,)}, 1, id="default-graph-uri"),
        pytest.param("SELECT * { ?s ?p ?o }", {"default_graphs": (EX + "absent",)}, 0, id="default-graph-uri absent"),
        pytest.param("SELECT * { GRAPH ?g { ?s ?p ?o } }", {"named_graphs": (G2,)}, 1, id="named-graph-uri"),
        pytest.param("SELECT * { ?s ?p ?o }", {"named_graphs": (G2,)}, 0, id="named-graph-uri alone: no default graph"),
        pytest.param(
            "SELECT * { GRAPH ?g { ?s ?p ?o } }", {"default_graphs": (G1,)}, 0, id="default-graph-uri alone: no named"
        ),
        pytest.param(
            f"SELECT * FROM <{G1}> {{ ?s ?p ?o }}", {"default_graphs": (G2,)}, 1, id="the protocol's dataset wins"
        ),
    ],
)
def test_the_dataset_is_selected_never_fetched(
    store: ox.Store, query: str, graphs: dict[str, object], count: int
) -> None:
    _, body = run(store, job(query, **graphs))
    assert len(json.loads(body)["results"]["bindings"]) == count


def test_a_form_the_engine_reads_otherwise_is_refused(store: ox.Store) -> None:
    with pytest.raises(QueryRefused):
        evaluate(store, job("ASK {}", form="SELECT"))


def test_an_evaluation_error_is_a_failure_with_the_engine_s_message(store: ox.Store) -> None:
    with pytest.raises(QueryFailed) as caught:
        run(store, job("SELECT * { SERVICE ?nowhere { ?s ?p ?o } }"))
    assert "unbound" in caught.value.message


@pytest.mark.parametrize("media", [JSON, XML, CSV, TSV])
def test_the_row_cap_cuts_between_rows_and_says_so(store: ox.Store, media: str) -> None:
    answer, body = run(
        store, job("SELECT ?s WHERE { ?s <http://example.org/p> ?o } ORDER BY ?s", media=media, max_rows=7)
    )
    assert answer.truncated == "max_rows=7"
    if media == JSON:
        document = json.loads(body)
        assert (len(document["results"]["bindings"]), document["head"]["link"]) == (7, ["urn:makerkg:result-truncated"])
    elif media == XML:
        dom = xml.dom.minidom.parseString(body)
        assert len(dom.getElementsByTagName("result")) == 7
        assert dom.getElementsByTagName("link")[0].getAttribute("href") == "urn:makerkg:result-truncated"
    else:
        assert len(body.decode().splitlines()) == 8  # the header and seven rows


def test_the_byte_cap_cuts_between_rows_and_says_so(store: ox.Store) -> None:
    answer, body = run(store, job("SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o }", max_bytes=600))
    document = json.loads(body)
    assert answer.truncated == "max_answer_bytes=600"
    assert 0 < len(document["results"]["bindings"]) < 50 and len(body) < 600 + 200


@pytest.mark.parametrize("media", [JSON, XML, CSV, TSV])
@pytest.mark.parametrize("max_bytes", [300, 1000, 2400, 2600, 4000])
def test_no_answer_passes_the_byte_cap_head_and_tail_counted(store: ox.Store, media: str, max_bytes: int) -> None:
    """The cap bounds the whole answer: an outside check found JSON and XML answers a head's length over it, and
    one over it said to be whole (the engine's serialiser stopped past the cap, the row writer then counted rows
    only)."""
    answer, body = run(
        store, job("SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o }", media=media, max_bytes=max_bytes)
    )
    assert len(body) <= max_bytes
    rows = len(list(store.query("SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o }")))
    if answer.truncated is None:
        assert media != JSON or len(json.loads(body)["results"]["bindings"]) == rows
    else:
        assert answer.truncated == f"max_answer_bytes={max_bytes}"


def test_a_whole_answer_is_not_cut(store: ox.Store) -> None:
    answer, body = run(store, job("SELECT ?s WHERE { ?s <http://example.org/p> ?o }", max_rows=50))
    assert (answer.truncated, answer.streamed, len(json.loads(body)["results"]["bindings"])) == (None, False, 50)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * { ?s ?p ?o } ORDER BY ?s ?o",
        "SELECT ?s ?v ?g { GRAPH ?g { ?s ?p ?o } OPTIONAL { ?s <q> ?v } } ORDER BY ?s",  # unbound cells, a lang string
        'SELECT ?n ?t { BIND(42 AS ?n) BIND(<<( <a> <b> "c" )>> AS ?t) }',  # a typed literal, a triple term
        "SELECT ?z { ?s ?p ?o }",  # rows with no binding: {}
    ],
)
def test_a_small_answer_is_the_engine_s_own_serialisation_and_reads_as_the_row_writer_s(
    store: ox.Store, query: str
) -> None:
    """Written by Oxigraph's serialiser when no cap can bite, with the same bindings the row writer writes."""
    small = job(query, base_iri=EX)
    answer, body = run(store, small)
    assert body == store.query(query, base_iri=EX).serialize(format=ox.QueryResultsFormat.JSON)
    by_rows = b"".join(output(evaluate(store, small), small).parts)
    assert answer.truncated is None and json.loads(body)["results"] == json.loads(by_rows)["results"]
    assert len(json.loads(body)["results"]["bindings"]) == len(list(store.query(query, base_iri=EX)))


def test_an_answer_at_the_row_cap_is_whole_and_one_past_it_is_cut(store: ox.Store) -> None:
    query = "SELECT ?s WHERE { ?s <http://example.org/p> ?o } ORDER BY ?s"
    answer, body = run(store, job(query, max_rows=50))
    assert (answer.truncated, len(json.loads(body)["results"]["bindings"])) == (None, 50)
    answer, body = run(store, job(query, max_rows=49))
    assert (answer.truncated, len(json.loads(body)["results"]["bindings"])) == ("max_rows=49", 49)


@pytest.mark.parametrize(("caps", "truncated"), [({"max_rows": 7}, "max_rows=7"), ({"max_bytes": 900}, None)])
def test_a_cut_answer_is_evaluated_once(
    store: ox.Store, monkeypatch: pytest.MonkeyPatch, caps: dict[str, int], truncated: str | None
) -> None:
    """A JSON answer past a cap is cut from what the engine's serialiser wrote, not evaluated again (an outside
    check found a slow GROUP BY past max_rows timing out in JSON and not in CSV: it ran twice)."""
    calls = []
    monkeypatch.setattr(execute, "evaluate", lambda *args: calls.append(1) or evaluate(*args))
    query = "SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o } ORDER BY ?s"
    answer, body = run(store, job(query, **caps))
    assert len(calls) == 1
    expected = truncated or f"max_answer_bytes={caps['max_bytes']}"
    assert answer.truncated == expected and json.loads(body)["head"]["link"] == ["urn:makerkg:result-truncated"]
    bindings = json.loads(body)["results"]["bindings"]
    everything = [r["s"]["value"] for r in json.loads(run(store, job(query))[1])["results"]["bindings"]]
    assert [r["s"]["value"] for r in bindings] == everything[: len(bindings)]  # the first rows, in order
    assert len(bindings) == caps.get("max_rows", len(bindings)) and len(body) <= caps.get("max_bytes", 10**9)


@pytest.mark.parametrize(("rows", "max_rows"), [(3, 7), (7, 7), (8, 7), (40, 7), (3, 1)])
def test_literals_that_look_like_row_boundaries_are_read_as_text(
    monkeypatch: pytest.MonkeyPatch, rows: int, max_rows: int
) -> None:
    """Rows are counted from above in the engine's output (``},{`` between two rows), then exactly once that
    passes the cap: text holding ``},{`` neither cuts an answer nor has it evaluated twice (an outside check timed
    such a query at twice its time in CSV)."""
    store = ox.Store()
    for n in range(rows):
        literal = ox.Literal("},{" * (20 + 3000 * (n % 2)) + '"}')  # some cross the serialiser's 8 KiB writes
        store.add(ox.Quad(ox.NamedNode(f"{EX}s{n:02}"), ox.NamedNode(EX + "p"), literal, ox.DefaultGraph()))
    calls = []
    monkeypatch.setattr(execute, "evaluate", lambda *args: calls.append(1) or evaluate(*args))
    answer, body = run(store, job("SELECT * { ?s ?p ?o } ORDER BY ?s", max_rows=max_rows))
    bindings = json.loads(body)["results"]["bindings"]
    assert [b["s"]["value"] for b in bindings] == [f"{EX}s{n:02}" for n in range(min(rows, max_rows))]
    assert answer.truncated == (f"max_rows={max_rows}" if rows > max_rows else None)
    assert len(calls) == 1


def test_a_long_answer_streams_in_parts() -> None:
    store = ox.Store()
    big = "x" * 10_000
    for n in range(300):
        store.add(ox.Quad(ox.NamedNode(f"{EX}s{n}"), ox.NamedNode(EX + "p"), ox.Literal(big), ox.DefaultGraph()))
    query = job("SELECT * { ?s ?p ?o }", max_rows=10_000)
    messages = list(answers(output(evaluate(store, query), query)))
    first = messages[0]
    assert isinstance(first, Answer) and first.streamed and len(first.body) > STREAM_AFTER
    assert all(isinstance(m, bytes) and len(m) <= PART_BYTES + 20_100 for m in messages[1:])
    body = first.body + b"".join(m for m in messages[1:] if isinstance(m, bytes))
    assert len(json.loads(body)["results"]["bindings"]) == 300


def test_xml_answers_stay_well_formed_with_control_characters() -> None:
    """Issue "Safe on the open internet": BIND("a\\u0001b" AS ?x) made the XML answer not well-formed."""
    _, body = run(ox.Store(), job('SELECT ?x { BIND("a\\u0001b\\uFFFE" AS ?x) }', media=XML))
    dom = xml.dom.minidom.parseString(body)
    assert dom.getElementsByTagName("literal")[0].firstChild.data == "a\ufffdb\ufffd"  # type: ignore[union-attr]


def test_a_graph_answer_is_capped_too(store: ox.Store) -> None:
    answer, body = run(store, job("CONSTRUCT WHERE { ?s ?p ?o }", form="CONSTRUCT", media=TURTLE, max_rows=5))
    assert answer.truncated == "max_rows=5"
    assert len(list(ox.parse(body, format=ox.RdfFormat.TURTLE))) == 5


def test_query_workers_run_below_the_web_process(built: BuildResult) -> None:
    """What a web process answers itself (cached answers, refusals, /health) never waits behind evaluation: its
    query workers run at its nice value plus WORKER_NICENESS, and a slow query lower still, until it is done."""
    settings = Settings(out=built.build.path.parent.parent, query_workers=2)
    pool = QueryPool(spec_for(built.build, settings), 2, settings.query_timeout).ready()
    try:
        select(pool, "SELECT * WHERE {} LIMIT 1")
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
        deadline = time.monotonic() + 30
        while len(pool.pids()) < 2 and time.monotonic() < deadline:  # the second starts in the background
            time.sleep(0.1)
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pool.pids()] == [expected, expected]
    finally:
        pool.close()


def test_a_slow_query_is_lowered_even_when_its_worker_had_asked_to_retire(built: BuildResult) -> None:
    """A worker may ask to be replaced (``retiring``) just as a request takes it; it answers the job all the same.
    That message is no answer: the job, still running at SLOW, is lowered in priority as any other (the message
    had made the pool skip the check)."""
    settings = Settings(out=built.build.path.parent.parent, query_workers=1, worker_kept_memory=1)
    pool = QueryPool(spec_for(built.build, settings), 1, 8.0).ready(background=False)  # no watcher to replace it
    try:
        assert len(select(pool, "SELECT * WHERE { ?s ?p ?o }", 10**6)) == built.build.info.triples  # over 1 MiB
        taken = pool._take

        def taken_before_it_asks(deadline: float) -> _Worker:
            worker = taken(deadline)
            time.sleep(RETIRE_IDLE + 1.0)  # idle past RETIRE_IDLE in the worker's eyes: it asks to retire
            assert worker.conn.poll(0)  # its message waits in the pipe
            return worker

        pool._take = taken_before_it_asks  # type: ignore[method-assign]
        [pid] = pool.pids()
        seen: list[int] = []

        def watch() -> None:
            time.sleep(RETIRE_IDLE + 1.0 + SLOW + 1.0)  # the job has run for a second past SLOW
            seen.append(os.getpriority(os.PRIO_PROCESS, pid))

        watcher = threading.Thread(target=watch)
        watcher.start()
        with pytest.raises(QueryTimeout):  # it runs to the deadline, answered all the same as a timeout
            select(pool, "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
        watcher.join()
        assert seen == [max(LOW_PRIORITY, base_priority())]
    finally:
        pool.close()


def test_a_worker_killed_while_answering_is_logged_with_how_it_ended(
    built: BuildResult, caplog: pytest.LogCaptureFixture
) -> None:
    """Its request gets WorkerLost (a 503); the log says which worker ended, how, and on what query (an outside
    check found a worker killed while idle logged, and one killed while answering not)."""
    caplog.set_level(logging.WARNING, logger="makerkg.store.pool")
    settings = Settings(out=built.build.path.parent.parent, query_workers=1)
    pool = QueryPool(spec_for(built.build, settings), 1, 30.0).ready(background=False)
    try:
        [pid] = pool.pids()
        threading.Timer(1.0, os.kill, (pid, signal.SIGKILL)).start()
        # a client's text goes into the line escaped: it cannot forge lines of its own, nor send terminal controls
        forged = "\nserving build X at http://evil/ \x1b]0;title\x07\x1b[2J"
        with pytest.raises(WorkerLost):
            select(
                pool, f'SELECT (COUNT(*) AS ?n) WHERE {{ ?a ?b ?c . ?d ?e ?f . ?g ?h ?i FILTER(?i != """{forged}""") }}'
            )
        [record] = [r for r in caplog.records if "ended while answering" in r.getMessage()]
        line = record.getMessage()
        assert line.startswith(f"query worker {pid} ended while answering (exit code -9): 'SELECT (COUNT(*)")
        assert "\n" not in line and "\x1b" not in line and "\x07" not in line
        assert "\\nserving build X" in line
    finally:
        pool.close()


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_a_quiet_pool_answers_from_the_worker_it_used_last(built: BuildResult) -> None:
    """Queries one after the other go to one worker, whose store is warm in the CPU's caches, not to each in turn."""
    settings = Settings(out=built.build.path.parent.parent, query_workers=2)
    pool = QueryPool(spec_for(built.build, settings), 2, settings.query_timeout).ready()
    try:
        deadline = time.monotonic() + 30
        while len(pool.pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        before: dict[int, int] = {}
        while before != (before := {pid: _cpu_ticks(pid) for pid in pool.pids()}):  # the second done loading
            time.sleep(0.5)
        for _ in range(300):
            select(pool, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
        used = sorted(_cpu_ticks(pid) - ticks for pid, ticks in before.items())
        assert used[0] <= 2 < used[1], used  # one worker did the work; the other stayed idle
    finally:
        pool.close()


def _kill(pid: int) -> None:
    """SIGKILL ``pid`` and wait until it has ended: a worker until its loader has reaped it (a zombie's other
    threads may still run, its pipe still open), a loader (one thread) until it is a zombie its pool has not
    reaped yet."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z" and int(fields[17]) == 1:  # state, and num_threads
                return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} still runs")


def test_workers_share_the_loaded_store_and_a_killed_one_is_forked_again(built: BuildResult) -> None:
    """The workers are forked from the loader, which holds the store: a worker killed is replaced by a fork (the
    store is not loaded again), and a killed loader is started again when a worker is next needed."""
    settings = Settings(out=built.build.path.parent.parent, query_workers=1)
    pool = QueryPool(spec_for(built.build, settings), 1, settings.query_timeout).ready()
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    try:
        loader = pool.loader_pid
        assert loader is not None
        [worker] = pool.pids()
        with open(f"/proc/{worker}/stat", encoding="ascii") as stat:
            assert int(stat.read().rsplit(")", 1)[1].split()[1]) == loader  # the worker's parent is the loader
        expected = value(select(pool, count)[0], "n")
        assert int(expected) == built.build.info.triples
        _kill(worker)
        assert value(select(pool, count)[0], "n") == expected  # answered by a new fork of the same loader
        assert pool.loader_pid == loader and pool.pids() != [worker]
        _kill(loader)
        assert value(select(pool, count)[0], "n") == expected  # its worker answers on
        deadline = time.monotonic() + 30
        while pool.loader_pid == loader and time.monotonic() < deadline:  # the pool starts another by itself
            time.sleep(0.05)
        assert pool.loader_pid != loader
        _kill(pool.pids()[0])
        assert value(select(pool, count)[0], "n") == expected  # a worker forked from the new loader
    finally:
        pool.close()


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _name(pid: int) -> str:
    with open(f"/proc/{pid}/comm", encoding="ascii") as comm:
        return comm.read().strip()


def test_pools_share_one_loader_each_told_how_its_own_workers_end(
    built: BuildResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`makerkg serve` checks the store with a loader that its web processes then share (one copy of the store, one
    start): their workers are forked there and named after the pool they answer; a pool is told how its own
    workers end; one that leaves keeps the loader for the others; one that asks for other limits, or finds no
    loader, starts its own; when the shared loader ends, a pool goes on with its own."""
    caplog.set_level(logging.WARNING, logger="makerkg.store.pool")
    settings = Settings(out=built.build.path.parent.parent)
    spec = spec_for(built.build, settings)
    path = str(tmp_path / "loader.sock")
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    expected = str(built.build.info.triples)
    host = QueryPool(replace(spec, listen=path), 1, 30.0).ready(background=False)
    pools = [host]
    try:
        a = QueryPool(spec, 2, 30.0, join=(path, os.getpid())).ready()
        pools.append(a)
        b = QueryPool(spec, 1, 30.0, join=(path, os.getpid())).ready()
        pools.append(b)
        shared = host.loader_pid
        assert shared is not None and a.loader_pid == b.loader_pid == shared
        deadline = time.monotonic() + 30
        while len(a.pids()) < 2 and time.monotonic() < deadline:  # the second starts in the background
            time.sleep(0.05)
        for pid in a.pids() + b.pids():
            assert _parent(pid) == shared
            assert _name(pid) == f"query {os.getpid()}"
        assert value(select(a, count)[0], "n") == value(select(b, count)[0], "n") == expected
        # a worker of b killed while it answers: b (not a, nor the host) is told how it ended
        [victim] = b.pids()
        threading.Timer(1.0, os.kill, (victim, signal.SIGKILL)).start()
        with pytest.raises(WorkerLost):
            select(b, "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
        [record] = [r for r in caplog.records if "ended while answering" in r.getMessage()]
        assert record.getMessage().startswith(f"query worker {victim} ended while answering (exit code -9)")
        assert value(select(b, count)[0], "n") == expected  # a new worker, from the shared loader
        assert _parent(b.pids()[0]) == shared
        a.close()  # a pool that leaves stops its workers, not the shared loader
        assert value(select(b, count)[0], "n") == expected
        assert _parent(b.pids()[0]) == shared and not [p for p in a.pids() if _parent(p) == shared]
        # other limits, or no loader at the path: a loader of the pool's own
        other = QueryPool(replace(spec, memory_limit=spec.memory_limit + (1 << 20)), 1, 30.0, join=(path, os.getpid()))
        pools.append(other.ready(background=False))
        alone = QueryPool(spec, 1, 30.0, join=(str(tmp_path / "none.sock"), os.getpid()))
        pools.append(alone.ready(background=False))
        for own in (other, alone):
            assert own.loader_pid not in (None, shared)
            assert value(select(own, count)[0], "n") == expected
        host.close()  # the shared loader ends: b's worker answers on, and b starts no loader until it needs one
        time.sleep(1.5)
        assert value(select(b, count)[0], "n") == expected and b.loader_pid == shared
        _kill(b.pids()[0])
        assert value(select(b, count)[0], "n") == expected  # a worker forked from a loader of b's own
        assert b.loader_pid not in (None, shared) and _parent(b.pids()[0]) == b.loader_pid
    finally:
        for pool in pools:
            pool.close()


class _Forged:
    """Unpickled, it would create the file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.mkdir, (str(self.path),))


def test_nothing_sent_to_a_shared_loader_is_unpickled(built: BuildResult, tmp_path: Path) -> None:
    """Regression (an outside check): the loader unpickled what came on its socket, which a query worker (the same
    user) can reach, so a worker a query had taken over could run code in the loader, which keeps its capabilities.
    A request is now one byte; anything else ends that connection, and the loader goes on."""
    spec = spec_for(built.build, Settings(out=built.build.path.parent.parent))
    path = str(tmp_path / "loader.sock")
    host = QueryPool(replace(spec, listen=path), 1, 30.0).ready(background=False)
    pools = [host]
    try:
        made = tmp_path / "made-by-the-loader"
        forged = pickle.dumps(("fork", _Forged(made)))
        for payload in (len(forged).to_bytes(4, "big") + forged, b"\x02", b"\x00" * 3, b""):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
                peer.connect(path)
                peer.sendall(payload)
                time.sleep(0.2)
        for byte in (b"\x00", b"\x07"):  # a descriptor with a byte other than 1 (it had ended the loader; now the
            # descriptor is discarded unread, and the byte is no request)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer, open(os.devnull, "rb") as null:
                peer.connect(path)
                peer.sendmsg([byte], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [null.fileno()]))])
                time.sleep(0.2)
        half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # connected, silent, never closed meanwhile
        half.connect(path)
        joined = QueryPool(spec, 1, 30.0, join=(path, os.getpid()))
        pools.append(joined.ready(background=False))
        assert joined.loader_pid == host.loader_pid
        assert value(select(joined, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0], "n") == str(
            built.build.info.triples
        )
        assert not made.exists()
        half.close()
    finally:
        for pool in pools:
            pool.close()


def test_a_pool_joins_no_loader_but_the_server_s(built: BuildResult, tmp_path: Path) -> None:
    """Regression (an outside check): a worker that a query took over could put a socket of its own in the shared
    loader's place, answer as the loader and name any process as a worker, which the pool would then signal. A pool
    joins only a listener that is a child of the server, and starts its own loader otherwise."""
    spec = spec_for(built.build, Settings(out=built.build.path.parent.parent))
    path = str(tmp_path / "loader.sock")
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # listening in this process, which is no child of itself
    fake.bind(path)
    fake.listen(8)
    pool = QueryPool(spec, 1, 30.0, join=(path, os.getpid()))
    try:
        pool.ready(background=False)
        assert pool.loader_pid not in (None, os.getpid()) and _parent(pool.loader_pid) == os.getpid()
        assert _parent(pool.pids()[0]) == pool.loader_pid
    finally:
        pool.close()
        fake.close()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nsenter") is None, reason="entering a namespace needs root")
def test_a_worker_can_neither_reach_nor_take_the_shared_loader_s_name(built: BuildResult, tmp_path: Path) -> None:
    """Regression (outside checks): a worker, confined in a network namespace of its own, could replace a shared
    loader's socket file. The loader now listens on an abstract socket of the server's namespace: from the worker's
    namespace it cannot be reached, and a name bound there, even through the worker's pipe, is another socket,
    which pools never see."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    build = current(out)
    settings = Settings(out=out)
    loaders = SharedLoaders(f"makerkg-test/{tmp_path.name}", settings, grace=60.0)
    pools: list[QueryPool] = []
    try:
        shared = loaders.start(build).ready(background=False).loader_pid
        name = shared_socket(loaders.name, build)
        a = QueryPool(spec_for(build, settings), 1, 30.0, join=(name, os.getpid()))
        pools.append(a.ready(background=False))
        if "network" not in str(a._loader.info.get("sandbox", "")):
            pytest.skip("no network namespace here: the workers share the server's")
        [worker] = a.pids()
        probe = (
            "import socket, sys\n"
            "name = chr(0) + sys.argv[1]\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(name)\nexcept OSError:\n    print('unreachable')\n"
            "t = socket.socket(socket.AF_UNIX)\nt.bind(name)\nt.listen()\nprint('bound its own')\n"
        )
        done = subprocess.run(
            ["nsenter", f"--net=/proc/{worker}/ns/net", sys.executable, "-c", probe, name[1:]],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert done.stdout.split("\n")[:2] == ["unreachable", "bound its own"], done
        # nor through its own pipe, a socket the loader made in the workers' namespace (regression, an outside check:
        # made by the web process, in the server's, a worker could bind it to the name of a loader it had killed)
        [taken] = a._all
        with socket.socket(fileno=os.dup(taken.conn.fileno())) as pipe:  # the other end: the same namespace
            pipe.bind(name)  # taken already in the server's namespace, by the listening loader
        b = QueryPool(spec_for(build, settings), 1, 30.0, join=(name, os.getpid()))
        pools.append(b.ready(background=False))
        assert b.loader_pid == shared
    finally:
        for pool in pools:
            pool.close()
        loaders.close()


def test_a_message_is_bounded_in_size_and_time() -> None:
    """Regression (an outside check): a worker announcing a message of 2**62 bytes made the web process fail with
    MemoryError (a 500), and one sending half a message held the request past its deadline."""
    ours, theirs = multiprocessing.Pipe()  # a peer that sent what cannot be read is dropped: a pipe each
    theirs.send_bytes(b"x" * 100)
    with pytest.raises(EOFError, match="100 bytes announced"):
        message(ours, limit=99)
    ours, theirs = multiprocessing.Pipe()
    os.write(theirs.fileno(), struct.pack("!i", -1) + struct.pack("!Q", 1 << 62))
    with pytest.raises(EOFError, match="announced"):
        message(ours)
    ours, theirs = multiprocessing.Pipe()
    os.write(theirs.fileno(), struct.pack("!i", 1000) + b"0123456789")
    started = time.monotonic()
    with pytest.raises(_Late):
        message(ours, deadline=started + 0.5)
    assert time.monotonic() - started < 2


def test_a_pool_reads_no_object_a_worker_could_forge(tmp_path: Path) -> None:
    """What a loader or a worker sends is read as plain values and answers only: a message naming anything else is
    an unreadable one (the peer is taken as ended), never code run in the web process."""
    ours, theirs = multiprocessing.Pipe()
    made = tmp_path / "made"
    theirs.send(("answer", _Forged(made)))
    with pytest.raises(EOFError, match="unreadable"):
        message(ours)
    assert not made.exists()
    for wrong in ("answer", ("answer",), (1, 2), ("a", 1, 2)):
        theirs.send(wrong)
        with pytest.raises(EOFError, match="unreadable"):
            message(ours)
    answer = Answer(b"{}", JSON, "select", "max_rows=3")
    theirs.send(("answer", answer))
    assert message(ours) == ("answer", answer)


@pytest.mark.parametrize(
    "forged",
    [
        ("answer", "no answer"),
        ("bogus", None),
        ("end", None),  # no answer has begun
        ("part", "text"),
        ("failed", 7),
        ("answer", Answer(b"{}", "text/plain\r\nX-Injected: 1", "select")),
        ("answer", Answer(b"{}", JSON, "select", "max_rows=1\r\nX-Injected: 1")),
        ("answer", Answer("{}", JSON, "select")),  # type: ignore[arg-type]
    ],
)
def test_a_message_a_worker_s_protocol_has_no_place_for_is_a_lost_worker(
    built: BuildResult, forged: tuple[str, object]
) -> None:
    """Regression (an outside check): a worker a query had taken over sent ``("answer", "not an Answer")``: the
    request failed with a 500, and the worker was never stopped nor replaced, so that every later request of that
    web process waited for the timeout. Such a message now stops the worker, the request is a lost worker's (503),
    and a new worker answers the next."""
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    pool = QueryPool(spec_for(built.build, Settings(out=built.build.path.parent.parent)), 1, 30.0)
    try:
        pool.ready(background=False)
        [worker] = pool._all
        ours, theirs = multiprocessing.Pipe()  # the pool reads the forged message instead of the worker's answer
        real, worker.conn = worker.conn, ours

        def answer() -> None:  # once the job has come (an idle worker whose pipe reads is one that has ended)
            theirs.recv_bytes()
            theirs.send(forged)

        threading.Thread(target=answer, daemon=True).start()
        with pytest.raises(WorkerLost):
            select(pool, count)
        real.close()
        assert _state(worker.pid)[0] in ("X", "Z")  # killed (reaped by its loader, or not yet)
        assert value(select(pool, count)[0], "n") == str(built.build.info.triples)
        assert worker.pid not in pool.pids()
    finally:
        pool.close()


def test_a_worker_streaming_past_the_byte_cap_is_stopped(built: BuildResult) -> None:
    """Regression (an outside check): a taken-over worker streamed parts without end (only the deadline stopped
    it). The pool reads no more than the byte cap (and the margin of a message) of parts."""
    pool = QueryPool(spec_for(built.build, Settings(out=built.build.path.parent.parent)), 1, 30.0)
    try:
        pool.ready(background=False)
        [worker] = pool._all
        ours, theirs = multiprocessing.Pipe()
        real, worker.conn = worker.conn, ours
        part = b"x" * (1 << 20)

        def stream() -> None:
            theirs.recv_bytes()
            theirs.send(("answer", Answer(b"{", JSON, "select", None, streamed=True)))
            with contextlib.suppress(OSError):
                for _ in range(10):
                    theirs.send(("part", part))

        threading.Thread(target=stream, daemon=True).start()
        reply = pool.execute(Job("SELECT * WHERE { ?s ?p ?o }", "SELECT", JSON, 10, max_bytes=1 << 20))
        with pytest.raises(WorkerLost):
            reply.read()
        real.close()
        assert _state(worker.pid)[0] in ("X", "Z") and worker.pid not in pool.pids()
    finally:
        pool.close()


def test_a_pool_leaves_a_shared_loader_that_hangs_and_the_server_restarts_one_that_ends(
    built: BuildResult, tmp_path: Path
) -> None:
    """A shared loader that does not fork in time (stopped, say) is left: the pool starts a loader of its own and
    answers. One that ends is started again by the server, and the pools needing a worker join the new one."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    build = current(out)
    settings = Settings(out=out)
    loaders = SharedLoaders(f"makerkg-test/{tmp_path.name}", settings, grace=60.0)
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    expected = str(build.info.triples)
    pools: list[QueryPool] = []
    try:
        first = loaders.start(build).ready(background=False).loader_pid
        assert first is not None
        loaders.follow()
        join = (shared_socket(loaders.name, build), os.getpid())
        a = QueryPool(spec_for(build, settings), 1, 30.0, join=join)
        pools.append(a.ready())
        b = QueryPool(spec_for(build, settings), 1, 30.0, join=join)
        pools.append(b.ready())
        assert a.loader_pid == b.loader_pid == first
        # ended: the server starts another on the same socket; a pool that needs a worker joins it
        _kill(first)
        deadline = time.monotonic() + 10
        while (second := loaders._pools[build.path][1].loader_pid) == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second not in (None, first)
        _kill(a.pids()[0])
        assert value(select(a, count)[0], "n") == expected
        assert a.loader_pid == second and _parent(a.pids()[0]) == second
        # hung: a pool waits SHARED_FORK_TIMEOUT for a worker, then starts a loader of its own
        os.kill(second, signal.SIGSTOP)
        try:
            _kill(b.pids()[0])
            assert value(select(b, count)[0], "n") == expected
            assert b.loader_pid not in (None, first, second) and _parent(b.pids()[0]) == b.loader_pid
        finally:
            os.kill(second, signal.SIGCONT)
    finally:
        for pool in pools:
            pool.close()
        loaders.close()


def test_the_pauses_between_restarts_of_a_shared_loader_grow_and_start_short_again(
    built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loader that ends again at once is started again less and less often; one that had run a good while before
    it ended is started again at once, and the pauses start short again (they had only grown)."""
    monkeypatch.setattr(pool_module, "RETRY_FIRST", 0.3)
    monkeypatch.setattr(pool_module, "RETRY_MAX", 1.2)
    build = built.build
    loaders = SharedLoaders(f"makerkg-test/{tmp_path.name}", Settings(out=build.path.parent.parent), grace=60.0)

    def restarted(old: int | None, within: float) -> int:
        deadline = time.monotonic() + within
        while (pid := loaders._pools[build.path][1].loader_pid) in (None, old) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pid not in (None, old), f"no loader started again within {within} s"
        return pid

    try:
        loader = loaders.start(build).ready(background=False).loader_pid
        assert loader is not None
        loaders.follow()
        for pause in (0.3, 0.6, 1.2, 1.2):  # each started again once its pause has passed, the next paused longer
            _kill(loader)
            loader = restarted(loader, 5)
            assert loaders._retry[build.path][1] == min(1.2, 2 * pause)
            time.sleep(0.1)
        time.sleep(1.2 + 1.2 + 0.2)  # past its pause and RETRY_MAX
        _kill(loader)
        loader = restarted(loader, 5)
        assert loaders._retry[build.path][1] == 0.6  # 2 × RETRY_FIRST: started short again
    finally:
        loaders.close()


def test_a_server_s_shared_loaders_follow_the_current_build(built: BuildResult, tmp_path: Path) -> None:
    """`makerkg serve` starts a loader for a build published while it serves, before its web processes look (they
    join it), and stops the previous build's loader after the grace period."""
    out = tmp_path / "out"
    shutil.copytree(built.build.path.parent.parent, out, symlinks=True)
    first = current(out)
    loaders = SharedLoaders(f"makerkg-test/{tmp_path.name}", Settings(out=out), grace=1.0)
    try:
        old = loaders.start(first).ready(background=False).loader_pid
        loaders.follow()
        second = first.path.parent / f"{first.path.name}-next"
        shutil.copytree(first.path, second)
        (out / "next").symlink_to(f"builds/{second.name}")
        (out / "next").replace(out / "current")  # as a build publishes
        pool = QueryPool(
            spec_for(current(out), Settings(out=out)),
            1,
            30.0,
            join=(shared_socket(loaders.name, current(out)), os.getpid()),
        )
        try:
            pool.ready(background=False)
            assert pool.loader_pid not in (None, old)
            assert _parent(pool.pids()[0]) == pool.loader_pid and pool.loader_pid in _children(os.getpid())
            assert value(select(pool, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0], "n") == str(first.info.triples)
            deadline = time.monotonic() + 10
            while old in _children(os.getpid()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert old not in _children(os.getpid())  # the first build's loader, stopped after the grace period
        finally:
            pool.close()
    finally:
        loaders.close()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listing:
            found.update(int(p) for p in listing.read().split())
    return found


def _retirements() -> float:
    found = re.search(rb"^makerkg_query_worker_retirements_total (\S+)$", metrics.exposition(), re.MULTILINE)
    assert found is not None
    return float(found.group(1))


def _settle(pool: QueryPool, seconds: float) -> list[int]:
    """The pool's workers once they have stayed the same for ``seconds``."""
    pids = pool.pids()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if pool.pids() != pids:
            pids, deadline = pool.pids(), time.monotonic() + seconds
    return pids


@pytest.mark.parametrize("kept_mib", [0, 1, Settings().worker_kept_memory])
def test_an_idle_worker_holding_more_than_it_may_keep_is_forked_afresh(
    built: BuildResult, kept_mib: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose queries made it hold more than ``worker_kept_memory`` of its own is replaced by a fresh fork
    once idle; under the default, a worker over the real plans never is; with 0, never at all."""
    caplog.set_level(logging.INFO, logger="makerkg.store.pool")
    retired = _retirements()
    settings = Settings(out=built.build.path.parent.parent, query_workers=1, worker_kept_memory=kept_mib)
    pool = QueryPool(spec_for(built.build, settings), 1, settings.query_timeout).ready()
    try:
        [worker] = pool.pids()
        for _ in range(3):  # every triple as JSON, some 1.5 MB, written in the worker
            assert len(select(pool, "SELECT * WHERE { ?s ?p ?o }", 10**6)) == built.build.info.triples
        [after] = _settle(pool, RETIRE_IDLE + 1.5)
        assert (after != worker) == (kept_mib == 1)
        assert not os.path.exists(f"/proc/{worker}") or after == worker  # the one replaced has ended
        assert ("is replaced by a fresh fork" in caplog.text) == (kept_mib == 1)
        assert "ended while idle" not in caplog.text  # asked to be replaced: not counted as a fault
        assert _retirements() - retired == (kept_mib == 1)
        count = value(select(pool, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0], "n")
        assert int(count) == built.build.info.triples
        assert pool.pids() == [after]
    finally:
        pool.close()


def _capabilities(pid: int) -> dict[str, set[int]]:
    """Each thread's effective, permitted and bounding capability masks."""
    found: dict[str, set[int]] = {"CapEff": set(), "CapPrm": set(), "CapBnd": set()}
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/status", encoding="ascii") as lines:
            for line in lines:
                name, _, value = line.partition(":")
                if name in found:
                    found[name].add(int(value, 16))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="a process that is not root holds no capability to give up")
def test_query_workers_give_up_every_capability(built: BuildResult, caplog: pytest.LogCaptureFixture) -> None:
    """A worker of a server running as root keeps none of root's powers, in any of its threads, for good."""
    caplog.set_level(logging.INFO, logger="makerkg.store.pool")
    assert _capabilities(os.getpid())["CapEff"] != {0}  # this process, as the web process, holds them
    settings = Settings(out=built.build.path.parent.parent, query_workers=1)
    pool = QueryPool(spec_for(built.build, settings), 1, settings.query_timeout).ready()
    try:
        [worker] = pool.pids()
        assert _capabilities(worker) == {"CapEff": {0}, "CapPrm": {0}, "CapBnd": {0}}
        assert "+ no capabilities)" in caplog.text  # as the log says
        assert (
            int(value(select(pool, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0], "n")) == built.build.info.triples
        )
    finally:
        pool.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's descriptors as a check needs root")
def test_a_worker_can_neither_write_a_sibling_s_memory_nor_reach_what_the_loader_holds(
    built: BuildResult, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression (an outside check): a worker a query had taken over (the server's user, no capabilities) opened
    its siblings' /proc/PID/mem read-write, and forged the answers they gave every client; and it held the
    loader's descriptors, among them the write end of multiprocessing's resource tracker's pipe, which it filled.
    A worker is now untraceable, and holds its pipe, the build's directory and the standard three alone."""
    caplog.set_level(logging.INFO, logger="makerkg.store.pool")
    settings = Settings(out=built.build.path.parent.parent)
    pool = QueryPool(spec_for(built.build, settings), 2, settings.query_timeout).ready()
    try:
        deadline = time.monotonic() + 30
        while len(pool.pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        first, second = pool.pids()
        attack = (
            "import sys\n"
            "from makerkg.store import sandbox\n"
            "assert sandbox.drop_capabilities()\n"
            "try:\n    open(f'/proc/{sys.argv[1]}/mem', 'r+b')\nexcept PermissionError:\n    print('refused')\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", attack, str(second)], capture_output=True, text=True, timeout=30, check=True
        )
        assert done.stdout.strip() == "refused", done
        assert "not traceable + " in caplog.text and "+ no capabilities)" in caplog.text
        for worker in (first, second):
            held = {fd: os.readlink(f"/proc/{worker}/fd/{fd}") for fd in os.listdir(f"/proc/{worker}/fd")}
            others = {fd: target for fd, target in held.items() if int(fd) > 2}
            sockets = [t for t in others.values() if t.startswith("socket:")]
            assert len(sockets) == 1 and set(others.values()) - set(sockets) <= {str(built.build.path.resolve())}, held
        assert value(select(pool, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0], "n") == str(
            built.build.info.triples
        )
    finally:
        pool.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="lowering another process's descriptor limit needs root here")
def test_a_loader_out_of_descriptors_fails_the_start_of_a_worker_and_goes_on(built: BuildResult) -> None:
    """Regression (an outside check): a loader out of descriptors (a peer holding thousands of connections) ended
    at the next request for a worker, its socket pair failing. The request now fails, and the loader goes on."""
    settings = Settings(out=built.build.path.parent.parent)
    pool = QueryPool(spec_for(built.build, settings), 1, settings.query_timeout).ready(background=False)
    try:
        loader = pool.loader_pid
        assert loader is not None
        limits = resource.prlimit(loader, resource.RLIMIT_NOFILE)
        held = {int(fd) for fd in os.listdir(f"/proc/{loader}/fd")}
        lowest_free = min(set(range(len(held) + 1)) - held)
        resource.prlimit(loader, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))  # no descriptor left to it
        try:
            with pytest.raises(StoreMissing, match="cannot"):
                pool._loader.fork()
        finally:
            resource.prlimit(loader, resource.RLIMIT_NOFILE, limits)
        conn, pid = pool._loader.fork()  # the same loader, which goes on forking
        assert _parent(pid) == loader
        conn.close()
        os.kill(pid, signal.SIGKILL)
    finally:
        pool.close()


def test_a_worker_the_watcher_has_claimed_is_never_handed_to_a_request(built: BuildResult) -> None:
    """The watcher takes a worker out of the waiting set before it replaces it (a retiring worker's pipe reads empty
    again once the watcher has read its message): a request taking that worker from the idle queue meanwhile must
    leave it (an outside check saw a 503 and a pool one worker larger for good)."""
    settings = Settings(out=built.build.path.parent.parent, query_workers=1)
    pool = QueryPool(spec_for(built.build, settings), 1, settings.query_timeout).ready(background=False)
    try:
        [worker] = pool._all
        with pool._lock:
            pool._waiting.discard(worker)  # as the watcher does first
        with pytest.raises(Busy):
            pool._take(time.monotonic() + 0.3)
    finally:
        pool.close()


def test_only_workers_over_an_in_memory_store_retire(built: BuildResult) -> None:
    """Retiring gives back pages copied from the loader's in-memory store; over the on-disk store a worker's own
    memory is RocksDB's cache, which a fresh fork would fill again."""
    out = built.build.path.parent.parent
    assert spec_for(built.build, Settings(out=out, engine="memory")).kept_memory == Settings().worker_kept_memory << 20
    assert spec_for(built.build, Settings(out=out, engine="disk")).kept_memory == 0
