"""Each named query's exact rows, as read from the two plans (issue 3); defaults that follow the build and the
renamed host told from a changed one (issue 14)."""

from __future__ import annotations

import io

import pytest
from tests.facts import (
    ALL_CONTESTS,
    HOSTS_CHANGED,
    HOSTS_RENAMED,
    ORGANIZATIONS,
    REGIONS,
    SITES_CHANGED,
    WITHOUT_REGIONAL,
)
from tests.oracle import Oracle

from makerkg.diff import compare, render_table
from makerkg.errors import PlanError, UsageError
from makerkg.queries import bind_parameters, bound_text, load_queries, read_query
from makerkg.store.local import LocalRunner

BASE = "https://w3id.org/makerkg/"
EDITIONS = [8, 11]  # the build's editions, which the defaults latest and previous name


def rows(store: Oracle, name: str, **params: str) -> list[dict[str, str]]:
    query = load_queries()[name]
    result = store.query(bound_text(query, bind_parameters(query, params, BASE, editions=EDITIONS)))
    return [
        {v: ("" if t is None else t.value) for v, t in zip(result.variables, row, strict=True)} for row in result.rows
    ]


def test_every_query_has_a_title_description_and_typed_parameters() -> None:
    queries = load_queries()
    assert sorted(queries) == [
        "contests-per-province",
        "orgs-gone",
        "orgs-in-both",
        "orgs-new",
        "orgs-ranked",
        "places-in-both",
        "provinces-without-regional",
        "region-hosts",
        "registration-changes",
        "tracks-compared",
    ]
    for query in queries.values():
        assert query.title and query.description
    assert [(p.name, p.type, p.default) for p in queries["region-hosts"].parameters] == [
        ("a", "edition", "previous"),
        ("b", "edition", "latest"),
        ("region", "place", "*"),
    ]


def test_orgs_in_both(store: Oracle) -> None:
    found = rows(store, "orgs-in-both", a="8", b="11")
    assert len(found) == 31
    counts = {r["name"]: (int(r["contestsInA"]), int(r["contestsInB"])) for r in found}
    assert counts["工业和信息化部网络安全产业发展中心"] == (14, 18)
    assert counts["北京市经济和信息化局"] == (2, 5)
    assert counts["浙江省经济和信息化厅"] == (3, 4)
    assert counts["广东省工业和信息化厅"] == (2, 3)
    assert counts["四川省经济和信息化厅"] == (1, 3)
    assert counts["福建省工业和信息化厅"] == (3, 1)
    assert counts["工业和信息化部中小企业发展促进中心"] == (1, 1)
    assert counts["深圳市中小企业服务局"] == (1, 1)
    assert "山西省工业和信息化厅" not in counts  # only in the 11th: 山西省小企业发展促进局 led the 8th
    beijing = next(r for r in found if r["name"] == "北京市经济和信息化局")
    assert set(beijing["namesInA"].split(" | ")) == {
        "第八届“创客中国”北京市中小企业创新创业大赛",
        "第八届“创客中国”智能装备中小企业创新创业大赛",
    }


def test_orgs_new_and_gone(store: Oracle) -> None:
    new = {r["name"] for r in rows(store, "orgs-new", edition="11", since="8")}
    assert new == {
        "上海市杨浦区人民政府",
        "中国医学装备协会",
        "中国机械工业联合会",
        "北京市怀柔区人民政府",
        "北京市朝阳区人民政府",
        "大连市企业服务中心",
        "安徽省工业和信息化厅",
        "山西省工业和信息化厅",
        "昆明高新技术产业开发区管理委员会",
        "江苏省中小企业发展中心",
        "江阴市人民政府",
        "湖南省中小企业服务中心",
        "重庆市两江新区人民政府",
        "青海省中小企业发展促进中心",
    }
    gone = {r["name"] for r in rows(store, "orgs-gone", edition="11", since="8")}
    assert gone == {
        "东莞市人民政府",
        "中国电子信息产业发展研究中心",
        "大连市工业和信息化局",
        "安徽省经济和信息化厅",
        "山西省小企业发展促进局",
        "工业和信息化部",
        "广东省人民政府",
        "广东省财政厅",
        "深圳市工业和信息化局",
        "湖南省工业和信息化厅",
        "财政部",
        "青海省工业和信息化厅",
        "江苏省工业和信息化厅",
    }
    assert len(new) + len(gone) + len(rows(store, "orgs-in-both")) == ORGANIZATIONS  # every organization, once


