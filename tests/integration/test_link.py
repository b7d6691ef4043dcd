"""One resource per real-world organization, place and track, whatever way a plan prints it (issue 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from makerkg import resources
from makerkg.errors import PlanError
from makerkg.link import load_reference, resolve
from makerkg.parse import read_sources
from makerkg.store import EmbeddedStore

BASE = "https://w3id.org/makerkg/"
PREFIXES = """PREFIX mkg: <https://w3id.org/makerkg/ontology#>
PREFIX schema: <https://schema.org/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
"""


def values(store: EmbeddedStore, sparql: str) -> list[tuple[str, ...]]:
    result = store.query(PREFIXES + sparql)
    return sorted(tuple("" if t is None else t.value for t in row) for row in result.rows)


def test_every_organization_printed_in_both_editions_is_one_resource(store: EmbeddedStore) -> None:
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


def test_a_dual_name_body_is_one_resource_with_both_names(store: EmbeddedStore) -> None:
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
def test_misprints_resolve_and_keep_their_printed_form(
    store: EmbeddedStore, printed: str, org: str, canonical: str
) -> None:
    agents = values(store, f'SELECT DISTINCT ?o WHERE {{ ?a mkg:printedName "{printed}"@zh ; prov:agent ?o }}')
    assert agents == [(f"{BASE}org/{org}",)]
    assert values(store, f"SELECT ?l WHERE {{ <{BASE}org/{org}> skos:prefLabel ?l FILTER(lang(?l) = 'zh') }}") == [
        (canonical,)
    ]
    assert values(store, f"SELECT ?l WHERE {{ <{BASE}org/{org}> skos:hiddenLabel ?l }}") == [(printed,)]


def test_hangzhou_printed_two_ways_is_one_place(store: EmbeddedStore) -> None:
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


def test_a_county_level_city_resolves_through_its_prefecture(store: EmbeddedStore) -> None:
    found = values(store, """SELECT ?place WHERE { ?c mkg:printedPlace "江苏省江阴市"@zh ; schema:location ?place }""")
    assert found == [(f"{BASE}place/320281",)]
    chain = values(store, f"SELECT ?p WHERE {{ <{BASE}place/320281> schema:containedInPlace+ ?p }}")
    assert chain == [(f"{BASE}place/320000",), (f"{BASE}place/320200",)]


def test_place_codes_and_kinds(store: EmbeddedStore) -> None:
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


def test_a_track_held_twice_is_one_concept_with_a_contest_per_edition(store: EmbeddedStore) -> None:
    found = values(store, f"SELECT ?c WHERE {{ ?c mkg:track <{BASE}track/visual-intelligence> }}")
    assert found == [
        (f"{BASE}edition/11/thematic/visual-intelligence",),
        (f"{BASE}edition/8/thematic/visual-intelligence",),
    ]
    assert len(values(store, f"SELECT ?t WHERE {{ ?t skos:inScheme <{BASE}scheme/tracks> }}")) == 29


def test_resolution_counts() -> None:
    sources = read_sources(resources.sources_dir())
    links = resolve(sources.editions, load_reference(resources.reference_dir()))
    assert links.printed_organizations == 60
    assert len({m.id for m in links.organizations.values()}) == 58
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
