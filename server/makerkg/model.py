"""Frozen records handed from stage to stage: what the parser reads, what the builder reports."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path


class Section(Enum):
    """The sections of a plan; the value is the IRI path segment."""

    FINAL = "final"
    REGIONAL = "regional"
    THEMATIC = "thematic"
    OVERSEAS = "overseas"

    @property
    def printed(self) -> str:
        """The section's name as a plan prints it.

        >>> Section.OVERSEAS.printed
        '境外区域赛'
        """
        return _PRINTED[self]


_PRINTED = {
    Section.FINAL: "总决赛",
    Section.REGIONAL: "区域赛",
    Section.THEMATIC: "专题赛",
    Section.OVERSEAS: "境外区域赛",
}


class Role(Enum):
    """The part an organization plays in a contest; the value is the IRI fragment prefix."""

    LEAD = "lead"
    HOST = "host"
    UNDERTAKER = "undertaker"


@dataclass(frozen=True)
class LineRange:
    """Lines of a source file, 1-based and inclusive."""

    first: int
    last: int

    def __str__(self) -> str:
        return f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Series:
    """The contest series a manifest describes."""

    name: str
    name_en: str
    source: str


@dataclass(frozen=True)
class ManifestEntry:
    """One plan listed in a sources manifest."""

    edition: int
    year: int
    year_source: str
    path: Path
    title: str
    source: str
    manifest: Path
    line: int

    @property
    def file(self) -> str:
        """The plan's file name, which names its source document."""
        return self.path.name


@dataclass(frozen=True)
class OrganizerName:
    """One organization named in a host or undertaker cell."""

    printed: str  # as printed, without the 牵头 marker and outer spaces
    role: Role
    position: int  # 1-based place in the cell


@dataclass(frozen=True)
class Address:
    """One registration address of a contest."""

    printed: str  # the address as printed, label removed
    label: str  # text printed before it, such as 大赛官网, or ""
    iri: str  # the printed address, with http:// added where it has no scheme


@dataclass(frozen=True)
class Contest:
    """One row of a plan's table."""

    section: Section
    row: int | None  # 序号, where the table has that column
    name: str
    topic: str  # the part of the name between “创客中国” and 中小企业创新创业大赛
    place: str
    organizers: tuple[OrganizerName, ...]
    addresses: tuple[Address, ...]
    printed_registration: str | None  # None where the cell was blank (merged) or the table has no such column
    lines: LineRange


@dataclass(frozen=True)
class SectionRecord:
    """A section of a plan with the count its header declares."""

    section: Section
    declared: int | None
    header: LineRange
    contests: tuple[Contest, ...]


@dataclass(frozen=True)
class Edition:
    """A parsed plan: the edition it describes and its sections in printed order."""

    entry: ManifestEntry
    title: str
    title_line: int
    sha256: str
    line_count: int
    sections: tuple[SectionRecord, ...] = field(default_factory=tuple)

    @property
    def ordinal(self) -> int:
        """The edition's ordinal (8 for 第八届)."""
        return self.entry.edition

    @property
    def contests(self) -> tuple[Contest, ...]:
        """Every contest of every section, in printed order."""
        return tuple(c for s in self.sections for c in s.contests)


@dataclass(frozen=True)
class Sources:
    """What a sources directory holds: the series and its parsed plans, in edition order."""

    directory: Path
    series: Series
    editions: tuple[Edition, ...]


@dataclass(frozen=True)
class Statistics:
    """VoID figures of a build's default graph, counted by the store."""

    classes: dict[str, int]  # entities per class
    properties: dict[str, int]  # triples per property
    distinct_subjects: int
    distinct_objects: int
    entities: int  # subjects that are IRIs


@dataclass(frozen=True)
class BuildSummary:
    """The counts a user checks first, recorded in ``build.json``: contests per edition and section, the
    organizations, places and tracks they name, how printed names resolved, and the store's figures."""

    contests: dict[int, dict[str, int]]  # edition → section → contests
    printed_organization_names: int
    organizations: int
    organizations_in_every_edition: int
    resolution: dict[str, int]  # method → printed names resolved by it
    places: int
    tracks: int
    unresolved: tuple[str, ...]  # file:line: the printed name, for each name no reference row knows
    quads: int
    statistics: Statistics | None = None  # counted once the store is written
    # names of the graph's places that name several places by the linker's rules: normal form → place ids
    shared_place_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> BuildSummary:
        """A summary read back from ``build.json`` (whose object keys are strings).

        >>> BuildSummary.from_json({"contests": {"8": {"final": 1}}, "printed_organization_names": 1,
        ...     "organizations": 1, "organizations_in_every_edition": 1, "resolution": {}, "places": 1, "tracks": 0,
        ...     "unresolved": [], "quads": 3, "statistics": None}).contests
        {8: {'final': 1}}
        """
        known = {f.name for f in fields(cls)}  # a later version's build may say more: read what this one knows
        values = {k: v for k, v in raw.items() if k in known}
        contests = values.pop("contests")
        unresolved = values.pop("unresolved")
        statistics = values.pop("statistics", None)
        shared = values.pop("shared_place_names", {})  # absent from builds made before it was recorded
        if not isinstance(contests, dict) or not isinstance(unresolved, list) or not isinstance(shared, dict):
            raise TypeError("contests, unresolved and shared_place_names")
        return cls(
            contests={int(k): dict(v) for k, v in contests.items()},
            unresolved=tuple(str(u) for u in unresolved),
            statistics=Statistics(**statistics) if isinstance(statistics, dict) else None,
            shared_place_names={str(k): tuple(str(i) for i in v) for k, v in shared.items()},
            **values,  # type: ignore[arg-type]
        )
