"""Read a contest plan (赛事计划) as published into typed records, in either of its two layouts.

Layout "cells": one table cell per line, each indented by a tab; rows separated by blank lines; a wrapped cell
continues on lines without the tab (sometimes after a blank line). Layout "rows": one table row per line, cells
separated by tabs. The layout is told apart per table by its header row. Both carry page-break debris (blank lines,
runs of dashes) and merged cells printed only on the first row of a page and blank below.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from makerkg.errors import PlanError
from makerkg.model import (
    Address,
    Contest,
    Edition,
    LineRange,
    ManifestEntry,
    OrganizerName,
    Role,
    Section,
    SectionRecord,
)
from makerkg.names import normalise
from makerkg.parse.text import chinese_number, tidy

_SECTIONS = {s.printed: s for s in Section}
_NUMERAL = "一二三四五六七八九十"
# A section heading: an optional Chinese ordinal (二、), a name, and an optional declared count (（共 35 场）).
_HEADING = re.compile(
    rf"^(?:(?P<num>[{_NUMERAL}]+)\s*[、.．]\s*)?(?P<name>[^（()]+?)\s*"
    r"(?:[（(]\s*共\s*(?P<count>\d+)\s*[个场项]\s*[）)])?$"
)
# Page-break debris: runs of dashes (also split by tabs) and page numbers such as "— 5 —".
_DEBRIS = re.compile(r"^\s*(?:[\-—–－_=─]{3,}[\s\-—–－_=─]*|[\-—–－]+\s*\d+\s*[\-—–－]+)\s*$")
_COLUMNS = {
    "序号": "row",
    "赛事名称": "name",
    "地点": "place",
    "决赛地点": "place",
    "举办地点": "place",
    "主办单位": "hosts",
    "承办单位": "undertakers",
    "报名网址": "registration",
    "报名网站": "registration",
}
_REQUIRED = ("name", "place", "hosts")
# Columns whose blank cell repeats the cell above: a merged cell printed only on the first row of a page.
_MERGEABLE = ("place", "hosts", "undertakers", "registration")
_CONTEST_NAME = re.compile(
    r"^第\s*(?P<ordinal>[^届\s]+)\s*届\s*[“\"”「]?\s*创客中国\s*[”\"“」]?\s*(?P<topic>.*?)\s*"
    r"中小企业创新创业大赛\s*(?P<rest>.*)$"
)
_URL = re.compile(
    r"(?:https?://)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?::\d+)?"
    r"(?:[/?#][^\s<>\"“”，。、；（）()]*)?"
)
_ALTERNATIVES = re.compile(r"或|；|;")
_ORG_SEPARATORS = "、，,；;"
_OPEN, _CLOSE = "(（[【", ")）]】"
_LEAD = "牵头"


@dataclass
class _Cell:
    lines: list[tuple[int, str]]

    @property
    def range(self) -> LineRange:
        return LineRange(self.lines[0][0], self.lines[-1][0])

    @property
    def parts(self) -> list[str]:
        """The cell's printed lines, trimmed, blank ones dropped."""
        return [text.strip() for _, text in self.lines if text.strip()]

    @property
    def text(self) -> str:
        """The cell as one string: a wrapped cell's lines are joined without a separator, as in Chinese."""
        return tidy("".join(self.parts))


@dataclass
class _Table:
    heading_line: int
    columns: list[str]
    header: LineRange
    rows: list[list[_Cell]] = field(default_factory=list)


