"""The parser reads both plans as printed: exact counts, fields, line ranges, and file:line errors."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from makerkg import resources
from makerkg.errors import PlanError
from makerkg.model import Edition, Role, Section
from makerkg.parse import read_manifest, read_sources


@pytest.fixture(scope="module")
def editions() -> dict[int, Edition]:
    return {e.ordinal: e for e in read_sources(resources.sources_dir()).editions}


def contest(edition: Edition, section: Section, row: int | None = None, topic: str | None = None):  # type: ignore[no-untyped-def]
    for record in edition.sections:
        if record.section is section:
            for c in record.contests:
                if (row is None or c.row == row) and (topic is None or c.topic == topic):
                    return c
    raise AssertionError(f"no {section} contest row={row} topic={topic}")


@pytest.mark.parametrize(
    ("ordinal", "counts", "declared"),
    [
        (
            8,
            {"final": 1, "regional": 35, "thematic": 13, "overseas": 1},
            {"final": None, "regional": 35, "thematic": 13, "overseas": 1},
        ),
        (
            11,
            {"final": 1, "regional": 35, "thematic": 17, "overseas": 1},
            {"final": 1, "regional": 35, "thematic": 17, "overseas": 1},
        ),
    ],
)
def test_counts_per_section(
    editions: dict[int, Edition], ordinal: int, counts: dict[str, int], declared: dict[str, int | None]
) -> None:
    edition = editions[ordinal]
    assert {s.section.value: len(s.contests) for s in edition.sections} == counts
    assert {s.section.value: s.declared for s in edition.sections} == declared


def test_titles_and_manifest(editions: dict[int, Edition]) -> None:
    assert editions[8].title == "第八届“创客中国”中小企业创新创业大赛赛事计划"
    assert editions[8].title_line == 2
    assert editions[11].title == "第十一届“创客中国”中小企业创新创业大赛赛事计划"
    assert editions[11].title_line == 5
    assert (editions[8].entry.year, editions[11].entry.year) == (2023, 2026)


def test_final_8_with_undertakers(editions: dict[int, Edition]) -> None:
    final = contest(editions[8], Section.FINAL)
    assert final.name == "第八届“创客中国”中小企业创新创业大赛全国总决赛"
    assert final.place == "广东省东莞市"
    assert [(o.printed, o.role) for o in final.organizers] == [
        ("工业和信息化部", Role.HOST),
        ("财政部", Role.HOST),
        ("广东省人民政府", Role.HOST),
        ("工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）", Role.UNDERTAKER),
        ("广东省工业和信息化厅", Role.UNDERTAKER),
        ("广东省财政厅", Role.UNDERTAKER),
        ("东莞市人民政府", Role.UNDERTAKER),
    ]
    assert final.addresses == ()
    assert (final.lines.first, final.lines.last) == (11, 14)


def test_final_11_half_width_brackets_and_stray_spaces(editions: dict[int, Edition]) -> None:
    final = contest(editions[11], Section.FINAL)
    assert final.place == "上海市杨浦区"
    assert [o.printed for o in final.organizers] == [
        "工业和信息化部网络安全产业发展中心 (工业和信息化部信息中心)",
        "上海市经济和信息化委员会",
        "上海市杨浦区人民政府",
    ]
    assert {o.role for o in final.organizers} == {Role.HOST}
    assert (final.lines.first, final.lines.last) == (10, 10)


def test_regional_first_row(editions: dict[int, Edition]) -> None:
    beijing = contest(editions[8], Section.REGIONAL, row=1)
    assert beijing.name == "第八届“创客中国”北京市中小企业创新创业大赛"
    assert beijing.place == "北京市"
    assert [(o.printed, o.role) for o in beijing.organizers] == [("北京市经济和信息化局", Role.LEAD)]
    assert [(a.label, a.printed, a.iri) for a in beijing.addresses] == [("", "www.smebj.cn", "http://www.smebj.cn")]
    assert (beijing.lines.first, beijing.lines.last) == (25, 29)


def test_label_before_address(editions: dict[int, Edition]) -> None:
    tianjin = contest(editions[11], Section.REGIONAL, row=2)
    assert [(a.label, a.iri) for a in tianjin.addresses] == [("大赛官网", "http://www.cnmaker.org.cn")]
    assert tianjin.printed_registration == "大赛官网 www.cnmaker.org.cn"


def test_cell_wrapped_over_a_blank_line(editions: dict[int, Edition]) -> None:
    tibet = contest(editions[8], Section.REGIONAL, row=25)
    assert tibet.place == "西藏自治区"
    assert tibet.topic == "西藏自治区"
    assert (tibet.lines.first, tibet.lines.last) == (169, 175)


def test_two_lead_organizations_in_a_wrapped_cell(editions: dict[int, Edition]) -> None:
    shenzhen = contest(editions[8], Section.REGIONAL, row=34)
    assert [(o.printed, o.role, o.position) for o in shenzhen.organizers] == [
        ("深圳市工业和信息化局", Role.LEAD, 1),
        ("深圳市中小企业服务局", Role.LEAD, 2),
    ]


def test_addresses_on_separate_lines(editions: dict[int, Edition]) -> None:
    xinjiang = contest(editions[8], Section.REGIONAL, row=29)
    assert [a.iri for a in xinjiang.addresses] == ["http://www.xjmaker.org.cn", "http://www.xjsmefw.cn"]
    assert xinjiang.topic == "新疆自治区"
    assert xinjiang.place == "新疆维吾尔自治区"
    assert (xinjiang.lines.first, xinjiang.lines.last) == (195, 201)


def test_addresses_joined_by_or(editions: dict[int, Edition]) -> None:
    corps = contest(editions[8], Section.REGIONAL, row=35)
    assert [(a.label, a.iri) for a in corps.addresses] == [
        ("大赛官网", "http://www.cnmaker.org.cn"),
        ("", "http://www.xjbtsme.gov.cn.org.cn"),
    ]
    assert corps.place == "新疆生产建设兵团"


def test_trailing_spaces_and_port_and_fragment(editions: dict[int, Edition]) -> None:
    fujian = contest(editions[8], Section.REGIONAL, row=12)
    assert [a.iri for a in fujian.addresses] == ["http://cx-fj.fujiansme.com"]
    sichuan = contest(editions[11], Section.REGIONAL, row=22)
    assert [a.iri for a in sichuan.addresses] == ["https://elb.chiq-cloud.com:10170/jxt-tfck-web/#/IndexInfo4CK"]


def test_merged_registration_cell_is_inherited_in_the_cells_layout(editions: dict[int, Edition]) -> None:
    first = contest(editions[8], Section.THEMATIC, row=1)
    second = contest(editions[8], Section.THEMATIC, row=2)
    assert first.printed_registration == "大赛官网www.cnmaker.org.cn"
    assert second.printed_registration is None
    assert [a.iri for a in second.addresses] == ["http://www.cnmaker.org.cn"]
    assert second.place == "无锡市"
    assert [o.printed for o in second.organizers] == [
        "工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）",
        "江苏省工业和信息化厅",
    ]
    assert {o.role for o in second.organizers} == {Role.HOST}


def test_merged_cell_reprinted_after_a_page_break(editions: dict[int, Edition]) -> None:
    rows = {c.row: c for c in editions[11].sections[2].contests}
    printed = [n for n, c in sorted(rows.items()) if c.printed_registration is not None]
    assert printed == [1, 6, 14]
    assert all(a.iri == "http://www.cnmaker.org.cn" for c in rows.values() for a in c.addresses)
    assert all(len(c.addresses) == 1 for c in rows.values())


def test_cell_list_with_space_before_separator(editions: dict[int, Edition]) -> None:
    biomanufacturing = contest(editions[8], Section.THEMATIC, row=9)
    assert biomanufacturing.topic == "生物制造"
    assert [o.printed for o in biomanufacturing.organizers] == [
        "工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）",
        "中国电子信息产业发展研究中心",
        "河北省工业和信息化厅",
    ]


def test_half_width_brackets_in_a_topic(editions: dict[int, Edition]) -> None:
    lithium = contest(editions[8], Section.THEMATIC, row=6)
    assert lithium.topic == "锂电 (新能源)"
    assert lithium.name == "第八届“创客中国”锂电 (新能源) 中小企业创新创业大赛"
    assert lithium.place == "宜春市"


def test_thematic_lead_marker_applies_to_the_whole_list(editions: dict[int, Edition]) -> None:
    industrial_agents = contest(editions[11], Section.THEMATIC, row=1)
    assert industrial_agents.place == "北京市朝阳区"
    assert [(o.printed, o.role) for o in industrial_agents.organizers] == [
        ("工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）", Role.LEAD),
        ("北京市经济和信息化局", Role.LEAD),
        ("北京市朝阳区人民政府", Role.LEAD),
    ]


def test_misprinted_names_are_read_as_printed(editions: dict[int, Edition]) -> None:
    space = contest(editions[11], Section.THEMATIC, row=8)
    assert space.topic == "商业航天"
    assert space.place == "山东省济南市"
    assert space.organizers[1].printed == "山东省工业和信息厅"


def test_overseas(editions: dict[int, Edition]) -> None:
    eighth = contest(editions[8], Section.OVERSEAS)
    assert eighth.name == "第八届“创客中国”国际中小企业创新创业大赛（决赛）"
    assert eighth.place == "广州市"
    assert [(o.printed, o.role) for o in eighth.organizers] == [("工业和信息化部中小企业发展促进中心", Role.HOST)]
    assert [a.iri for a in eighth.addresses] == ["http://www.smeiegc.com"]
    eleventh = contest(editions[11], Section.OVERSEAS)
    assert eleventh.name == "第十一届“创客中国”国际中小企业创新创业大赛 (境外区域赛)"
    assert eleventh.place == "广东省"
    assert [(o.printed, o.role) for o in eleventh.organizers] == [("工业和信息化部中小企业发展促进中心", Role.LEAD)]
    assert [a.iri for a in eleventh.addresses] == ["https://www.chinasme.cn/"]
    # the 11th plan ends without a final newline: its last row is read all the same
    assert (eleventh.lines.first, eleventh.lines.last) == (82, 82)
    assert not resources.sources_dir().joinpath("plan-11.txt").read_bytes().endswith(b"\n")


def test_page_break_debris_is_skipped(editions: dict[int, Edition]) -> None:
    last_regional = contest(editions[11], Section.REGIONAL, row=35)
    assert last_regional.lines.first == 53
    thematic = editions[11].sections[2]
    assert thematic.header.first == 56


# --- errors: a copy of a shipped plan with one edit, read through a manifest in a temporary directory ---

Edit = Callable[[str], str]


def _sources_with(tmp_path: Path, file: str, edit: Edit) -> Path:
    for path in resources.sources_dir().iterdir():
        shutil.copy(path, tmp_path / path.name)
    target = tmp_path / file
    target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("file", "edit", "line", "message"),
    [
        (
            "plan-11.txt",
            lambda t: t.replace("区域赛（共 35 场）", "区域赛（共 36 场）"),
            12,
            "expected 36 区域赛 rows, as the heading declares (共36), found 35 rows",
        ),
        (
            "plan-08.txt",
            lambda t: t.replace("三、专题赛（共13个）", "三、专题赛（共12个）"),
            242,
            "expected 12 专题赛 rows, as the heading declares (共12), found 13 rows",
        ),
        (
            "plan-11.txt",
            lambda t: t.replace(
                "4\t第十一届“创客中国”山西省中小企业创新创业大赛\t山西省\t山西省工业和信息化厅牵头\t大赛官网 www.cnmaker.org.cn",
                "4\t第十一届“创客中国”山西省中小企业创新创业大赛\t山西省",
            ),
            19,
            "expected a row of 5 tab-separated cells (序号、赛事名称、地点、主办单位、报名网址), found 3 cells",
        ),
        (
            "plan-08.txt",
            lambda t: t.replace("\t山西省小企业发展促进局牵头\n\twww.sme8718.com\n", ""),
            43,
            "expected a row of 5 cells (序号、赛事名称、地点、主办单位、报名网址), found 3 cells",
        ),
        (
            "plan-11.txt",
            lambda t: t.replace("四、境外区域赛（共 1 场）", "四、港澳台赛（共 1 场）"),
            79,
            "expected a section heading naming one of 总决赛、区域赛、专题赛、境外区域赛, found 四、港澳台赛（共 1 场）",
        ),
        (
            "plan-08.txt",
            lambda t: t.replace("\t报名网址\n\n\t1", "\t联系人\n\n\t1"),
            23,
            "expected a column heading (序号、赛事名称、地点、决赛地点、举办地点、主办单位、承办单位、报名网址、报名网站), found '联系人'",
        ),
        (
            "plan-11.txt",
            lambda t: t.replace("序号\t赛事名称\t地点\t主办单位\t报名网址", "序号\t赛事名称\t地点\t报名网址"),
            14,
            "expected a 主办单位 column, found columns 序号、赛事名称、地点、报名网址",
        ),
        (
            "plan-11.txt",
            lambda t: t.replace("\n6\t第十一届“创客中国”吉林省", "\n7\t第十一届“创客中国”吉林省"),
            21,
            "expected row number 6, found 7",
        ),
        (
            "plan-11.txt",
            lambda t: t.replace(
                "第十一届“创客中国”中小企业创新创业大赛赛事计划", "第十二届“创客中国”中小企业创新创业大赛赛事计划"
            ),
            5,
            "expected the title the manifest gives, 第十一届“创客中国”中小企业创新创业大赛赛事计划, found 第十二届“创客中国”中小企业创新创业大赛赛事计划",
        ),
        (
            "plan-11.txt",
            lambda t: t.replace("第十一届“创客中国”黑龙江省", "第十届“创客中国”黑龙江省"),
            22,
            "expected a contest of edition 11 (第…届), found 第十届“创客中国”黑龙江省中小企业创新创业大赛",
        ),
        (
            "plan-08.txt",
            lambda t: t.replace("\thttps://zj87.jxt.zj.gov.cn", "\t见通知"),
            83,
            "expected a web address (报名网址), found '见通知'",
        ),
    ],
    ids=[
        "count-11",
        "count-08",
        "truncated-row-rows-layout",
        "truncated-row-cells-layout",
        "unknown-section",
        "unknown-column",
        "missing-column",
        "row-number-gap",
        "title-mismatch",
        "wrong-edition-in-name",
        "not-an-address",
    ],
)
def test_unreadable_plan_names_file_and_line(tmp_path: Path, file: str, edit: Edit, line: int, message: str) -> None:
    directory = _sources_with(tmp_path, file, edit)
    with pytest.raises(PlanError) as caught:
        read_sources(directory)
    assert str(caught.value) == f"{directory / file}:{line}: {message}"


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    directory = _sources_with(tmp_path, "plan-08.txt", lambda t: t)
    data = (directory / "plan-08.txt").read_bytes().replace("北京市经济和信息化局".encode(), b"\xff\xfe", 1)
    (directory / "plan-08.txt").write_bytes(data)
    with pytest.raises(PlanError) as caught:
        read_sources(directory)
    assert caught.value.line == 28
    assert "expected UTF-8 text" in str(caught.value)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x0c", "\x1b", "\x7f", "\x85"])
def test_a_control_character_is_refused_with_its_line(tmp_path: Path, char: str) -> None:
    """Issue "Safe on the open internet": a NUL in a plan was published and made the RDF/XML dump not well-formed."""
    directory = _sources_with(
        tmp_path, "plan-08.txt", lambda t: t.replace("北京市经济和信息化局", f"北京市{char}经济", 1)
    )
    with pytest.raises(PlanError) as caught:
        read_sources(directory)
    assert str(caught.value) == (
        f"{directory / 'plan-08.txt'}:28: expected text (tabs and line ends are the only control characters a plan "
        f"holds), found the control character U+{ord(char):04X} at column 5"
    )


def test_manifest_entry_without_file(tmp_path: Path) -> None:
    directory = _sources_with(tmp_path, "plan-08.txt", lambda t: t)
    (directory / "plan-08.txt").unlink()
    with pytest.raises(PlanError) as caught:
        read_manifest(directory)
    text = (directory / "manifest.toml").read_text(encoding="utf-8").splitlines()
    line = text.index("[[plan]]") + 1
    assert (
        str(caught.value)
        == f"{directory / 'manifest.toml'}:{line}: expected the plan file plan-08.txt beside the manifest, found no such file"
    )


def test_crlf_line_endings_read_the_same(tmp_path: Path, editions: dict[int, Edition]) -> None:
    directory = _sources_with(tmp_path, "plan-11.txt", lambda t: t.replace("\n", "\r\n"))
    again = {e.ordinal: e for e in read_sources(directory).editions}
    assert again[11].contests == editions[11].contests
