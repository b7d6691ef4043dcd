"""The streaming build's parts: a build written as files (store.Draft) and validation in chunks (validate.Validator)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyoxigraph as ox
import pytest

from makerkg import pipeline, resources
from makerkg.pipeline import BuildResult
from makerkg.store import Build, Draft, current
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
        published = first.publish(BASE, {"note": "first"})
    with pytest.raises(RuntimeError, match="disk full"), Draft(out) as second:
        second.add(f"{BASE}graph/edition/8", graphs[f"{BASE}graph/edition/8"])
        raise RuntimeError("disk full")
    assert current(out).info == published.info
    assert [p.name for p in (out / "builds").iterdir()] == [published.path.name]
    assert published.info.triples == 5499
    assert published.info.summary["statistics"]["classes"]["https://w3id.org/makerkg/ontology#Contest"] == 50 + 54


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


@pytest.mark.parametrize("whole_up_to", [10**9, 0], ids=["whole", "in-chunks"])
def test_validating_a_build_whole_or_in_chunks_finds_the_same(
    built: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole_up_to: int
) -> None:
    monkeypatch.setattr(pipeline, "WHOLE_GRAPH_TRIPLES", whole_up_to)
    monkeypatch.setattr(pipeline, "CHUNK_TRIPLES", 1)  # one chunk per edition: several chunks, in worker processes
    assert pipeline.validate_build(built.build, workers=2).conforms
    contest = f"<{BASE}edition/11/regional/110000> <https://schema.org/name> "
    lines = built.build.graph_file.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(contest.encode())]
    assert len(kept) == len(lines) - 1
    (tmp_path / "graph.nq").write_bytes(b"".join(kept))
    report = pipeline.validate_build(Build(tmp_path, built.build.info), workers=2)
    assert [(v.focus, v.message) for v in report.violations] == [
        (
            f"{BASE}edition/11/regional/110000",
            "A contest needs exactly one schema:name: the name as printed, a non-empty Chinese string tagged @zh.",
        )
    ]
