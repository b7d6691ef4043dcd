"""Synthetic plans for scale tests: N editions in the two published layouts, read by the real parser.

Names are reused across editions as in the real plans: regional hosts stay mostly the same body from one edition
to the next (sometimes handed to another); thematic topics continue with some probability or are replaced by new
ones; places and organizations come from the curated reference data, plus synthetic bodies that the reference does
not know (which the build reports as unresolved, as it would for a real new plan).

As a further edition would, every edition also names what the curated tables do not list: its national final is
held in a prefecture-level city of the division table (湖北省武汉市) and hosted by that province's government; now
and then a regional contest is held in a county-level division (河北省石家庄市正定县); some thematic contests are
held in county-level divisions and hosted by their governments; and one thematic contest is held in 朝阳, a short
name of four divisions, which the build reports as ambiguous rather than guessing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from makerkg.link.reference import PlaceRef, Reference

_DIGITS = "零一二三四五六七八九"
_TOPIC_PARTS = (
    "智能",
    "数字",
    "绿色",
    "先进",
    "新能源",
    "生物",
    "工业",
    "海洋",
    "低碳",
    "健康",
    "材料",
    "装备",
    "芯片",
    "软件",
    "数据",
    "机器人",
    "航空",
    "汽车",
    "纺织",
    "食品",
)
_TOPIC_ENDS = ("制造", "技术", "应用", "服务", "创新", "经济", "产业", "安全")
NISC = "工业和信息化部网络安全产业发展中心（工业和信息化部信息中心）"
AMBIGUOUS_PLACE = "朝阳"  # short name of 北京市朝阳区, 吉林省长春市朝阳区, 辽宁省朝阳市 and its 朝阳县


def numeral(n: int) -> str:
    """A Chinese numeral for 1 … 9999, as plans print edition ordinals.

    >>> [numeral(n) for n in (8, 11, 20, 105, 110, 1200)]
    ['八', '十一', '二十', '一百零五', '一百一十', '一千二百']
    """
    if not 1 <= n <= 9999:
        raise ValueError(f"no numeral for {n}")
    out, zero = "", False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十")):
        d, n = divmod(n, unit)
        if d:
            out += ("零" if zero else "") + ("" if (unit == 10 and d == 1 and not out) else _DIGITS[d]) + name
            zero = False
        elif out:
            zero = True
    if n:
        out += ("零" if zero else "") + _DIGITS[n]
    return out


@dataclass(frozen=True)
class Row:
    name: str
    place: str
    hosts: list[str]
    lead: bool
    registration: str


def synthesise(ref: Reference, editions: int, out: Path, *, thematic: int = 17, seed: int = 2016) -> Path:
    """Write ``editions`` plans and their manifest.toml into ``out``; returns the manifest's path."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    places = {p.id: p for p in ref.places}
    curated = [p for p in ref.places if p.curated]
    regions = [p for p in curated if p.kind in ("province", "planned-city", "corps")]
    regions = [p for p in regions if p.id not in ("150000", "640000")][:35]  # 35 regional contests, as printed
    cities = [p for p in curated if p.kind in ("prefecture", "planned-city", "county", "district")]
    # divisions only the generated table lists: prefecture-level cities and county-level divisions
    listed = [p for p in ref.places if not p.curated and p.current and p.code is not None]
    prefectures = [p for p in listed if p.kind == "prefecture" and p.name.endswith("市")]
    counties = [p for p in listed if p.kind == "county"]
    hosts = {p.id: _department(ref, p) for p in regions}
    topics = [t.label_zh for t in ref.tracks]
    current_topics = rng.sample(topics, min(thematic, len(topics)))
    manifest = [
        '[series]\nname = "“创客中国”中小企业创新创业大赛"\nname_en = "Maker China SME Innovation and '
        'Entrepreneurship Contest (synthetic)"\nsource = "makerkg synth"\n'
    ]
    for n in range(1, editions + 1):
        # regional hosts: mostly the same body again; now and then another body takes over
        for region in regions:
            if rng.random() < 0.08:
                hosts[region.id] = f"{_printed(region)}中小企业发展促进中心{rng.randint(1, 3)}"
        # thematic tracks: about 40 % continue, the rest are new or taken back from the pool
        kept = [t for t in current_topics if rng.random() < 0.4]
        while len(kept) < thematic:
            candidate = rng.choice(topics) if rng.random() < 0.5 else _new_topic(rng)
            if candidate not in kept:
                kept.append(candidate)
                if candidate not in topics:
                    topics.append(candidate)
        current_topics = kept
        ordinal = numeral(n)
        prefix = f"第{ordinal}届“创客中国”"
        final_place = rng.choice(prefectures)
        final = Row(
            f"{prefix}中小企业创新创业大赛全国总决赛",
            _chain(final_place, places),
            ["工业和信息化部", "财政部", f"{_province_of(final_place, places)}人民政府"],
            False,
            "",
        )
        regional = []
        for r in regions:
            # now and then a region holds its contest in one of its county-level divisions
            inside = [c for c in counties if _province(c, places).id == r.id] if rng.random() < 0.1 else []
            regional.append(
                Row(
                    f"{prefix}{_printed(r)}中小企业创新创业大赛",
                    _chain(rng.choice(inside), places) if inside else _printed(r),
                    [hosts[r.id]],
                    True,
                    "大赛官网 www.cnmaker.org.cn" if rng.random() < 0.6 else f"www.sme{r.id}.cn",
                )
            )
        themed = []
        for index, topic in enumerate(current_topics):
            host = NISC
            if index == 0:
                printed = AMBIGUOUS_PLACE
                province = places["110000"]
            elif rng.random() < 0.3:
                county = rng.choice(counties)
                printed, province, host = _chain(county, places), _province(county, places), f"{county.name}人民政府"
            else:
                place = rng.choice(cities)
                printed = _qualified(place, places) if rng.random() < 0.7 else place.name
                province = _province(place, places)
            themed.append(
                Row(
                    f"{prefix}{topic}中小企业创新创业大赛",
                    printed,
                    [host, _department(ref, province)],
                    rng.random() < 0.5,
                    "大赛官网 www.cnmaker.org.cn",
                )
            )
        overseas = Row(
            f"{prefix}国际中小企业创新创业大赛 (境外区域赛)",
            "广东省",
            ["工业和信息化部中小企业发展促进中心"],
            True,
            "https://www.chinasme.cn/",
        )
        title = f"{prefix}中小企业创新创业大赛赛事计划"
        text = (_cells if n % 2 else _rows)(title, final, regional, themed, overseas)
        file = f"plan-{n:04d}.txt"
        (out / file).write_text(text, encoding="utf-8")
        manifest.append(
            f'[[plan]]\nedition = {n}\nyear = {2015 + n}\nyear_source = "synthetic: one edition a year '
            f'since 2016"\nfile = "{file}"\ntitle = "{title}"\nsource = "makerkg synth, seed {seed}"\n'
        )
    path = out / "manifest.toml"
    path.write_text("\n".join(manifest), encoding="utf-8")
    return path