def test_region_hosts_changed(store: Oracle) -> None:
    """Seven regions print another lead host in the 11th plan; Anhui's is its department renamed (issue 14), so
    six changed host and one did not."""
    found = rows(store, "region-hosts", a="8", b="11")
    assert len(found) == REGIONS
    changed = {r["regionName"]: (r["hostsInA"], r["hostsInB"]) for r in found if r["changed"] == "true"}
    renamed = {r["regionName"]: (r["hostsInA"], r["hostsInB"]) for r in found if r["renamed"] == "true"}
    assert set(changed) == HOSTS_CHANGED
    assert renamed == HOSTS_RENAMED
    assert changed["江苏省"] == ("江苏省工业和信息化厅", "江苏省中小企业发展中心")
    assert set(changed["深圳市"][0].split("、")) == {"深圳市工业和信息化局", "深圳市中小企业服务局"}
    assert changed["深圳市"][1] == "深圳市中小企业服务局"


def test_region_hosts_for_one_region(store: Oracle) -> None:
    assert rows(store, "region-hosts", region="320000") == [
        {
            "region": f"{BASE}place/320000",
            "regionName": "江苏省",
            "hostsInA": "江苏省工业和信息化厅",
            "hostsInB": "江苏省中小企业发展中心",
            "changed": "true",
            "renamed": "false",
        }
    ]


