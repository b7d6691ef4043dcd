"""The curated reference tables in ``data/reference/``: places, organizations, their kinds, tracks, misprints."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from makerkg.errors import PlanError

PLACE_KINDS = ("province", "corps", "planned-city", "prefecture", "county", "district", "new-area")
_CODE = re.compile(r"^\d{6}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class PlaceRef:
    id: str
    name: str
    alt_names: tuple[str, ...]
    kind: str
    parent: str | None
    code: str | None
    name_en: str | None
    wikidata: str | None
    source: str


@dataclass(frozen=True)
class OrgKind:
    id: str
    label_zh: str
    label_en: str
    definition_en: str
    source: str


@dataclass(frozen=True)
class OrgRef:
    id: str
    name: str
    other_names: tuple[str, ...]
    kind: str
    jurisdiction: str | None
    parent: str | None
    name_en: str | None
    source: str


@dataclass(frozen=True)
class TrackRef:
    id: str
    label_zh: str
    alt_labels: tuple[str, ...]
    label_en: str | None
    source: str


@dataclass(frozen=True)
class Misprint:
    printed: str
    organization: str
    evidence: str
    source: str


@dataclass(frozen=True)
class Reference:
    """Every curated table, checked: ids unique, every cross-reference pointing at an existing row."""

    places: tuple[PlaceRef, ...]
    org_kinds: tuple[OrgKind, ...]
    organizations: tuple[OrgRef, ...]
    tracks: tuple[TrackRef, ...]
    misprints: tuple[Misprint, ...]

    def place(self, id: str) -> PlaceRef:
        return next(p for p in self.places if p.id == id)

    def organization(self, id: str) -> OrgRef:
        return next(o for o in self.organizations if o.id == id)


Row = dict[str, str]
T = TypeVar("T")


def load_reference(directory: Path) -> Reference:
    """Read and cross-check the tables; raises PlanError naming the file and line of a bad row."""
    places = _table(directory / "places.csv", _place)
    kinds = _table(directory / "org_kinds.csv", _org_kind)
    orgs = _table(directory / "organizations.csv", _org)
    tracks = _table(directory / "tracks.csv", _track)
    misprints = _table(directory / "misprints.csv", _misprint)
    place_ids = _unique(directory / "places.csv", ((p.id, n) for n, p in places))
    kind_ids = _unique(directory / "org_kinds.csv", ((k.id, n) for n, k in kinds))
    org_ids = _unique(directory / "organizations.csv", ((o.id, n) for n, o in orgs))
    _unique(directory / "tracks.csv", ((t.id, n) for n, t in tracks))
    for n, p in places:
        _points(directory / "places.csv", n, "parent", p.parent, place_ids)
    for n, o in orgs:
        _points(directory / "organizations.csv", n, "kind", o.kind, kind_ids)
        _points(directory / "organizations.csv", n, "jurisdiction", o.jurisdiction, place_ids)
        _points(directory / "organizations.csv", n, "parent", o.parent, org_ids)
    for n, m in misprints:
        _points(directory / "misprints.csv", n, "organization", m.organization, org_ids)
    return Reference(
        places=tuple(p for _, p in places),
        org_kinds=tuple(k for _, k in kinds),
        organizations=tuple(o for _, o in orgs),
        tracks=tuple(t for _, t in tracks),
        misprints=tuple(m for _, m in misprints),
    )


def _table(path: Path, make: Callable[[Path, int, Row], T]) -> list[tuple[int, T]]:
    if not path.is_file():
        raise PlanError(path, None, "a reference table", "no such file")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise PlanError(path, line, f"{len(reader.fieldnames or [])} columns", "a row of another width")
            cells = {k: v.strip() for k, v in row.items()}
            if not cells.get("source"):
                raise PlanError(path, line, "a source for the row", "an empty source cell")
            rows.append((line, make(path, line, cells)))
        return rows


def _need(path: Path, line: int, row: Row, column: str) -> str:
    if column not in row:
        raise PlanError(path, 1, f"a column '{column}'", f"columns {', '.join(row)}")
    value = row[column]
    if not value:
        raise PlanError(path, line, f"a value in column '{column}'", "an empty cell")
    return value


def _opt(row: Row, column: str) -> str | None:
    return row.get(column) or None


def _many(row: Row, column: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in (row.get(column) or "").split("|") if v.strip())


def _id(path: Path, line: int, row: Row) -> str:
    value = _need(path, line, row, "id")
    if not _ID.match(value):
        raise PlanError(path, line, "an id of lowercase letters, digits and hyphens", repr(value))
    return value


def _place(path: Path, line: int, row: Row) -> PlaceRef:
    kind = _need(path, line, row, "kind")
    if kind not in PLACE_KINDS:
        raise PlanError(path, line, f"a kind among {', '.join(PLACE_KINDS)}", repr(kind))
    code = _opt(row, "code")
    if code is not None and not _CODE.match(code):
        raise PlanError(path, line, "a six-digit GB/T 2260 code", repr(code))
    wikidata = _opt(row, "wikidata")
    if wikidata is not None and not re.match(r"^Q\d+$", wikidata):
        raise PlanError(path, line, "a Wikidata id such as Q956", repr(wikidata))
    return PlaceRef(
        id=_id(path, line, row),
        name=_need(path, line, row, "name"),
        alt_names=_many(row, "alt_names"),
        kind=kind,
        parent=_opt(row, "parent"),
        code=code,
        name_en=_opt(row, "name_en"),
        wikidata=wikidata,
        source=row["source"],
    )


def _org_kind(path: Path, line: int, row: Row) -> OrgKind:
    return OrgKind(
        id=_id(path, line, row),
        label_zh=_need(path, line, row, "label_zh"),
        label_en=_need(path, line, row, "label_en"),
        definition_en=row.get("definition_en", ""),
        source=row["source"],
    )


def _org(path: Path, line: int, row: Row) -> OrgRef:
    return OrgRef(
        id=_id(path, line, row),
        name=_need(path, line, row, "name"),
        other_names=_many(row, "other_names"),
        kind=_need(path, line, row, "kind"),
        jurisdiction=_opt(row, "jurisdiction"),
        parent=_opt(row, "parent"),
        name_en=_opt(row, "name_en"),
        source=row["source"],
    )


def _track(path: Path, line: int, row: Row) -> TrackRef:
    return TrackRef(
        id=_id(path, line, row),
        label_zh=_need(path, line, row, "label_zh"),
        alt_labels=_many(row, "alt_labels"),
        label_en=_opt(row, "label_en"),
        source=row["source"],
    )


def _misprint(path: Path, line: int, row: Row) -> Misprint:
    return Misprint(
        printed=_need(path, line, row, "printed"),
        organization=_need(path, line, row, "organization"),
        evidence=_need(path, line, row, "evidence"),
        source=row["source"],
    )


def _unique(path: Path, ids: Iterator[tuple[str, int]]) -> set[str]:
    seen: dict[str, int] = {}
    for value, line in ids:
        if value in seen:
            raise PlanError(path, line, "a unique id", f"{value!r}, used at line {seen[value]} too")
        seen[value] = line
    return set(seen)


def _points(path: Path, line: int, column: str, value: str | None, ids: set[str]) -> None:
    if value is not None and value not in ids:
        raise PlanError(path, line, f"'{column}' naming an existing id", repr(value))