def read_plan(entry: ManifestEntry) -> Edition:
    """Read the plan a manifest entry names; raises PlanError with the file and line of what it cannot read."""
    path = entry.path
    data = _read_bytes(entry)
    lines = _decode(path, data)
    title, title_line, headings = _outline(path, lines)
    if normalise(title) != normalise(entry.title):
        raise PlanError(path, title_line, f"the title the manifest gives, {entry.title}", title)
    sections: list[SectionRecord] = []
    seen: dict[Section, int] = {}
    for index, (line_no, section, declared) in enumerate(headings):
        if section in seen:
            raise PlanError(
                path, line_no, "each section once", f"a second {section.printed} (first at line {seen[section]})"
            )
        seen[section] = line_no
        end = headings[index + 1][0] - 1 if index + 1 < len(headings) else len(lines)
        body = [(n, lines[n - 1]) for n in range(line_no + 1, end + 1)]
        table = _table(path, line_no, body)
        contests = _contests(path, entry.edition, section, table)
        if declared is not None and declared != len(contests):
            raise PlanError(
                path,
                line_no,
                f"{declared} {section.printed} rows, as the heading declares (共{declared})",
                f"{len(contests)} rows",
            )
        sections.append(SectionRecord(section, declared, LineRange(line_no, line_no), tuple(contests)))
    return Edition(
        entry=entry,
        title=tidy(title),
        title_line=title_line,
        sha256=hashlib.sha256(data).hexdigest(),
        line_count=len(lines),
        sections=tuple(sections),
    )


