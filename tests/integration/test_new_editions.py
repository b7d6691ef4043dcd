"""A further edition ingests as published: places, organizations and tracks the curated tables do not list never
fail the default build, are listed with their file and line, and fail --strict; a strict manifest (issue 14)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rdflib import Dataset, Literal, URIRef
from rdflib.namespace import RDF, SKOS

from makerkg import resources
from makerkg.config import load
from makerkg.errors import PlanError
from makerkg.link import load_reference
from makerkg.parse import read_sources
from makerkg.pipeline import BuildResult, build
from makerkg.store import current
from makerkg.synth import AMBIGUOUS_PLACE, synthesise

BASE = "https://w3id.org/makerkg/"
MKG = "https://w3id.org/makerkg/ontology#"
SCHEMA = "https://schema.org/"
WHERE = re.compile(r" \((plan-\d{4}\.txt:\d+)(, plan-\d{4}\.txt:\d+)*\)(: .*)?$")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerkg.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic editions, one in each published layout (odd: cells, even: rows)."""
    directory = tmp_path_factory.mktemp("synth")
    synthesise(load_reference(resources.reference_dir()), 2, directory, thematic=6, seed=14)
    return directory


@pytest.fixture(scope="module")
def synthetic_build(
    synthetic: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("synth-out")
    return out, _cli("build", "--sources", str(synthetic), "--out", str(out))


def _lines_with(path: Path, needle: str) -> list[int]:
    return [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if needle in line]


def test_both_layouts_hold_names_the_curated_tables_do_not_list(synthetic: Path) -> None:
    sources = read_sources(synthetic)
    ref = load_reference(resources.reference_dir())
    curated_places = {n for p in ref.places if p.curated for n in (p.name, *p.alt_names)}
    curated_orgs = {n for o in ref.organizations for n in (o.name, *o.other_names)}
    for edition in sources.editions:
        by_section = {s.section.value: s.contests for s in edition.sections}
        final = by_section["final"][0]
        assert final.place not in curated_places  # a prefecture-level city printed after its province
        assert any(o.printed not in curated_orgs for o in final.organizers)  # the province's government
        themed = by_section["thematic"]
        assert themed[0].place == AMBIGUOUS_PLACE
        assert any(c.place not in curated_places for c in themed[1:])
    assert "\t" + AMBIGUOUS_PLACE in (synthetic / "plan-0001.txt").read_text(encoding="utf-8")  # cells layout
    assert "\t" + AMBIGUOUS_PLACE + "\t" in (synthetic / "plan-0002.txt").read_text(encoding="utf-8")  # rows


def test_unknown_names_never_fail_the_default_build(
    synthetic: Path, synthetic_build: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    out, done = synthetic_build
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("new resources until the reference data names them:\n", 1)[1].splitlines()
    summary = current(out).info.summary.unresolved
    assert tuple(line.strip() for line in listed) == summary and summary
    assert all(WHERE.search(line) for line in summary), summary
    mentions = [
        f"{e.entry.file}:{c.lines.first}"
        for e in read_sources(synthetic).editions
        for c in e.contests
        if c.place == AMBIGUOUS_PLACE
    ]
    assert len(mentions) == 2
    assert (
        f"place '朝阳' ({', '.join(mentions)}): ambiguous, it names 110105 (北京市朝阳区), 211300 (辽宁省朝阳市), "
        "211321 (辽宁省朝阳市朝阳县), 220104 (吉林省长春市朝阳区); print the division it lies in" in summary
    )
    kinds = {line.split(" ", 1)[0] for line in summary}
    assert kinds == {"organization", "place", "track"}


def test_unknown_names_are_typed_resources_flagged_unresolved(
    synthetic_build: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = synthetic_build
    ds = Dataset()
    ds.parse(data=current(out).graph_file.read_bytes(), format="nquads")
    flagged = {s for s, _, _, _ in ds.quads((None, URIRef(MKG + "unresolved"), Literal(True), None))}
    types = {s: {str(o) for _, _, o, _ in ds.quads((s, RDF.type, None, None))} for s in flagged}
    places = {s for s in flagged if str(s).startswith(BASE + "place/")}
    assert places and all(t == {SCHEMA + "AdministrativeArea"} for s, t in types.items() if s in places)
    organizations = {s for s in flagged if str(s).startswith(BASE + "org/u-")}
    assert organizations and all("http://www.w3.org/ns/org#Organization" in types[s] for s in organizations)
    tracks = {s for s in flagged if str(s).startswith(BASE + "track/u-")}
    assert tracks and all(str(SKOS.Concept) in types[s] for s in tracks)
    assert flagged == places | organizations | tracks
    (ambiguous,) = {s for s, _, _, _ in ds.quads((None, SKOS.prefLabel, Literal(AMBIGUOUS_PLACE, lang="zh"), None))}
    assert ambiguous in places
    candidates = sorted({str(o) for _, _, o, _ in ds.quads((ambiguous, URIRef(MKG + "candidate"), None, None))})
    assert candidates == [f"{BASE}place/{code}" for code in ("110105", "211300", "211321", "220104")]


def test_a_county_level_place_of_the_division_table_resolves(
    synthetic: Path, synthetic_build: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    out, _ = synthetic_build
    ref = load_reference(resources.reference_dir())
    chains = {}
    for edition in read_sources(synthetic).editions:
        for contest in edition.contests:
            county = next(
                (
                    p
                    for p in ref.places
                    if p.kind == "county"
                    and not p.curated
                    and contest.place.endswith(p.name)
                    and contest.place.startswith(ref.place(p.id[:2] + "0000").name)
                ),
                None,
            )
            if county is not None:
                chains[contest.place] = county.id
    assert chains  # synth prints some contests in county-level divisions, after the divisions they lie in
    ds = Dataset()
    ds.parse(data=current(out).graph_file.read_bytes(), format="nquads")
    for printed, code in chains.items():
        contest = next(
            s for s, _, _, _ in ds.quads((None, URIRef(MKG + "printedPlace"), Literal(printed, lang="zh"), None))
        )
        place = next(o for _, _, o, _ in ds.quads((contest, URIRef(SCHEMA + "location"), None, None)))
        assert place == URIRef(f"{BASE}place/{code}"), printed
        assert list(ds.quads((place, RDF.type, URIRef(MKG + "CountyLevelDivision"), None))), printed


def test_strict_fails_on_unknown_names(synthetic: Path, tmp_path: Path) -> None:
    done = _cli("build", "--sources", str(synthetic), "--out", str(tmp_path / "out"), "--strict")
    assert done.returncode == 4
    assert re.fullmatch(
        r"makerkg: \d+ printed name\(s\) match nothing in data/reference: .*\n", done.stderr.splitlines()[-1] + "\n"
    )
    assert not (tmp_path / "out" / "current").exists()


# --- a strict manifest ------------------------------------------------------------------------------------------


def _manifest_line(directory: Path, text: str) -> int:
    return _lines_with(directory / "manifest.toml", text)[0]


@pytest.mark.parametrize(
    ("edit", "marker", "message"),
    [
        (
            lambda t: t.replace("[[plan]]\nedition = 8", "[[plans]]\nedition = 8"),
            "[[plans]]",
            "expected a [series] table or [[plan]] tables, found [[plans]]",
        ),
        (
            lambda t: t.replace('year_source = "Announced', 'year_sourc = "Announced'),
            "year_sourc =",
            "expected a key of [plan] among edition, year, year_source, file, title, source, found 'year_sourc'",
        ),
        (
            lambda t: t.replace("[series]\n", '[series]\nname_zh = "大赛"\n'),
            "name_zh =",
            "expected a key of [series] among name, name_en, organizer, source, found 'name_zh'",
        ),
        (
            lambda t: "editions = [8, 11]\n" + t,
            "editions =",
            "expected a [series] table or [[plan]] tables, found 'editions'",
        ),
    ],
)
def test_a_manifest_with_an_unknown_table_or_key_publishes_nothing(
    tmp_path: Path, copy_sources: Callable[..., Path], edit: Callable[[str], str], marker: str, message: str
) -> None:
    out = tmp_path / "out"
    first = build(load(env={}, out=out))
    directory = copy_sources("manifest.toml", edit)
    with pytest.raises(PlanError) as caught:
        build(load(env={}, out=out, sources=directory))
    line = _manifest_line(directory, marker)
    assert str(caught.value) == f"{directory / 'manifest.toml'}:{line}: {message}"
    assert current(out).info == first.build.info


def _without_edition_8(text: str) -> str:
    return text[: text.index("[[plan]]\nedition = 8")] + text[text.index("[[plan]]\nedition = 11") :]


def test_an_edition_missing_from_the_manifest_is_not_dropped_silently(
    built: BuildResult, tmp_path: Path, copy_sources: Callable[..., Path]
) -> None:
    out = tmp_path / "out"
    first = build(load(env={}, out=out))
    directory = copy_sources("manifest.toml", _without_edition_8)
    done = _cli("build", "--sources", str(directory), "--out", str(out))
    assert done.returncode == 3
    assert done.stderr.splitlines()[-1] == (
        f"makerkg: {directory / 'manifest.toml'}: expected a [[plan]] for each edition of the published build "
        f"{first.build.info.id} (8 missing; to publish without it, build with --drop 8), found editions 11"
    )
    assert current(out).info == first.build.info
    dropped = _cli("build", "--sources", str(directory), "--out", str(out), "--drop", "8")
    assert dropped.returncode == 0, dropped.stderr
    assert current(out).info.editions == [11]
