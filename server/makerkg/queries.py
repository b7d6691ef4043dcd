"""Named queries: ``ontology/queries/NAME.rq``, each with a header comment giving its title, description and
typed parameters::

    # title: Organizations active in both of two editions
    # description: Every organization that hosts or undertakes a contest in edition ?a and in edition ?b.
    # param: a edition = 8 : the first edition
    # param: b edition = 11 : the second edition

A parameter is a variable of the query; its value is checked against its type, made an RDF term, and bound
with a ``VALUES`` block, written from that term's N-Triples form, opening the outer ``WHERE`` group: the text a
client sends never reaches the query. (A trailing VALUES clause would not do: SPARQL joins it after grouping.
pyoxigraph's ``substitutions`` would be the engine's own way, but it accepts only variables the SELECT
projects, and parameters here are join keys and filters.) A parameter without a default is required; ``= *``
makes it optional (unbound: the query ranges over all values). An edition parameter may default to ``latest`` or
``previous``: the build's latest and second latest editions, so that defaults follow the data. Given the build's
editions, an edition parameter naming one the build lacks is refused with the list of those it has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from makerkg import resources
from makerkg.errors import PlanError, UsageError
from makerkg.iris import Layout

XSD = "http://www.w3.org/2001/XMLSchema#"
_HEADER = re.compile(r"^#\s*(?P<key>title|description|param)\s*:\s*(?P<value>.*?)\s*$")
_PARAM = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s+(?P<type>\w+)(?:\s*=\s*(?P<default>\S+))?\s*(?::\s*(?P<doc>.*))?$")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
TYPES = {
    "edition": "an edition ordinal (a positive whole number, 8 for 第八届)",
    "integer": "a whole number",
    "string": "a text of at most 200 characters",
    "place": "a place id (a GB/T 2260 code such as 330100, or an id such as xpcc)",
    "organization": "an organization id (such as miit)",
}
OPTIONAL = "*"
EDITION_DEFAULTS = {"latest": 1, "previous": 2}  # the n-th edition from the end of the build's editions


@dataclass(frozen=True)
class Parameter:
    """A typed parameter of a named query."""

    name: str
    type: str
    default: str | None  # None: required; "*": optional and unbound by default
    doc: str

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class NamedQuery:
    """A SPARQL query file with its header."""

    name: str
    title: str
    description: str
    parameters: tuple[Parameter, ...]
    text: str
    path: Path


def load_queries(directory: Path | None = None) -> dict[str, NamedQuery]:
    """Every named query in ``directory`` (default: the shipped ones), by name; raises PlanError on a bad header."""
    directory = directory or resources.queries_dir()
    queries = {}
    for path in sorted(directory.glob("*.rq")):
        query = read_query(path)
        queries[query.name] = query
    return queries


def read_query(path: Path) -> NamedQuery:
    """Read one query file and check its header and parameters against the query text."""
    name = path.stem
    if not _NAME.fullmatch(name):
        raise PlanError(path, None, "a file name of lowercase letters, digits and hyphens", name)
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    params: list[Parameter] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("#"):
            break
        match = _HEADER.match(line)
        if match is None:
            continue
        if match["key"] == "param":
            spec = _PARAM.match(match["value"])
            if spec is None:
                raise PlanError(path, number, "param: NAME TYPE [= DEFAULT] [: description]", match["value"])
            if spec["type"] not in TYPES:
                raise PlanError(path, number, f"a parameter type among {', '.join(TYPES)}", spec["type"])
            if not re.search(rf"\?{spec['name']}\b", text):
                raise PlanError(path, number, f"a variable ?{spec['name']} in the query", "none")
            params.append(Parameter(spec["name"], spec["type"], spec["default"], spec["doc"] or ""))
        else:
            header[match["key"]] = (header.get(match["key"], "") + " " + match["value"]).strip()
    for key in ("title", "description"):
        if not header.get(key):
            raise PlanError(path, 1, f"a '# {key}:' line in the header", "none")
    if params and _WHERE.search(text) is None:
        raise PlanError(path, None, "a 'WHERE {' opening the query's pattern (parameters are bound there)", "none")
    query = NamedQuery(name, header["title"], header["description"], tuple(params), text, path)
    for param in params:
        if param.default not in (None, OPTIONAL):
            bind_parameters(query, {}, "https://example.org/", check_only=param.name)
    return query


def edition_default(name: str, editions: Sequence[int]) -> int:
    """The edition a symbolic default names among the build's ``editions`` (ascending): the previous of a single
    edition is that edition.

    >>> edition_default("latest", [8, 11]), edition_default("previous", [8, 11]), edition_default("previous", [8])
    (11, 8, 8)
    """
    if not editions:
        raise UsageError("edition", "this build holds no edition")
    return editions[-min(EDITION_DEFAULTS[name], len(editions))]


def _term(param: Parameter, value: str, base: str, editions: Sequence[int] | None = None) -> ox.NamedNode | ox.Literal:
    kind = param.type
    if kind in ("edition", "integer"):
        if not re.fullmatch(r"[0-9]{1,6}", value) or (kind == "edition" and int(value) < 1):
            raise UsageError(param.name, f"expected {TYPES[kind]}, found {value!r}")
        if kind == "edition" and editions is not None and int(value) not in editions:
            known = ", ".join(str(e) for e in editions) or "none"
            raise UsageError(param.name, f"no edition {int(value)} in this build (editions: {known})")
        datatype = "integer"
        return ox.Literal(str(int(value)), datatype=ox.NamedNode(XSD + datatype))
    if kind == "string":
        if len(value) > 200:
            raise UsageError(param.name, f"expected {TYPES[kind]}, found {len(value)} characters")
        return ox.Literal(value)
    if not _ID.fullmatch(value) or len(value) > 64:
        raise UsageError(param.name, f"expected {TYPES[kind]}, found {value!r}")
    layout: Layout[str] = Layout(base)
    return ox.NamedNode(layout.place(value) if kind == "place" else layout.organization(value))


def bind_parameters(
    query: NamedQuery,
    values: Mapping[str, str],
    base: str,
    *,
    editions: Sequence[int] | None = None,
    check_only: str | None = None,
) -> dict[str, ox.NamedNode | ox.Literal]:
    """RDF terms for the query's parameters from their text values, defaults ``latest`` and ``previous`` taken
    from the build's ``editions`` (ascending), every edition checked against them when they are given; raises
    UsageError naming the parameter."""
    known = {p.name for p in query.parameters}
    for name in values:
        if name not in known:
            raise UsageError(name, f"not a parameter of {query.name} (it takes {', '.join(sorted(known)) or 'none'})")
    bindings: dict[str, ox.NamedNode | ox.Literal] = {}
    for param in query.parameters:
        if check_only is not None and param.name != check_only:
            continue
        value = values.get(param.name, param.default)
        if value is None:
            raise UsageError(param.name, f"required: {TYPES[param.type]}")
        if value == OPTIONAL and param.name not in values:
            continue
        if param.type == "edition" and value in EDITION_DEFAULTS and param.name not in values:
            if editions is None:
                if check_only is not None:
                    continue  # a symbolic default: checked against the build when the query runs
                raise UsageError(param.name, f"the {value} edition needs a build to look in")
            value = str(edition_default(value, editions))
        bindings[param.name] = _term(param, value, base, editions)
    return bindings


def bound_text(query: NamedQuery, bindings: Mapping[str, ox.NamedNode | ox.Literal]) -> str:
    """The query text with its parameters bound by a VALUES block of RDF terms opening the outer WHERE group.

    >>> q = NamedQuery("x", "t", "d", (), "SELECT ?s WHERE { ?s ?p ?a }", Path("x.rq"))
    >>> print(bound_text(q, {"a": ox.Literal('浙江 "x"', language="zh")}))
    SELECT ?s WHERE { VALUES (?a) { ("浙江 \\"x\\""@zh) } ?s ?p ?a }
    """
    if not bindings:
        return query.text
    names = sorted(bindings)
    variables = " ".join(f"?{n}" for n in names)
    terms = " ".join(str(bindings[n]) for n in names)  # N-Triples syntax, escaped by pyoxigraph
    block = f"VALUES ({variables}) {{ ({terms}) }}"
    return _WHERE.sub(lambda m: f"{m.group(0)} {block}", query.text, count=1)