def _new_topic(rng: random.Random) -> str:
    return rng.choice(_TOPIC_PARTS) + rng.choice(_TOPIC_PARTS) + rng.choice(_TOPIC_ENDS)


def _department(ref: Reference, place: PlaceRef) -> str:
    """The printed name of a department of ``place``'s government in the reference data, or a made-up one."""
    for org in ref.organizations:
        if org.jurisdiction == place.id and org.kind in ("provincial-department", "municipal-department"):
            return org.name
    return f"{place.name}工业和信息化厅"


def _printed(place: PlaceRef) -> str:
    return place.name


def _province(place: PlaceRef, places: dict[str, PlaceRef]) -> PlaceRef:
    while place.parent is not None and place.kind != "province":
        place = places[place.parent]
    return place


def _province_of(place: PlaceRef, places: dict[str, PlaceRef]) -> str:
    return _province(place, places).name


def _qualified(place: PlaceRef, places: dict[str, PlaceRef]) -> str:
    """浙江省杭州市: the place printed after its province, as the later plans print it."""
    province = _province(place, places)
    return place.name if province.id == place.id else f"{province.name}{place.name}"


def _chain(place: PlaceRef, places: dict[str, PlaceRef]) -> str:
    """河北省石家庄市正定县: the place after each division it lies in, as plans print a place they must settle."""
    names = [place.name]
    while place.parent is not None:
        place = places[place.parent]
        names.append(place.name)
    return "".join(reversed(names))