def test_defaults_are_the_two_latest_editions_of_the_build(store: Oracle) -> None:
    """Named-query defaults follow the data: no edition is written into a query (issue 14)."""
    assert rows(store, "region-hosts") == rows(store, "region-hosts", a="8", b="11")
    query = load_queries()["region-hosts"]
    later = bind_parameters(query, {}, BASE, editions=[8, 11, 12])
    assert (later["a"].value, later["b"].value) == ("11", "12")
    alone = bind_parameters(query, {}, BASE, editions=[8])
    assert (alone["a"].value, alone["b"].value) == ("8", "8")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": "9"}, "a: no edition 9 in this build (editions: 8, 11)"),
        ({"b": "12"}, "b: no edition 12 in this build (editions: 8, 11)"),
    ],
)
def test_an_edition_the_build_lacks_is_refused(params: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        bind_parameters(load_queries()["region-hosts"], params, BASE, editions=EDITIONS)
    assert str(caught.value) == message


def test_tracks_compared(store: Oracle) -> None:
    found = rows(store, "tracks-compared", a="8", b="11")
    by_status: dict[str, set[str]] = {}
    for r in found:
        by_status.setdefault(r["status"], set()).add(r["trackName"])
    assert by_status["continued"] == {"视觉智能"}
    assert len(by_status["dropped"]) == 12
    assert len(by_status["added"]) == 16
    assert "医疗器械" in by_status["dropped"] and "医疗装备" in by_status["added"]
    visual = next(r for r in found if r["trackName"] == "视觉智能")
    assert (visual["placesInA"], visual["placesInB"]) == ("杭州市", "杭州市")
    bionic = next(r for r in found if r["trackName"] == "智能仿生机器人")
    assert (bionic["placesInA"], bionic["placesInB"]) == ("", "两江新区")


def test_places_in_both_match_through_the_hierarchy(store: Oracle) -> None:
    found = {r["placeName"]: (int(r["contestsInA"]), int(r["contestsInB"])) for r in rows(store, "places-in-both")}
    assert len(found) == 38
    assert found["北京市"] == (2, 6)  # 8th: regional + 智能装备; 11th: regional + five thematic in its districts
    assert found["杭州市"] == (2, 3)
    assert found["东莞市"] == (1, 2)
    assert found["无锡市"] == (1, 1)  # 物联网 in 无锡市 (8th); 先进材料 in 江阴市, a city of 无锡市 (11th)
    assert "朝阳区" not in found and "宜春市" not in found


def test_provinces_without_regional(store: Oracle) -> None:
    for edition in ("8", "11"):
        assert [r["name"] for r in rows(store, "provinces-without-regional", edition=edition)] == list(
            WITHOUT_REGIONAL.values()
        )


def test_registration_changes(store: Oracle) -> None:
    found = {r["regionName"]: r for r in rows(store, "registration-changes", a="8", b="11")}
    assert len(found) == REGIONS
    changed = {name for name, r in found.items() if r["changed"] == "true"}
    assert changed == SITES_CHANGED
    # the same site printed with and without scheme, www. or trailing slash is no change
    assert found["北京市"]["changed"] == "false"
    assert (found["北京市"]["sitesInA"], found["北京市"]["sitesInB"]) == (
        "http://www.smebj.cn",
        "https://www.smebj.cn/",
    )
    assert found["吉林省"]["changed"] == "false"
    assert found["上海市"]["sitesInB"] == "https://www.ssme.sh.gov.cn/"


def test_orgs_ranked(store: Oracle) -> None:
    found = rows(store, "orgs-ranked")
    assert (found[0]["name"], found[0]["contests"], found[0]["asLead"]) == (
        "工业和信息化部网络安全产业发展中心",
        "32",
        "17",
    )
    eighth = rows(store, "orgs-ranked", edition="8")
    assert (eighth[0]["name"], eighth[0]["contests"], eighth[0]["asLead"]) == (
        "工业和信息化部网络安全产业发展中心",
        "14",
        "0",
    )
    assert {r["name"]: int(r["contests"]) for r in eighth}["江苏省工业和信息化厅"] == 3


def test_contests_per_province(store: Oracle) -> None:
    found = {r["name"]: int(r["contests"]) for r in rows(store, "contests-per-province")}
    assert found["浙江省"] == 9 and found["广东省"] == 9 and found["北京市"] == 8
    assert found["内蒙古自治区"] == 0 and found["新疆生产建设兵团"] == 2
    assert sum(found.values()) == ALL_CONTESTS  # every contest is in exactly one province-level division or the corps
    eleventh = {r["name"]: int(r["contests"]) for r in rows(store, "contests-per-province", edition="11")}
    assert eleventh["北京市"] == 6 and eleventh["四川省"] == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": "eight"}, "a: expected an edition ordinal (a positive whole number, 8 for 第八届), found 'eight'"),
        ({"a": "0"}, "a: expected an edition ordinal (a positive whole number, 8 for 第八届), found '0'"),
        (
            {"region": "32> } ; DROP"},
            "region: expected a place id (a GB/T 2260 code such as 330100, or an id such as xpcc), found '32> } ; DROP'",
        ),
        ({"colour": "red"}, "colour: not a parameter of region-hosts (it takes a, b, region)"),
    ],
)
def test_bad_parameters_name_the_parameter(params: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        bind_parameters(load_queries()["region-hosts"], params, BASE, editions=EDITIONS)
    assert str(caught.value) == message


def test_a_query_header_without_title_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.rq"
    path.write_text("# description: no title\nSELECT * WHERE { ?s ?p ?o }\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        read_query(path)
    assert str(caught.value) == f"{path}:1: expected a '# title:' line in the header, found none"


def test_diff_tells_a_renamed_host_from_a_changed_one(runner: LocalRunner) -> None:
    """makerkg diff: Anhui's host is its department renamed, Jiangsu's another body (issue 14)."""
    comparison = compare(runner, BASE, EDITIONS, 8, 11)
    regions = {r.name: r for r in comparison.hosts}
    assert (regions["安徽省"].changed, regions["安徽省"].renamed) == (False, True)
    assert (regions["江苏省"].changed, regions["江苏省"].renamed) == (True, False)
    out = io.StringIO()
    render_table(comparison, out)
    text = out.getvalue()
    anhui = next(line for line in text.splitlines() if line.startswith("安徽省"))
    assert anhui.split()[:4] == ["安徽省", "安徽省经济和信息化厅", "安徽省工业和信息化厅", "renamed"]
    assert "6 region(s) changed hosts; 1 kept a host that was renamed; 12 changed registration sites." in text
    with pytest.raises(UsageError) as caught:
        compare(runner, BASE, EDITIONS, 8, 12)
    assert str(caught.value) == "B: no edition 12 in the graph (editions: 8, 11)"


def test_orgs_new_and_gone_name_a_renamed_body(store: Oracle) -> None:
    """A body renamed between the editions is listed new and gone under its two names, each naming the other."""
    new = {r["name"]: r["renamedFrom"] for r in rows(store, "orgs-new") if r["renamedFrom"]}
    gone = {r["name"]: r["renamedTo"] for r in rows(store, "orgs-gone") if r["renamedTo"]}
    assert new == {"安徽省工业和信息化厅": "安徽省经济和信息化厅"}
    assert gone == {"安徽省经济和信息化厅": "安徽省工业和信息化厅"}
