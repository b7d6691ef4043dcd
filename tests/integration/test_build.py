"""The build end to end: summary, atomic publishing, reproducible dumps, new editions, strictness (issues 2, 3)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic
from tests.facts import CONTESTS, ORGANIZATIONS, TRACKS

from makerkg.config import load
from makerkg.errors import PlanError, UnresolvedNames
from makerkg.formats import GRAPH_FORMATS, by_name
from makerkg.namespaces import PREFIXES
from makerkg.pipeline import BuildResult, build
from makerkg.store import current
from makerkg.store.dumps import read_quads

BASE = "https://w3id.org/makerkg/"


def test_summary(built: BuildResult) -> None:
    summary = built.build.info.summary
    assert summary.contests == CONTESTS
    assert summary.printed_organization_names == 60
    assert summary.organizations == ORGANIZATIONS
    assert summary.organizations_in_every_edition == 31
    assert summary.resolution == {"dual-name": 1, "misprint": 2, "name": 57}
    assert summary.places == 59
    assert summary.tracks == TRACKS
    assert summary.unresolved == ()
    assert built.report.conforms


def test_named_graphs(built: BuildResult) -> None:
    assert sorted(built.build.info.quads_per_graph) == [
        f"{BASE}graph/edition/11",
        f"{BASE}graph/edition/8",
        f"{BASE}graph/ontology",
        f"{BASE}graph/reference",
    ]


def _union(quads_graph: Dataset) -> Graph:
    g = Graph()
    for s, p, o, _ in quads_graph.quads((None, None, None, None)):
        g.add((s, p, o))
    return g


@pytest.mark.parametrize("name", sorted(f.name for f in GRAPH_FORMATS))
def test_export_parses_back_isomorphic(built: BuildResult, name: str) -> None:
    fmt = by_name(name)
    data = (built.build.path / "dumps" / f"makerkg.{fmt.extension}").read_bytes()
    if fmt.rdf != ox.RdfFormat.JSON_LD:  # written streaming: the same bytes as in one piece
        quads = read_quads(built.build)
        merged = sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads}, key=lambda t: f"{t} .")
        whole = ox.serialize(quads if fmt.quads else merged, format=fmt.rdf, prefixes=PREFIXES)
        assert data == whole
    reference = Dataset()
    reference.parse(data=built.build.graph_file.read_bytes(), format="nquads")
    rdflib_format = {"ttl": "turtle", "nt": "nt", "nq": "nquads", "trig": "trig", "jsonld": "json-ld", "rdfxml": "xml"}[
        name
    ]
    parsed = Dataset()
    parsed.parse(data=data, format=rdflib_format)
    assert isomorphic(_union(parsed), _union(reference))
    if fmt.quads:
        for graph in reference.graphs():
            if isinstance(graph.identifier, URIRef) and len(graph):
                assert isomorphic(parsed.graph(graph.identifier), graph), graph.identifier


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerkg.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_two_builds_give_byte_identical_dumps(tmp_path: Path) -> None:
    dumps = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        done = _cli("build", "--out", str(out), env={"PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
        directory = current(out).path / "dumps"
        dumps.append({p.name: p.read_bytes() for p in sorted(directory.iterdir())})
    assert dumps[0].keys() == dumps[1].keys()
    assert len(dumps[0]) == 14  # six formats, plain and gzipped, the JSON-LD context and SHA256SUMS
    for name in dumps[0]:
        assert dumps[0][name] == dumps[1][name], name


def test_export_command_matches_the_dump(built: BuildResult, tmp_path: Path) -> None:
    target = tmp_path / "graph.trig"
    done = _cli("export", "--format", "trig", "-o", str(target), "--out", str(built.build.path.parent.parent))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == (built.build.path / "dumps" / "makerkg.trig").read_bytes()


def test_failed_build_leaves_the_previous_one(tmp_path: Path, copy_sources: Callable[..., Path]) -> None:
    out = tmp_path / "out"
    first = build(load(env={}, out=out))
    broken = copy_sources("plan-11.txt", lambda t: t.replace("区域赛（共 35 场）", "区域赛（共 34 场）"))
    with pytest.raises(PlanError):
        build(load(env={}, out=out, sources=broken))
    assert current(out).info == first.build.info
    assert sorted(p.name for p in (out / "builds").iterdir()) == [first.build.path.name]


def test_failed_build_from_the_command_line_is_one_line(tmp_path: Path, copy_sources: Callable[..., Path]) -> None:
    broken = copy_sources("plan-08.txt", lambda t: t.replace("四、境外区域赛（共1场）", "四、境外区域赛（共2场）"))
    done = _cli("build", "--sources", str(broken), "--out", str(tmp_path / "out"))
    assert done.returncode == 3
    assert done.stderr.strip().splitlines()[-1] == (
        f"makerkg: {broken / 'plan-08.txt'}:355: expected 2 境外区域赛 rows, as the heading declares (共2), found 1 rows"
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "current").exists()


def _add_edition(directory: Path, ordinal: int, numeral: str, year: int, template: str = "plan-11.txt") -> None:
    text = (directory / template).read_text(encoding="utf-8").replace("第十一届", f"第{numeral}届")
    (directory / f"plan-{ordinal}.txt").write_text(text, encoding="utf-8")
    with (directory / "manifest.toml").open("a", encoding="utf-8") as manifest:
        manifest.write(
            f'\n[[plan]]\nedition = {ordinal}\nyear = {year}\nyear_source = "test fixture"\n'
            f'file = "plan-{ordinal}.txt"\ntitle = "第{numeral}届“创客中国”中小企业创新创业大赛赛事计划"\n'
            f'source = "a copy of the 11th plan, renumbered"\n'
        )


def test_a_third_edition_ingests_with_no_code_change(tmp_path: Path, copy_sources: Callable[..., Path]) -> None:
    directory = copy_sources()
    _add_edition(directory, 12, "十二", 2027)
    result = build(load(env={}, out=tmp_path / "out", sources=directory))
    assert result.build.info.summary.contests[12] == {"final": 1, "regional": 35, "thematic": 17, "overseas": 1}
    assert f"{BASE}graph/edition/12" in result.build.info.quads_per_graph
    assert result.report.conforms


def _edition_iris(out: Path, ordinal: int) -> set[str]:
    ds = Dataset()
    ds.parse(data=current(out).graph_file.read_bytes(), format="nquads")
    g = ds.graph(URIRef(f"{BASE}graph/edition/{ordinal}"))
    return {str(t) for triple in g for t in triple if isinstance(t, URIRef)}


def test_identifiers_do_not_depend_on_the_other_editions(tmp_path: Path, copy_sources: Callable[..., Path]) -> None:
    directory = copy_sources()
    manifest = (directory / "manifest.toml").read_text(encoding="utf-8")
    eighth_only = manifest[: manifest.index("[[plan]]\nedition = 11")]
    (directory / "manifest.toml").write_text(eighth_only, encoding="utf-8")
    build(load(env={}, out=tmp_path / "alone", sources=directory))
    build(load(env={}, out=tmp_path / "both"))
    alone_iris = _edition_iris(tmp_path / "alone", 8)
    both_iris = _edition_iris(tmp_path / "both", 8)
    assert alone_iris == both_iris
    assert f"{BASE}org/bj-jxj" in alone_iris and f"{BASE}place/330100" in alone_iris
    assert f"{BASE}track/visual-intelligence" in alone_iris


def test_strict_fails_on_an_unknown_name(tmp_path: Path, copy_sources: Callable[..., Path]) -> None:
    directory = copy_sources("plan-11.txt", lambda t: t.replace("中国医学装备协会牵头", "中国某某创新促进会牵头"))
    with pytest.raises(UnresolvedNames) as caught:
        build(load(env={}, out=tmp_path / "strict", sources=directory), strict=True)
    assert str(caught.value) == (
        "1 printed name(s) match nothing in data/reference: organization '中国某某创新促进会' (plan-11.txt:74)"
    )
    assert not (tmp_path / "strict" / "current").exists()
    lenient = build(load(env={}, out=tmp_path / "lenient", sources=directory))
    assert lenient.build.info.summary.unresolved == ("organization '中国某某创新促进会' (plan-11.txt:74)",)
    ds = Dataset()
    ds.parse(data=lenient.build.graph_file.read_bytes(), format="nquads")
    org = URIRef(f"{BASE}org/u-" + hashlib.sha256("中国某某创新促进会".encode()).hexdigest()[:12])
    labels = {str(q[2]) for q in ds.quads((org, URIRef("http://www.w3.org/2004/02/skos/core#prefLabel"), None, None))}
    assert labels == {"中国某某创新促进会"}


def test_the_default_graph_is_a_merge_not_a_bag(store) -> None:  # type: ignore[no-untyped-def]
    """The series is described in both edition graphs; the default graph holds each of its triples once."""
    names = store.query(f"SELECT ?n WHERE {{ <{BASE}series> <https://schema.org/name> ?n }}")
    assert sorted((t.value, t.language) for (t,) in names.rows) == [
        ("Maker China SME Innovation and Entrepreneurship Contest", "en"),
        ("“创客中国”中小企业创新创业大赛", "zh"),
    ]
    per_graph = store.query(f"SELECT ?g WHERE {{ GRAPH ?g {{ <{BASE}series> <https://schema.org/name> ?n }} }}")
    assert len(per_graph.rows) == 4
