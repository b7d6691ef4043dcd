"""The command line: help everywhere, one-line errors with exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.facts import WITHOUT_REGIONAL

COMMANDS = ["build", "validate", "query", "queries", "export", "diff"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerkg.cli", *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help(command: str) -> None:
    done = run(*([command] if command else []), "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: makerkg")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["query", "SELECT * WHERE { ?s ?p ?o }", "--out", "{tmp}/none"],
            5,
            "makerkg: {tmp}/none: no built graph here (run `makerkg build` first)",
        ),
        (["diff", "8", "eleven"], 2, "makerkg: argument B: invalid int value: 'eleven'"),
        (
            ["export", "--format", "xml"],
            2,
            "makerkg: argument --format: invalid choice: 'xml' (choose from …)",
        ),
        (["validate", "{tmp}/missing.ttl"], 2, "makerkg: FILE: {tmp}/missing.ttl: no such file"),
        (
            ["build", "--sources", "{tmp}", "--out", "{tmp}/out"],
            3,
            "makerkg: {tmp}/manifest.toml: expected a manifest manifest.toml listing the plans, found no such file",
        ),
        (
            ["--config", "{tmp}/nope.toml", "queries"],
            2,
            "makerkg: {tmp}/nope.toml: cannot read the configuration file (No such file or directory)",
        ),
        (
            ["--config", "{tmp}/bad.toml", "queries"],
            2,
            "makerkg: {tmp}/bad.toml:2: not valid TOML (Expected '=' after a key in a key/value pair at column 9)",
        ),
        (
            ["validate", "{tmp}/bad.nt"],
            2,
            "makerkg: FILE: {tmp}/bad.nt: not readable as nt (Parser error at line 2 between columns 1 and 4: "
            "No scheme found in an absolute IRI (bad.nt, line 2))",
        ),
        (
            ["validate", "{tmp}/bad.toml"],
            2,
            "makerkg: FILE: {tmp}/bad.toml: not a known RDF file extension (known: .ttl, .nt, .nq, .trig, .jsonld, .rdf)",
        ),
        (
            ["export", "--format", "ttl", "-o", "{tmp}/missing/dir/x.ttl", "--out", "{tmp}/none"],
            5,
            "makerkg: {tmp}/none: no built graph here (run `makerkg build` first)",
        ),
        (
            ["build", "--out", "{tmp}/bad.toml"],
            6,
            "makerkg: {tmp}/bad.toml: File exists",
        ),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    (tmp_path / "bad.toml").write_text('out = "x"\nworkers 3\n', encoding="utf-8")
    (tmp_path / "bad.nt").write_text("<https://a/> <https://b/> <https://c/> .\n<a> <b> <c> .\n", encoding="utf-8")
    done = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert done.returncode == code
    last = done.stderr.strip().splitlines()[-1]
    expected = message.replace("{tmp}", str(tmp_path))
    if expected.endswith("(choose from …)"):  # argparse quotes the choices in some Python versions, not others
        assert last.startswith(expected.removesuffix("…)"))
    else:
        assert last == expected
    assert "Traceback" not in done.stderr


def test_query_errors_name_the_parameter(tmp_path: Path) -> None:
    assert run("build", "--out", str(tmp_path)).returncode == 0
    done = run("query", "--named", "region-hosts", "--param", "a=x", "--out", str(tmp_path))
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "makerkg: a: expected an edition ordinal (a positive whole number, 8 for 第八届), found 'x'",
    )
    done = run("query", "SELEC * WHERE {}", "--out", str(tmp_path))
    assert done.returncode == 2 and done.stderr.startswith("makerkg: ") and "Traceback" not in done.stderr
    done = run(
        "query",
        "--named",
        "provinces-without-regional",
        "--param",
        "edition=8",
        "--format",
        "csv",
        "--out",
        str(tmp_path),
    )
    assert done.stdout.splitlines() == [
        "province,name",
        *(f"https://w3id.org/makerkg/place/{code},{name}" for code, name in WITHOUT_REGIONAL.items()),
    ]


@pytest.mark.parametrize("engine", [[], ["--engine", "pyshacl"], ["--engine", "pyshacl-turbo"]])
def test_validate_reports_focus_path_and_message(tmp_path: Path, engine: list[str]) -> None:
    broken = tmp_path / "broken.ttl"
    broken.write_text(
        "@prefix mkg: <https://w3id.org/makerkg/ontology#> .\n<https://w3id.org/makerkg/edition/9> a mkg:Edition .\n",
        encoding="utf-8",
    )
    done = run("validate", str(broken), *engine)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith("makerkg: the graph does not conform to ontology/shapes.ttl: ")
    assert "Violation: https://w3id.org/makerkg/edition/9 https://w3id.org/makerkg/ontology#ordinal: " in done.stderr


def test_an_unwritable_output_is_one_line(tmp_path: Path) -> None:
    """Issue "Safe on the open internet": `makerkg export -o /missing/dir/x.ttl` printed a traceback."""
    assert run("build", "--out", str(tmp_path / "out")).returncode == 0
    done = run("export", "--format", "ttl", "-o", str(tmp_path / "missing" / "x.ttl"), "--out", str(tmp_path / "out"))
    assert (done.returncode, done.stderr.strip()) == (
        6,
        f"makerkg: {tmp_path}/missing/x.ttl: No such file or directory",
    )


def test_a_manifest_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "manifest.toml").write_bytes('# 赛事计划\n[series]\nname = "创客中国"\n'.encode("gbk"))
    done = run("build", "--sources", str(sources), "--out", str(tmp_path / "out"))
    assert (done.returncode, done.stderr.strip()) == (
        3,
        f"makerkg: {sources}/manifest.toml:1: expected UTF-8 text, found the byte 0xc8 at offset 2",
    )


def test_query_knows_the_graph_s_prefixes_in_every_format(tmp_path: Path) -> None:
    assert run("build", "--out", str(tmp_path)).returncode == 0
    query = "SELECT ?n WHERE { ?e a mkg:Edition ; mkg:ordinal ?n } ORDER BY ?n"
    table = run("query", query, "--out", str(tmp_path))
    assert table.stdout.splitlines() == ["n", "--", "8", "11", "(2 rows)"], table.stderr
    assert run("query", query, "--format", "csv", "--out", str(tmp_path)).stdout.splitlines() == ["n", "8", "11"]
    ask = run("query", "ASK { ?e a mkg:Edition }", "--out", str(tmp_path))
    assert (ask.returncode, ask.stdout) == (0, "true\n")
