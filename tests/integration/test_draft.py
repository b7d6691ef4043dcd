"""The streaming build's parts: a build written as files (store.Draft) and validation in chunks (validate.Validator)."""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path

import pyoxigraph as ox
import pytest
from tests.facts import ALL_CONTESTS

from makerkg import resources, validate
from makerkg.config import SHACL_ENGINES
from makerkg.model import BuildSummary
from makerkg.pipeline import BuildResult
from makerkg.store import Build, Draft, current
from makerkg.store.build import _unique_id, prune
from makerkg.validate import Validator

BASE = "https://w3id.org/makerkg/"
NAME = ox.NamedNode("https://schema.org/name")


def _graphs(built: BuildResult) -> dict[str, list[ox.Triple]]:
    quads = ox.parse(path=built.build.graph_file, format=ox.RdfFormat.N_QUADS)
    return {
        str(g)[1:-1]: [ox.Triple(q.subject, q.predicate, q.object) for q in group]
        for g, group in itertools.groupby(quads, key=lambda q: q.graph_name)
    }


def _nt(triples: list[ox.Triple]) -> bytes:
    return ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""


def test_the_union_file_is_the_merge_of_the_named_graphs(built: BuildResult) -> None:
    lines = built.build.union_file.read_bytes().splitlines()
    assert lines == sorted(set(lines))
    assert len(lines) == built.build.info.triples == 5499
    merged = {t for triples in _graphs(built).values() for t in triples}
    union = {q.triple for q in ox.parse(path=built.build.union_file, format=ox.RdfFormat.N_TRIPLES)}
    assert union == merged


def test_graph_nq_holds_each_graph_together_and_sorted(built: BuildResult) -> None:
    lines = built.build.graph_file.read_bytes().splitlines()
    names = [line.rsplit(b" ", 2)[1].decode() for line in lines]
    order = [name for name, _ in itertools.groupby(names)]
    assert order == [f"<{BASE}graph/edition/11>", f"<{BASE}graph/edition/8>", f"<{BASE}graph/ontology>",
                     f"<{BASE}graph/reference>"]  # fmt: skip
    for _, group in itertools.groupby(lines, key=lambda line: line.rsplit(b" ", 2)[1]):
        block = list(group)
        assert block == sorted(set(block))
    assert {n[1:-1]: names.count(n) for n in order} == built.build.info.quads_per_graph


def test_a_draft_that_fails_changes_nothing(built: BuildResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    graphs = _graphs(built)
    with Draft(out) as first:
        for name, triples in graphs.items():
            first.add(name, triples)
        published = first.publish(BASE, built.build.info.summary)
    with pytest.raises(RuntimeError, match="disk full"), Draft(out) as second:
        second.add(f"{BASE}graph/edition/8", graphs[f"{BASE}graph/edition/8"])
        raise RuntimeError("disk full")
    assert current(out).info == published.info
    assert [p.name for p in (out / "builds").iterdir()] == [published.path.name]
    assert published.info.triples == 5499
    statistics = published.info.summary.statistics
    assert statistics is not None and statistics.classes["https://w3id.org/makerkg/ontology#Contest"] == ALL_CONTESTS


def test_a_graph_added_twice_is_refused(built: BuildResult, tmp_path: Path) -> None:
    ontology = _graphs(built)[f"{BASE}graph/ontology"]
    with Draft(tmp_path / "out") as draft:
        draft.add(f"{BASE}graph/ontology", ontology)
        with pytest.raises(ValueError, match="graph https://w3id.org/makerkg/graph/ontology is added twice"):
            draft.add(f"{BASE}graph/ontology", ontology)
    assert list((tmp_path / "out" / "builds").iterdir()) == []


def test_chunks_validated_in_worker_processes_report_the_violation_of_any(built: BuildResult) -> None:
    graphs = _graphs(built)
    reference = _nt(graphs[f"{BASE}graph/reference"])
    contest = ox.NamedNode(f"{BASE}edition/11/regional/110000")
    eleventh = [t for t in graphs[f"{BASE}graph/edition/11"] if not (t.subject == contest and t.predicate == NAME)]
    assert len(eleventh) == len(graphs[f"{BASE}graph/edition/11"]) - 1
    with Validator(resources.shapes_file(), workers=2) as validator:
        validator.add(reference, _nt(graphs[f"{BASE}graph/edition/8"]))
        validator.add(reference, _nt(eleventh))
        assert validator.chunks == 2
        report = validator.report()
    assert not report.conforms
    assert [(v.focus, v.path, v.message) for v in report.violations] == [
        (
            contest.value,
            "https://schema.org/name",
            "A contest needs exactly one schema:name: the name as printed, a non-empty Chinese string tagged @zh.",
        )
    ]


def test_one_chunk_is_validated_in_process_and_conforms(built: BuildResult) -> None:
    graphs = _graphs(built)
    with Validator(resources.shapes_file(), workers=2) as validator:
        validator.add(_nt(graphs[f"{BASE}graph/reference"]), _nt(graphs[f"{BASE}graph/edition/8"]))
        assert validator.report().conforms


@pytest.mark.parametrize("engine", SHACL_ENGINES)
@pytest.mark.parametrize("whole_up_to", [10**9, 0], ids=["whole", "in-chunks"])
def test_validating_a_build_whole_or_in_chunks_finds_the_same(
    built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole_up_to: int, engine: str
) -> None:
    monkeypatch.setattr(validate, "WHOLE_GRAPH_TRIPLES", whole_up_to)
    monkeypatch.setattr(validate, "CHUNK_TRIPLES", 1)  # one chunk per edition: several chunks, in worker processes
    info = built.build.info
    assert validate.validate_build(built.build.graph_file, info.triples, info.base, 2, engine).conforms
    contest = f"<{BASE}edition/11/regional/110000> <https://schema.org/name> "
    lines = built.build.graph_file.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(contest.encode())]
    assert len(kept) == len(lines) - 1
    (tmp_path / "graph.nq").write_bytes(b"".join(kept))
    report = validate.validate_build(tmp_path / "graph.nq", info.triples, info.base, 2, engine)
    assert [(v.focus, v.message) for v in report.violations] == [
        (
            f"{BASE}edition/11/regional/110000",
            "A contest needs exactly one schema:name: the name as printed, a non-empty Chinese string tagged @zh.",
        )
    ]