def _read_bytes(entry: ManifestEntry) -> bytes:
    try:
        return entry.path.read_bytes()
    except OSError as err:
        raise PlanError(
            entry.manifest, entry.line, f"a readable plan file {entry.path.name}", err.strerror or str(err)
        ) from err


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def _decode(path: Path, data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise PlanError(path, line, "UTF-8 text", f"the byte 0x{data[err.start]:02x} at offset {err.start}") from err
    control = _CONTROL.search(text)
    if control is not None:  # RDF/XML and SPARQL XML cannot carry them, and no plan prints them
        line = text[: control.start()].count("\n") + 1
        column = control.start() - text.rfind("\n", 0, control.start())
        raise PlanError(path, line, "text (tabs and line ends are the only control characters a plan holds)",
                        f"the control character U+{ord(control.group()):04X} at column {column}")  # fmt: skip
    # split on \n only: str.splitlines would also break at form feeds and other separators, and the line
    # numbers in messages must be those an editor shows.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line; a file without one is read the same
    return [line.rstrip("\r") for line in lines]


def _is_blank(line: str) -> bool:
    """A blank line or page-break debris. (In the cells layout a lone tab is an empty cell, not a blank.)"""
    return not line.strip() or _DEBRIS.match(line) is not None


def _heading(path: Path, line_no: int, line: str) -> tuple[Section, int | None] | None:
    """A section heading on this line, or None. A numbered heading of an unknown section is an error."""
    if "\t" in line.strip("\t ") or line.startswith("\t"):
        return None
    text = tidy(line)
    match = _HEADING.match(text)
    if match is None:
        return None
    name = normalise(match["name"])
    section = _SECTIONS.get(name)
    if section is None:
        if match["num"] or match["count"]:
            known = "、".join(_SECTIONS)
            raise PlanError(path, line_no, f"a section heading naming one of {known}", text)
        return None
    return section, int(match["count"]) if match["count"] else None


def _outline(path: Path, lines: Sequence[str]) -> tuple[str, int, list[tuple[int, Section, int | None]]]:
    """The title line and the section headings, in order."""
    title: tuple[str, int] | None = None
    headings: list[tuple[int, Section, int | None]] = []
    for line_no, line in enumerate(lines, start=1):
        if _is_blank(line):
            continue
        found = _heading(path, line_no, line)
        if found is not None:
            headings.append((line_no, *found))
        elif title is None and not headings and "赛事计划" in line:
            title = (tidy(line), line_no)
    if title is None:
        first = headings[0][0] if headings else len(lines)
        raise PlanError(path, first or 1, "a title line (…赛事计划) before the first section", "none")
    if not headings:
        known = "、".join(_SECTIONS)
        raise PlanError(path, len(lines), f"at least one section heading ({known})", "none")
    return title[0], title[1], headings


def _table(path: Path, heading_line: int, body: list[tuple[int, str]]) -> _Table:
    content = [(n, line) for n, line in body if not _is_blank(line)]
    if not content:
        raise PlanError(path, heading_line, "a table under the section heading", "nothing before the next heading")
    first_no, first = content[0]
    if first.startswith("\t"):
        return _cells_layout(path, heading_line, body)
    return _rows_layout(path, heading_line, content)


def _columns(path: Path, lines: Sequence[int], names: Sequence[str]) -> list[str]:
    """Map header cells (printed on ``lines``) to fields; an unknown or missing heading is an error."""
    line_no = lines[0]
    columns = []
    for name, name_line in zip(names, lines, strict=True):
        key = _COLUMNS.get(normalise(name))
        if key is None:
            raise PlanError(path, name_line, f"a column heading ({'、'.join(_COLUMNS)})", repr(tidy(name)))
        columns.append(key)
    for required in _REQUIRED:
        if required not in columns:
            printed = next(k for k, v in _COLUMNS.items() if v == required)
            raise PlanError(path, line_no, f"a {printed} column", f"columns {'、'.join(tidy(n) for n in names)}")
    return columns


def _rows_layout(path: Path, heading_line: int, content: list[tuple[int, str]]) -> _Table:
    header_no, header = content[0]
    names = [cell for cell in header.split("\t") if cell.strip()]
    table = _Table(heading_line, _columns(path, [header_no] * len(names), names), LineRange(header_no, header_no))
    width = len(table.columns)
    for line_no, line in content[1:]:
        cells = line.split("\t")
        while len(cells) > width and not cells[-1].strip():
            cells.pop()  # a stray tab after the last cell
        if len(cells) != width:
            raise PlanError(
                path, line_no, f"a row of {width} tab-separated cells ({_printed(names)})", f"{len(cells)} cells"
            )
        table.rows.append([_Cell([(line_no, cell)]) for cell in cells])
    return table


def _cells_layout(path: Path, heading_line: int, body: list[tuple[int, str]]) -> _Table:
    groups: list[list[_Cell]] = []
    current: list[_Cell] = []
    after_blank = False
    for line_no, line in body:
        is_cell = line.startswith("\t") and _DEBRIS.match(line) is None
        if not is_cell and _is_blank(line):
            after_blank = True
            continue
        if is_cell:
            if after_blank and current:
                groups.append(current)
                current = []
            current.append(_Cell([(line_no, line[1:])]))
        elif current:
            current[-1].lines.append((line_no, line))  # a wrapped cell goes on without the tab
        else:
            raise PlanError(path, line_no, "a table cell (a line indented by a tab)", repr(tidy(line)))
        after_blank = False
    if current:
        groups.append(current)
    header_cells = groups.pop(0)
    names = [cell.text for cell in header_cells]
    lines = [cell.range.first for cell in header_cells]
    table = _Table(heading_line, _columns(path, lines, names), LineRange(lines[0], header_cells[-1].range.last))
    width = len(table.columns)
    numbered = table.columns[0] == "row"
    rows: list[list[_Cell]] = []
    for group in groups:
        # A page break can split a row: a short row is continued by a group that does not start a new row.
        starts_row = numbered and normalise(group[0].text).isdigit()
        if rows and len(rows[-1]) < width and not starts_row and len(rows[-1]) + len(group) <= width:
            rows[-1].extend(group)
        else:
            rows.append(list(group))
    for row in rows:
        if len(row) != width:
            raise PlanError(
                path, row[0].range.first, f"a row of {width} cells ({_printed(names)})", f"{len(row)} cells"
            )
    table.rows = rows
    return table


def _printed(names: Sequence[str]) -> str:
    return "、".join(tidy(n) for n in names)


def _contests(path: Path, edition: int, section: Section, table: _Table) -> list[Contest]:
    contests: list[Contest] = []
    previous: dict[str, _Cell] = {}
    for index, row in enumerate(table.rows, start=1):
        cells = dict(zip(table.columns, row, strict=True))
        first = min(c.range.first for c in row)
        last = max(c.range.last for c in row)
        number = None
        if "row" in cells:
            number = _row_number(path, cells["row"], index)
        for column in _MERGEABLE:
            cell = cells.get(column)
            if cell is None:
                continue
            if cell.parts:
                previous[column] = cell
            elif column in previous:
                cells[column] = previous[column]
            elif column in _REQUIRED:
                raise PlanError(path, cell.range.first, f"a {column} cell", "a blank cell with none above it")
        name_cell = cells["name"]
        name = name_cell.text
        if not name:
            raise PlanError(path, name_cell.range.first, "a contest name (赛事名称)", "a blank cell")
        organizers = _organizers(path, cells["hosts"], host=True)
        if "undertakers" in cells:
            organizers += _organizers(path, cells["undertakers"], host=False)
        registration = cells.get("registration")
        printed_registration = None
        if registration is not None and row[table.columns.index("registration")].parts:
            printed_registration = tidy(" ".join(registration.parts))
        contests.append(
            Contest(
                section=section,
                row=number,
                name=name,
                topic=_topic(path, name_cell, edition),
                place=cells["place"].text,
                organizers=organizers,
                addresses=_addresses(path, registration) if registration is not None else (),
                printed_registration=printed_registration,
                lines=LineRange(first, last),
            )
        )
    return contests


def _row_number(path: Path, cell: _Cell, expected: int) -> int:
    text = normalise(cell.text)
    if not text.isdigit():
        raise PlanError(path, cell.range.first, "a row number (序号)", repr(cell.text))
    if int(text) != expected:
        raise PlanError(path, cell.range.first, f"row number {expected}", text)
    return expected


def _topic(path: Path, cell: _Cell, edition: int) -> str:
    """The part of a contest's name that says what it is about: 北京市, 视觉智能, 国际, or 全国总决赛 for the final."""
    match = _CONTEST_NAME.match(cell.text)
    if match is None:
        return cell.text
    ordinal = chinese_number(match["ordinal"])
    if ordinal != edition:
        raise PlanError(path, cell.range.first, f"a contest of edition {edition} (第…届)", cell.text)
    return tidy(match["topic"]) or tidy(match["rest"]) or cell.text


def _split_outside_brackets(text: str) -> Iterator[str]:
    """Split a cell at 、 and commas, but not inside brackets: 甲（乙）、丙 is two names."""
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch in _ORG_SEPARATORS and depth == 0:
            yield text[start:i]
            start = i + 1
    yield text[start:]


def _organizers(path: Path, cell: _Cell, *, host: bool) -> tuple[OrganizerName, ...]:
    text = tidy("".join(cell.parts))
    parts = [tidy(p) for p in _split_outside_brackets(text)]
    parts = [p for p in parts if p]
    if not parts:
        if host:
            raise PlanError(path, cell.range.first, "at least one host organization (主办单位)", "a blank cell")
        return ()
    marked = [p.endswith(_LEAD) for p in parts]
    # 甲、乙牵头 marks the whole list as leading; 甲牵头、乙 marks 甲 alone.
    whole_cell = marked[-1] and not any(marked[:-1])
    names: list[OrganizerName] = []
    for position, (part, lead) in enumerate(zip(parts, marked, strict=True), start=1):
        printed = tidy(part[: -len(_LEAD)]) if lead else part
        if not printed:
            raise PlanError(path, cell.range.first, "an organization name before 牵头", repr(part))
        if not host:
            role = Role.UNDERTAKER
        elif lead or whole_cell:
            role = Role.LEAD
        else:
            role = Role.HOST
        names.append(OrganizerName(printed=printed, role=role, position=position))
    return tuple(names)


def _addresses(path: Path, cell: _Cell) -> tuple[Address, ...]:
    """Registration addresses: one or more per line, alternatives joined by 或, each perhaps labelled (大赛官网)."""
    addresses: list[Address] = []
    for line_no, line in cell.lines:
        for piece in _ALTERNATIVES.split(line):
            piece = piece.strip()
            if not piece:
                continue
            start = 0
            found = False
            for match in _URL.finditer(piece):
                label = tidy(piece[start : match.start()])
                url = match.group(0).rstrip(".")
                iri = url if re.match(r"^https?://", url, re.IGNORECASE) else f"http://{url}"
                addresses.append(Address(printed=url, label=label, iri=iri))
                start = match.end()
                found = True
            if not found:
                raise PlanError(path, line_no, "a web address (报名网址)", repr(piece))
    return tuple(addresses)
