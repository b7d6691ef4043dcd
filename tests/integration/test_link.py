"""One resource per real-world organization, place and track, whatever way a plan prints it (issue 3); every
administrative division, resolved by the hierarchy, and renamed bodies (issue 14)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tests.facts import ORGANIZATIONS, TRACKS
from tests.oracle import Oracle

from makerkg import resources
from makerkg.errors import PlanError
from makerkg.link import Links, Reference, load_reference, resolve, unresolved_id
from makerkg.model import Contest, Edition, LineRange, ManifestEntry, Section, SectionRecord
from makerkg.parse import read_sources

BASE = "https://w3id.org/makerkg/"
LEVELS = {"province": ("province",), "prefecture": ("prefecture", "planned-city"), "county": ("county", "district")}
PREFIXES = """PREFIX mkg: <https://w3id.org/makerkg/ontology#>
PREFIX schema: <https://schema.org/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
"""


def values(store: Oracle, sparql: str) -> list[tuple[str, ...]]:
    result = store.query(PREFIXES + sparql)
    return sorted(tuple("" if t is None else t.value for t in row) for row in result.rows)


def test_every_organization_printed_in_both_editions_is_one_resource(store: Oracle) -> None:
    # printed names (normalised) that occur in both editions, and the resources they became
    found = values(
        store,
        """
        SELECT DISTINCT ?printed (COUNT(DISTINCT ?org) AS ?resources) WHERE {
          ?c8 schema:superEvent/mkg:ordinal 8 ; prov:qualifiedAssociation ?a8 .
          ?a8 mkg:printedName ?p8 ; prov:agent ?o8 .
          ?c11 schema:superEvent/mkg:ordinal 11 ; prov:qualifiedAssociation ?a11 .
          ?a11 mkg:printedName ?p11 .
          FILTER (REPLACE(STR(?p8), "\\\\s", "") = REPLACE(STR(?p11), "\\\\s", ""))
          BIND (STR(?p8) AS ?printed)
          { ?a8 prov:agent ?org } UNION { ?a11 prov:agent ?org }
        } GROUP BY ?printed""",
    )
    assert len(found) == 31
    assert all(count == "1" for _, count in found)


def test_a_dual_name_body_is_one_resource_with_both_names(store: Oracle) -> None:
    org = f"{BASE}org/miit-nisc"
    assert values(store, f"SELECT ?l WHERE {{ <{org}> skos:prefLabel ?l FILTER(lang(?l) = 'zh') }}") == [
        ("工业和信息化部网络安全产业发展中心",)
    ]
    alt = {v for (v,) in values(store, f"SELECT ?l WHERE {{ <{org}> skos:altLabel ?l }}")}
    assert alt == {
        "工业和信息化部信息中心",
        "工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）",
        "工业和信息化部网络安全产业发展中心 (工业和信息化部信息中心)",
    }
    # both printed forms (full-width brackets in the 8th, half-width with spaces in the 11th final) name it
    printed = values(store, f"SELECT DISTINCT ?p WHERE {{ ?a prov:agent <{org}> ; mkg:printedName ?p }}")
    assert printed == [
        ("工业和信息化部网络安全产业发展中心 (工业和信息化部信息中心)",),
        ("工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）",),
    ]


@pytest.mark.parametrize(
    ("printed", "org", "canonical"),
    [
        ("山东省工业和信息厅", "sd-gxt", "山东省工业和信息化厅"),
        ("广东省工业和信息厅", "gd-gxt", "广东省工业和信息化厅"),
    ],
)
def test_misprints_resolve_and_keep_their_printed_form(store: Oracle, printed: str, org: str, canonical: str) -> None:
    agents = values(store, f'SELECT DISTINCT ?o WHERE {{ ?a mkg:printedName "{printed}"@zh ; prov:agent ?o }}')
    assert agents == [(f"{BASE}org/{org}",)]
    assert values(store, f"SELECT ?l WHERE {{ <{BASE}org/{org}> skos:prefLabel ?l FILTER(lang(?l) = 'zh') }}") == [
        (canonical,)
    ]
    assert values(store, f"SELECT ?l WHERE {{ <{BASE}org/{org}> skos:hiddenLabel ?l }}") == [(printed,)]


def test_hangzhou_printed_two_ways_is_one_place(store: Oracle) -> None:
    found = values(
        store,
        """
        SELECT ?edition ?printed ?place WHERE {
          ?c mkg:track <https://w3id.org/makerkg/track/visual-intelligence> ; schema:superEvent/mkg:ordinal ?edition ;
             mkg:printedPlace ?printed ; schema:location ?place .
        }""",
    )
    assert found == [("11", "浙江省杭州市", f"{BASE}place/330100"), ("8", "杭州市", f"{BASE}place/330100")]
    assert values(store, f"SELECT ?p WHERE {{ <{BASE}place/330100> schema:containedInPlace ?p }}") == [
        (f"{BASE}place/330000",)
    ]


def test_a_county_level_city_resolves_through_its_prefecture(store: Oracle) -> None:
    found = values(store, """SELECT ?place WHERE { ?c mkg:printedPlace "江苏省江阴市"@zh ; schema:location ?place }""")
    assert found == [(f"{BASE}place/320281",)]
    chain = values(store, f"SELECT ?p WHERE {{ <{BASE}place/320281> schema:containedInPlace+ ?p }}")
    assert chain == [(f"{BASE}place/320000",), (f"{BASE}place/320200",)]


def test_place_codes_and_kinds(store: Oracle) -> None:
    assert values(store, f"SELECT ?c WHERE {{ <{BASE}place/110105> mkg:divisionCode ?c }}") == [("110105",)]
    provinces = values(store, "SELECT ?p WHERE { ?p a mkg:ProvinceLevelDivision }")
    assert len(provinces) == 31
    planned = {
        v
        for (v,) in values(
            store, "SELECT ?n WHERE { ?p a mkg:SeparatelyPlannedCity ; skos:prefLabel ?n FILTER(lang(?n)='zh') }"
        )
    }
    assert planned == {"大连市", "宁波市", "厦门市", "青岛市", "深圳市"}
    assert values(store, f"SELECT ?t WHERE {{ <{BASE}place/xpcc> a ?t }} ") == [
        ("https://schema.org/AdministrativeArea",),
        ("https://w3id.org/makerkg/ontology#ProductionConstructionCorps",),
    ]


def test_a_track_held_twice_is_one_concept_with_a_contest_per_edition(store: Oracle) -> None:
    found = values(store, f"SELECT ?c WHERE {{ ?c mkg:track <{BASE}track/visual-intelligence> }}")
    assert found == [
        (f"{BASE}edition/11/thematic/visual-intelligence",),
        (f"{BASE}edition/8/thematic/visual-intelligence",),
    ]
    assert len(values(store, f"SELECT ?t WHERE {{ ?t skos:inScheme <{BASE}scheme/tracks> }}")) == TRACKS


def test_resolution_counts() -> None:
    sources = read_sources(resources.sources_dir())
    links = resolve(sources.editions, load_reference(resources.reference_dir()))
    assert links.printed_organizations == 60
    assert len({m.id for m in links.organizations.values()}) == ORGANIZATIONS
    assert links.by_method == {"dual-name": 1, "misprint": 2, "name": 57}
    assert {k: m.method for k, m in links.places.items() if m.method != "name"} == {
        "上海市杨浦区": "hierarchy",
        "云南省昆明市": "hierarchy",
        "北京市怀柔区": "hierarchy",
        "北京市昌平区": "hierarchy",
        "北京市朝阳区": "hierarchy",
        "北京市海淀区": "hierarchy",
        "北京市石景山区": "hierarchy",
        "四川省成都市": "hierarchy",
        "四川省泸州市": "hierarchy",
        "安徽省芜湖市": "hierarchy",
        "山东省济南市": "hierarchy",
        "广东省东莞市": "hierarchy",
        "江苏省江阴市": "hierarchy",
        "浙江省杭州市": "hierarchy",
        "重庆市两江新区": "hierarchy",
    }
    assert links.unresolved == ()
    # the names of the places in use that name several places by the same rules: what reconciliation must not match
    assert links.shared_place_names == {
        "朝阳": (
            "110105",
            "211300",
            "211321",
            "220104",
        ),  # 北京市朝阳区 is in use; 辽宁省朝阳市, its 朝阳县, 长春市朝阳区
        "朝阳区": ("110105", "220104"),
        "滨海": ("120116", "320922"),  # 天津市滨海新区, 江苏省盐城市滨海县
        "长沙": ("430100", "430121"),  # 长沙市, 长沙县
    }


def test_reference_tables_are_checked(tmp_path: Path) -> None:
    for path in resources.reference_dir().iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    table = tmp_path / "organizations.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",ministry,", ",ministery,", 1)
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_reference(tmp_path)
    assert str(caught.value) == f"{table}:3: expected 'kind' naming an existing id, found 'ministery'"


# --- issue 14: the whole division table, resolution by the hierarchy, renamed bodies ---------------------------


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference(resources.reference_dir())


def _resolve_places(reference: Reference, *printed: str) -> Links:
    """Links for a plan that prints each of ``printed`` as the place of a thematic contest."""
    contests = tuple(
        Contest(Section.THEMATIC, n, f"主题{n}", "人工智能", place, (), (), None, LineRange(n, n))
        for n, place in enumerate(printed, start=1)
    )
    entry = ManifestEntry(99, 2034, "test", Path("plan-99.txt"), "t", "test", Path("manifest.toml"), 1)
    edition = Edition(
        entry, "t", 1, "0" * 64, len(printed), (SectionRecord(Section.THEMATIC, None, LineRange(1, 1), contests),)
    )
    return resolve([edition], reference)


def test_the_division_table_holds_every_division(reference: Reference) -> None:
    current = [p for p in reference.places if p.code is not None and p.current]
    levels = {level: sum(1 for p in current if p.kind in kinds) for level, kinds in LEVELS.items()}
    # 国家统计局 2023年统计用区划代码 as packaged in china-division 2.7.0, placeholders and development zones left out
    assert levels == {"province": 31, "prefecture": 333, "county": 2851}
    new_areas = {p.name for p in reference.places if "new-area" in p.kinds}
    assert len(new_areas) == 19 and {"浦东新区", "滨海新区", "两江新区", "雄安新区"} <= new_areas
    assert reference.place("xpcc").kind == "corps"
    assert all(p.source for p in reference.places)


@pytest.mark.parametrize(
    ("printed", "code", "method"),
    [
        ("湖北省武汉市", "420100", "hierarchy"),
        ("武汉市", "420100", "name"),
        ("武汉", "420100", "short-name"),
        ("天津市滨海新区", "120116", "hierarchy"),
        ("江苏省江阴市", "320281", "hierarchy"),  # county-level, under a prefecture the print leaves out
        ("浙江省杭州市", "330100", "hierarchy"),
        ("北京市朝阳区", "110105", "hierarchy"),
        ("吉林省长春市朝阳区", "220104", "hierarchy"),
        ("湖北武汉", "420100", "hierarchy"),  # two short names
        ("河北雄安新区", "he-xiongan", "other-name"),
        ("简阳市", "510185", "name"),  # a name a former code (512081, until 2016-04) bore too: the current one
    ],
)
def test_printed_places_resolve_by_the_hierarchy(reference: Reference, printed: str, code: str, method: str) -> None:
    match = _resolve_places(reference, printed).place(printed)
    assert (match.id, match.method) == (code, method)


@pytest.mark.parametrize(
    ("printed", "candidates"),
    [
        ("朝阳区", ("110105", "220104")),
        ("朝阳", ("110105", "211300", "211321", "220104")),
        ("河北省桥西区", ("130104", "130703")),  # two 桥西区 in 河北省: the prefecture is needed
    ],
)
def test_an_ambiguous_place_is_reported_never_guessed(
    reference: Reference, printed: str, candidates: tuple[str, ...]
) -> None:
    links = _resolve_places(reference, printed)
    match = links.place(printed)
    assert match.unresolved and match.candidates == candidates
    assert match.id == unresolved_id(printed)
    (reported,) = links.unresolved
    assert str(reported).startswith(f"place {printed!r} (plan-99.txt:1): ambiguous, it names ")


def test_a_former_division_resolves_with_its_validity(reference: Reference) -> None:
    """莱芜市 was merged into 济南市 in 2019: a plan printing it still names it, and the table says until when."""
    links = _resolve_places(reference, "山东省莱芜市", "莱芜市")
    assert links.place("山东省莱芜市").id == links.place("莱芜市").id == "371200"
    assert links.place("莱芜市").method == "former-name"
    laiwu = reference.place("371200")
    assert (laiwu.name, laiwu.parent, laiwu.last_listed, laiwu.current) == ("莱芜市", "370000", "2019-04", False)
    assert reference.place("370116").name == "莱芜区"  # what took its place in 济南市


def test_unknown_place_is_unresolved(reference: Reference) -> None:
    links = _resolve_places(reference, "中关村科学城")
    assert links.place("中关村科学城").unresolved
    assert [str(u) for u in links.unresolved] == ["place '中关村科学城' (plan-99.txt:1)"]


def test_a_curated_place_must_agree_with_the_division_table(tmp_path: Path) -> None:
    for path in resources.reference_dir().iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    table = tmp_path / "places.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    number = next(n for n, line in enumerate(lines) if line.startswith("330100,"))
    lines[number] = lines[number].replace("330100,杭州市,", "330100,杭州,", 1)
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_reference(tmp_path)
    assert str(caught.value) == f"{table}:{number + 1}: expected the name divisions.csv gives, 杭州市, found 杭州"


def test_a_renamed_body_is_linked_by_a_change_event_with_a_source(store: Oracle) -> None:
    found = values(
        store,
        """PREFIX org: <http://www.w3.org/ns/org#>
        PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?event ?type ?original ?resulting ?date ?source WHERE {
          ?event a org:ChangeEvent , ?type ; org:originalOrganization ?original ;
                 org:resultingOrganization ?resulting ; dcterms:date ?date ; dcterms:source ?source .
          FILTER (?type != org:ChangeEvent)
        }""",
    )
    assert len(found) == 1
    event, kind, original, resulting, date, source = found[0]
    assert (event, kind, original, resulting, date) == (
        f"{BASE}org-change/ah-jxt-renamed-2023",
        "https://w3id.org/makerkg/ontology#Renaming",
        f"{BASE}org/ah-jxt",
        f"{BASE}org/ah-gxt",
        "2023",
    )
    assert source.startswith("《安徽省机构改革方案》 (2023")
    names = values(
        store,
        f"""SELECT ?o ?n WHERE {{ VALUES ?o {{ <{original}> <{resulting}> }}
        ?o skos:prefLabel ?n FILTER (lang(?n) = "zh") }}""",
    )
    assert names == [(resulting, "安徽省工业和信息化厅"), (original, "安徽省经济和信息化厅")]


def test_every_source_names_a_document_not_a_search() -> None:
    """A source names the public document or dataset, never how a row was looked up (issue 12, item 8)."""
    for path in sorted(resources.reference_dir().glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                source = row["source"]
                for word in ("find_string", "found with", "mirror", "commit ", "grep", "search"):
                    assert word not in source, (path.name, row.get("id") or row.get("code"), word)
