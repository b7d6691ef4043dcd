"""``makerkg export``: the current build in one RDF format, from its dumps (byte-identical for the same build)."""

from __future__ import annotations

import shutil
from pathlib import Path

from makerkg.formats import Format
from makerkg.store.dumps import dump_name
from makerkg.store.layout import DUMPS_DIR, Build


def export(build: Build, fmt: Format, target: Path | None) -> bytes | None:
    """The build in ``fmt``: its dump, written to ``target``, or the bytes when there is no target."""
    dump = build.path / DUMPS_DIR / dump_name(fmt)
    if target is None:
        return dump.read_bytes()
    shutil.copyfile(dump, target)
    return None