def _publish(out: Path, graphs: dict[str, list[ox.Triple]], summary: BuildSummary, grace: float = 600.0) -> Build:
    with Draft(out, grace=grace) as draft:
        for name, triples in graphs.items():
            draft.add(name, triples)
        return draft.publish(BASE, summary)


def test_two_builds_of_one_content_in_one_second_keep_both(built: BuildResult, tmp_path: Path) -> None:
    """Issue "Safe on the open internet": the same content in the same second gave the same build id, and the
    second build removed the first while a server read it."""
    out = tmp_path / "out"
    graphs = _graphs(built)
    first = _publish(out, graphs, built.build.info.summary)
    second = _publish(out, graphs, built.build.info.summary)
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()
    assert current(out).info.id == second.info.id
    (out / "builds" / "20260101T000000Z-abcdef12").mkdir()
    (out / "builds" / "20260101T000000Z-abcdef12-2").mkdir()
    assert _unique_id(out / "builds", "20260101T000000Z-abcdef12") == "20260101T000000Z-abcdef12-3"


def test_a_build_held_open_is_not_pruned(built: BuildResult, tmp_path: Path) -> None:
    """A query worker holds its build's directory open for its whole life; builds beyond the newest two are pruned
    only when no process holds them and their grace period is over."""
    out = tmp_path / "out"
    graphs = _graphs(built)
    oldest = _publish(out, graphs, built.build.info.summary, grace=0)
    lease = os.open(oldest.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _publish(out, graphs, built.build.info.summary, grace=0)
        _publish(out, graphs, built.build.info.summary, grace=0)
        assert oldest.path.is_dir()  # beyond the newest two, past its grace, but held open
    finally:
        os.close(lease)
    fourth = _publish(out, graphs, built.build.info.summary, grace=0)
    assert not oldest.path.exists()
    assert len(list((out / "builds").iterdir())) == 2 and current(out).path == fourth.path


def test_a_replaced_build_is_kept_for_its_grace_period(built: BuildResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    graphs = _graphs(built)
    builds = [_publish(out, graphs, built.build.info.summary, grace=3600) for n in range(4)]
    assert all(b.path.is_dir() for b in builds)
    assert prune(out / "builds", keep=set(), grace=0) == [builds[0].path.name, builds[1].path.name]


def test_a_draft_left_by_a_killed_build_is_removed_by_the_next(built: BuildResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "builds" / ".new-killed").mkdir(parents=True)
    (out / "builds" / ".new-killed" / "graph.nq").write_bytes(b"half")
    _publish(out, _graphs(built), built.build.info.summary)
    assert [p.name for p in (out / "builds").iterdir() if p.name.startswith(".new-")] == []


def test_a_second_build_waits_for_the_first(built: BuildResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    messages: list[str] = []
    first = Draft(out)
    order: list[str] = []

    def second() -> None:
        with Draft(out, waiting=messages.append) as draft:
            order.append("second started")
            draft.add(f"{BASE}graph/ontology", _graphs(built)[f"{BASE}graph/ontology"])

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=1.0)
    assert thread.is_alive() and order == []  # waiting on the lock
    order.append("first done")
    first.discard()
    thread.join(timeout=30)
    assert order == ["first done", "second started"]
    assert messages == [f"waiting for the build running in process {os.getpid()} to finish with {out}"]


def test_a_build_described_by_a_later_version_is_read_for_what_this_one_knows(
    built: BuildResult, tmp_path: Path
) -> None:
    """A server reads a build a later makerkg made (an upgrade builds while the old server still serves): fields it
    does not know are left aside, in the description and in its summary, not taken for an unreadable build."""
    copy = tmp_path / "build"
    copy.mkdir()
    (copy / "store").mkdir()
    raw = json.loads((built.build.path / "build.json").read_text(encoding="utf-8"))
    raw["a_later_field"] = {"x": 1}
    raw["summary"]["a_later_count"] = 3
    (copy / "build.json").write_text(json.dumps(raw), encoding="utf-8")
    (tmp_path / "current").symlink_to(copy)
    read = current(tmp_path)
    assert read.info == built.build.info
