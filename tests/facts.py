"""Facts of the two plans as published (data/sources/plan-08.txt, the 8th edition's, and plan-11.txt, the 11th's)
that more than one test expects, each stated once here: read from the plans, never computed by makerkg."""

from __future__ import annotations

# the contests of each edition by kind: the final (总决赛), the regional (区域赛), thematic (专题赛) and overseas
# (海外赛) contests each plan lists
CONTESTS = {
    8: {"final": 1, "regional": 35, "thematic": 13, "overseas": 1},
    11: {"final": 1, "regional": 35, "thematic": 17, "overseas": 1},
}
ALL_CONTESTS = sum(sum(kinds.values()) for kinds in CONTESTS.values())  # 50 + 54
REGIONS = 35  # the regions holding a regional contest: the same 35 in both plans
ORGANIZATIONS = 58  # the organizations named as hosts (60 printed names resolve to them)
TRACKS = 29  # the thematic tracks: 13 + 17, 视觉智能 held in both editions
# the regions whose lead host in the 11th plan is another organization than in the 8th …
HOSTS_CHANGED = frozenset({"山西省", "大连市", "江苏省", "湖南省", "深圳市", "青海省"})
# … and the one whose lead host is the same department renamed (issue 14): no change
HOSTS_RENAMED = {"安徽省": ("安徽省经济和信息化厅", "安徽省工业和信息化厅")}
# the regions whose registration site in the 11th plan is another one than in the 8th (a site printed with and
# without scheme, www. or trailing slash is the same)
SITES_CHANGED = frozenset(
    {
        "山西省",
        "大连市",
        "黑龙江省",
        "上海市",
        "安徽省",
        "江西省",
        "湖南省",
        "四川省",
        "西藏自治区",
        "青海省",
        "新疆维吾尔自治区",
        "新疆生产建设兵团",
    }
)
# the province-level divisions with no regional contest in either plan, by division code, in the order of their codes
WITHOUT_REGIONAL = {"150000": "内蒙古自治区", "640000": "宁夏回族自治区"}