def _hosts_cell(row: Row) -> str:
    return "、".join(row.hosts) + ("牵头" if row.lead else "")


def _rows(title: str, final: Row, regional: list[Row], themed: list[Row], overseas: Row) -> str:
    """The layout of the 11th plan: one row per line, cells separated by tabs, page-break debris."""
    lines = [
        "",
        "附件 2",
        "",
        title,
        "",
        "一、总决赛（共 1 场）",
        "",
        "赛事名称\t地点\t主办单位",
        f"{final.name}\t{final.place}\t{_hosts_cell(final)}",
        "",
        f"二、区域赛（共 {len(regional)} 场）",
        "",
        "序号\t赛事名称\t地点\t主办单位\t报名网址",
    ]
    for i, row in enumerate(regional, start=1):
        lines.append(f"{i}\t{row.name}\t{row.place}\t{_hosts_cell(row)}\t{row.registration}")
        if i % 12 == 0:
            lines.append("")
    lines += [
        "----\t------------\t-----\t---------\t---",
        "",
        f"三、专题赛（共 {len(themed)} 场）",
        "",
        "序号\t赛事名称\t决赛地点\t主办单位\t报名网址",
    ]
    for i, row in enumerate(themed, start=1):
        merged = row.registration if i % 6 == 1 else ""  # a merged cell, printed on the first row of a page
        lines.append(f"{i}\t{row.name}\t{row.place}\t{_hosts_cell(row)}\t{merged}")
        if i % 6 == 0:
            lines.append("")
    lines += [
        "",
        "四、境外区域赛（共 1 场）",
        "",
        "赛事名称\t地点\t主办单位\t报名网址",
        f"{overseas.name}\t{overseas.place}\t{_hosts_cell(overseas)}\t{overseas.registration}",
    ]
    return "\n".join(lines)  # no final newline, as the 11th plan


def _cells(title: str, final: Row, regional: list[Row], themed: list[Row], overseas: Row) -> str:
    """The layout of the 8th plan: one cell per tab-indented line, rows separated by blank lines."""

    def block(cells: list[str]) -> list[str]:
        out: list[str] = []
        for cell in cells:
            if "、" in cell and len(cell) > 40:  # a long cell wraps after its first name
                first, rest = cell.split("、", 1)
                out += [f"\t{first}、", "", rest]
            else:
                out.append(f"\t{cell}")
        return [*out, ""]

    lines = [
        "附件2",
        title,
        "",
        "总决赛",
        "",
        *block(["赛事名称", "地点", "主办单位"]),
        *block([final.name, final.place, _hosts_cell(final)]),
        "",
        f"二、区域赛（共{len(regional)}个）",
        "",
        *block(["序号", "赛事名称", "地点", "主办单位", "报名网址"]),
    ]
    for i, row in enumerate(regional, start=1):
        lines += block([str(i), row.name, row.place, _hosts_cell(row), row.registration])
    lines += [
        "",
        f"三、专题赛（共{len(themed)}个）",
        "",
        *block(["序号", "赛事名称", "决赛地点", "主办单位", "报名网址"]),
    ]
    for i, row in enumerate(themed, start=1):
        lines += block([str(i), row.name, row.place, _hosts_cell(row), row.registration if i == 1 else ""])
    lines += [
        "",
        "四、境外区域赛（共1场）",
        "",
        *block(["赛事名称", "地点", "主办单位", "报名网址"]),
        *block([overseas.name, overseas.place, _hosts_cell(overseas), overseas.registration]),
    ]
    return "\n".join(lines) + "\n"
