"""The lock file CI installs from agrees with the dependencies pyproject.toml declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_dependency_is_locked_within_its_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]]
    locked = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            locked[canonicalize_name(name)] = version
    missing = [str(r) for r in declared if canonicalize_name(r.name) not in locked]
    outside = [f"{r} (locked {locked[canonicalize_name(r.name)]})" for r in declared
               if canonicalize_name(r.name) in locked and locked[canonicalize_name(r.name)] not in r.specifier]  # fmt: skip
    assert (missing, outside) == ([], [])
