"""The sources manifest: which plans to read, with their edition, year and provenance."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from makerkg.config import toml_line, toml_message
from makerkg.errors import PlanError
from makerkg.model import ManifestEntry, Series

MANIFEST = "manifest.toml"
_FIELDS = {"edition": int, "year": int, "year_source": str, "file": str, "title": str, "source": str}
_SERIES_FIELDS = ("name", "name_en", "organizer", "source")  # organizer: documentation only
_TABLES = {"series": _SERIES_FIELDS, "plan": tuple(_FIELDS)}
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]*?)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*[.=]")


def read_manifest(directory: Path) -> tuple[Series, tuple[ManifestEntry, ...]]:
    """Read ``manifest.toml`` in ``directory``; raises PlanError naming the file and line of a bad entry."""
    path = directory / MANIFEST
    if not path.is_file():
        raise PlanError(path, None, f"a manifest {MANIFEST} listing the plans", "no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PlanError(
            path,
            raw[: err.start].count(b"\n") + 1,
            "UTF-8 text",
            f"the byte 0x{raw[err.start]:02x} at offset {err.start}",
        ) from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PlanError(path, toml_line(err), "valid TOML", toml_message(err)) from err
    _check_keys(path, text, data)
    series = _series(path, text, data.get("series"))
    plans = data.get("plan")
    if not isinstance(plans, list) or not plans:
        raise PlanError(path, None, "at least one [[plan]] table", "none")
    starts = _table_lines(text)
    entries: list[ManifestEntry] = []
    for index, plan in enumerate(plans):
        line = starts[index] if index < len(starts) else None
        entries.append(_entry(path, line, plan))
    seen: dict[int, int | None] = {}
    for entry in entries:
        if entry.edition in seen:
            raise PlanError(path, entry.line, "one [[plan]] per edition", f"edition {entry.edition} twice")
        seen[entry.edition] = entry.line
    return series, tuple(sorted(entries, key=lambda e: e.edition))


def _series(path: Path, text: str, table: Any) -> Series:
    line = next((n for n, raw in enumerate(text.splitlines(), start=1) if raw.strip() == "[series]"), None)
    if not isinstance(table, dict):
        raise PlanError(path, line, "a [series] table with name, name_en and source", "none")
    for name in ("name", "name_en", "source"):
        if not isinstance(table.get(name), str) or not table[name].strip():
            raise PlanError(path, line, f"field '{name}' in [series]", repr(table.get(name)))
    return Series(name=table["name"], name_en=table["name_en"], source=table["source"])


def _entry(path: Path, line: int | None, plan: Any) -> ManifestEntry:
    if not isinstance(plan, dict):
        raise PlanError(path, line, "a [[plan]] table", repr(plan))
    for name, kind in _FIELDS.items():
        value = plan.get(name)
        if value is None:
            raise PlanError(path, line, f"field '{name}' in [[plan]]", "no such field")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise PlanError(path, line, f"field '{name}' to be {kind.__name__}", repr(value))
    if plan["edition"] < 1:
        raise PlanError(path, line, "a positive edition ordinal", repr(plan["edition"]))
    if not 1000 <= plan["year"] <= 9999:
        raise PlanError(path, line, "a four-digit year", repr(plan["year"]))
    file = Path(plan["file"])
    if file.is_absolute() or ".." in file.parts:
        raise PlanError(path, line, "a file name inside the sources directory", plan["file"])
    plan_path = path.parent / file
    if not plan_path.is_file():
        raise PlanError(path, line, f"the plan file {plan['file']} beside the manifest", "no such file")
    return ManifestEntry(
        edition=plan["edition"],
        year=plan["year"],
        year_source=plan["year_source"],
        path=plan_path,
        title=plan["title"],
        source=plan["source"],
        manifest=path,
        line=line or 0,
    )


def _check_keys(path: Path, text: str, data: dict[str, Any]) -> None:
    """Refuse a table or key the manifest does not define (a misspelt [[plans]] or year_sourc), naming its line:
    a silently ignored entry would publish a build without an edition."""
    layout = _layout(text)
    for table, value in data.items():
        if table not in _TABLES:
            line = next((n for n, t, _ in layout if t == table), None)
            raise PlanError(path, line, "a [series] table or [[plan]] tables", f"{_shown(table, value)}")
        entries = value if isinstance(value, list) else [value]
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            for key in entry:
                if key not in _TABLES[table]:
                    line = next((n for n, t, k in layout if t == table and k == (index, key)), None)
                    known = ", ".join(_TABLES[table])
                    raise PlanError(path, line, f"a key of [{table}] among {known}", repr(key))


def _shown(table: str, value: Any) -> str:
    """How the manifest wrote it: [[plans]], [plans] or a plain key."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"[[{table}]]"
    return f"[{table}]" if isinstance(value, dict) else repr(table)


def _layout(text: str) -> list[tuple[int, str, tuple[int, str] | None]]:
    """(line, table, (entry index, key) or None) for each table header and key line. Hand-written because tomllib
    keeps no positions; only manifests tomllib has read are scanned, so the simple line shapes suffice."""
    out: list[tuple[int, str, tuple[int, str] | None]] = []
    table, counts = "", dict[str, int]()
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header is not None and not raw.strip().startswith("#"):
            table = header[2].split(".")[0].strip().strip('"')
            counts[table] = counts.get(table, -1) + 1 if header[1] == "[[" else 0
            out.append((number, table, None))
            continue
        key = _KEY.match(raw)
        if key is not None:
            name = key[1].strip("\"'")
            if not table:  # a key before any table header is a top-level entry of its own
                out.append((number, name, None))
            else:
                out.append((number, table, (counts.get(table, 0), name)))
    return out


def _table_lines(text: str) -> list[int]:
    """Line numbers of each ``[[plan]]`` header; tomllib keeps no positions, so they are found by hand."""
    return [n for n, raw in enumerate(text.splitlines(), start=1) if raw.strip() == "[[plan]]"]
