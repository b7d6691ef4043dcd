"""The one check a query passes before the engine sees it: a linear scan of its text, with no parser.

Oxigraph alone parses a query, in the worker that runs it (syntax errors come from its parser, with line and
column). Before that, this scan reads the text as tokens and answers four questions in time linear in its length:
its form (SELECT, ASK, CONSTRUCT, DESCRIBE: negotiation needs it before the answer exists), whether it is an update
(refused), whether it names ``SERVICE`` (refused: federated queries reach outside the dataset), and whether it is
nested or chained beyond what the engine evaluates without exhausting its stack (refused with the limit named).

The scan is a second reading of the text, so it is made conservative wherever it could differ from the engine's:
- Oxigraph expands ``\\u``/``\\U`` escapes inside strings and IRIs only; SPARQL 1.1 (19.2) expands them over the
  whole text first. A text holding such escapes is scanned both ways and refused where the two readings disagree
  on its form, or where either finds SERVICE.
- Only strings, IRIs (with their ``\\u`` escapes), comments, variable names, the local part of prefixed names with
  the escapes and ``%hh`` they may hold (``ex:a\\'b``: the quote is part of the name, not a string) are read as
  opaque. A bare dot ends a local part here, though a name may hold one: the engine reads ``ex:a.b.service`` as
  ``ex:a.b``, a dot and SERVICE, but ``ex:a.service`` as one name (tests/unit/test_precheck.py holds both).
  Wherever the scan is unsure of a token's end it reads on as query text, so that more, never less, is checked.
  Any run of letters ``service`` outside those spans counts as the keyword: Oxigraph reads ``SERVICEx:y {…}`` as
  ``SERVICE x:y {…}``, so a word boundary proves nothing.
The worker processes cannot open network connections in any case (see ``store/sandbox.py``): this check gives the
clear refusal, the sandbox the guarantee.

>>> precheck("PREFIX ex: <http://example.org/> SELECT * { ?s ex:p ?o }").form
'SELECT'

``outline`` reads the same tokens for a remote store (``store/remote.py``), which is told what the embedded engine
is given apart from the text: where the prologue ends and what it declares, and whether the query names its own
dataset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from makerkg.errors import QueryRefused, QuerySyntaxError

READ_ONLY = "this endpoint is read-only: SPARQL Update is not accepted"
SERVICE_REFUSED = (
    "SERVICE is refused: this endpoint queries only its own dataset (a name containing “service” outside an IRI, "
    "string or variable reads as that keyword; rename it)"
)
FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")
UPDATES = ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH")
MAX_DEPTH = 200  # brackets open at once: ( { [
# operators and the keywords that nest the algebra: each adds a level to the engine's recursion
MAX_OPERATORS = 2_000


@dataclass(frozen=True)
class Prechecked:
    """What the scan learnt: the query's form, how deeply it nests and how many operators it chains."""

    text: str
    form: str | None  # None: no query form where one belongs (the engine will report the syntax error)
    depth: int
    operators: int
    volatile: bool = False  # it calls NOW(), RAND(), UUID() or STRUUID(): two runs may answer differently


# Oxigraph's reading: whitespace is space, tab, CR, LF; a comment ends at CR or LF; strings and IRIs may hold
# escapes. Possessive quantifiers keep every alternative linear.
_TOKENS = re.compile(
    r"""
      (?P<space>[\ \t\r\n]++)
    | (?P<comment>\#[^\r\n]*+)
    | (?P<string>\"\"\"[^"\\]*+(?:(?:\\.|"(?!""))[^"\\]*+)*+\"\"\"
                | '''[^'\\]*+(?:(?:\\.|'(?!''))[^'\\]*+)*+'''
                | "[^"\\\r\n]*+(?:\\[^\r\n][^"\\\r\n]*+)*+"
                | '[^'\\\r\n]*+(?:\\[^\r\n][^'\\\r\n]*+)*+')
    | (?P<unclosed>\"\"\"|'''|"|')
    | (?P<iri><(?:[^<>"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*+>)
    | (?P<var>[?$][^\W]++)
    | (?P<local>(?<=:)(?:[^\W]|:|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%])
                (?:[^\W]|[-:]|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%])*+)  # no bare ".": see the module's doc
    | (?P<escape>\\[_~.\-!$&'()*+,;=/?\#@%])
    | (?P<word>[^\W\d]++)
    | (?P<open>[({\[])
    | (?P<close>[)}\]])
    | (?P<datatype>\^\^)
    | (?P<op>\|\||&&|!=|<=|>=|[-+*/!=<>|^])
    | (?P<other>[,;.0-9][,;.0-9\ \t\r\n]*+|.)  # a run of what never starts a token that matters (a list of numbers)
    """,
    re.VERBOSE | re.DOTALL,
)
_SERVICE = re.compile(r"service", re.IGNORECASE)
_NESTING_WORDS = frozenset({"UNION", "OPTIONAL", "MINUS"})
# functions whose value is the run's own (SPARQL 1.1, 17.4.5.1 and 17.4.2.12-13): an answer calling them is never
# reused (any word so spelt counts, outside the opaque tokens: a prefix rand: too, which costs only a cache miss)
_VOLATILE = frozenset({"NOW", "RAND", "UUID", "STRUUID"})
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


@dataclass
class _Reading:
    form: str | None = None
    update: bool = False
    service: bool = False
    volatile: bool = False
    depth: int = 0
    operators: int = 0


def _read(text: str, max_operators: int, strict: bool) -> _Reading:
    """One reading of the text as tokens; it stops once the operators pass ``max_operators`` (refused anyway).

    A quote that opens a string never closed is a syntax error when ``strict`` (Oxigraph's reading: a string it can
    close, this scan closes too, since its strings take every character Oxigraph's do), else the string runs to the
    end of its line (a long string to the end of the text); either way the scan stays linear in the text's length.
    """
    reading = _Reading()
    depth = 0
    prologue = True  # BASE <iri> and PREFIX name: <iri> declarations come before the form
    declaring = False  # inside a declaration, before its IRI
    for match in _tokens(text, strict):
        kind = match.lastgroup
        if kind == "iri":
            declaring = False
            continue
        if kind in _OPAQUE:
            continue
        token = match.group()
        if kind == "word" and _SERVICE.search(token):
            reading.service = True
        if prologue:
            if declaring:
                continue  # the prefix's name
            upper = token.upper()
            if upper in ("BASE", "PREFIX"):
                declaring = True
                continue
            prologue = False
            if upper in FORMS:
                reading.form = upper
            elif upper in UPDATES:
                reading.update = True
        if kind == "word" and token.upper() in _NESTING_WORDS:
            reading.operators += 1
        elif kind == "word" and token.upper() in _VOLATILE:
            reading.volatile = True
        elif kind == "open":
            depth += 1
            reading.depth = max(reading.depth, depth)
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "op":
            reading.operators += 1
            if reading.operators > max_operators:
                break
    return reading


_OPAQUE = frozenset({"space", "comment", "string", "var", "local", "datatype", "escape"})


def _tokens(text: str, strict: bool) -> Iterator[re.Match[str]]:
    """The text's tokens, in order (the regular expression's own iteration: a Python loop calling ``match`` at each
    position took a fifth longer over the named queries). A quote that opens a string never closed raises
    QuerySyntaxError when ``strict``; otherwise the string runs to the end of its line (a long string to the end of
    the text)."""
    position, end = 0, len(text)
    while position < end:
        for match in _TOKENS.finditer(text, position):
            if match.lastgroup != "unclosed":
                yield match
                continue
            if strict:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - text.rfind("\n", 0, match.start())
                raise QuerySyntaxError(f"SPARQL syntax error at line {line}, column {column}: a string never closed")
            newline = text.find("\n", match.end())
            position = end if len(match.group()) == 3 or newline < 0 else newline
            break
        else:
            return


def _unescaped(text: str) -> str:
    r"""The text with every ``\u``/``\U`` escape replaced by its character, as SPARQL 1.1 section 19.2 reads it.

    >>> _unescaped(r'"a\u0022 b')
    '"a" b'
    """

    def replace(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2), 16)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group()

    return _ESCAPE.sub(replace, text)


def precheck(text: str, max_depth: int = MAX_DEPTH, max_operators: int = MAX_OPERATORS) -> Prechecked:
    """Scan a query; raises QueryRefused (an update, SERVICE, readings that disagree) or QuerySyntaxError (nesting
    or chaining beyond the limits, naming the limit)."""
    readings = [_read(text, max_operators, strict=True)]
    if _ESCAPE.search(text):
        readings.append(_read(_unescaped(text), max_operators, strict=False))
    if any(r.service for r in readings):
        raise QueryRefused(SERVICE_REFUSED)
    if any(r.update for r in readings):
        raise QueryRefused(READ_ONLY)
    forms = {r.form for r in readings}
    if len(forms) > 1:
        raise QueryRefused(
            "the query's \\u escapes make it read as a different query before and after they are expanded; "
            "write the characters themselves"
        )
    depth = max(r.depth for r in readings)
    operators = max(r.operators for r in readings)
    if depth > max_depth:
        raise QuerySyntaxError(
            f"the query nests {depth} brackets deep, over the limit of {max_depth} (depth); flatten it"
        )
    if operators > max_operators:
        raise QuerySyntaxError(
            f"the query chains more than {max_operators} operators, over the limit (operators); "
            "use IN ( … ) or VALUES for long lists"
        )
    # no form: not a query; the engine's parser says where and why, and the worker refuses it if it runs
    return Prechecked(text, forms.pop(), depth, operators, volatile=any(r.volatile for r in readings))


@dataclass(frozen=True)
class Outline:
    """The parts of a query's text a remote store must be told about: whether its prologue sets the base, the
    prefixes it declares (``name:``), the offset where the prologue ends, and its dataset clauses."""

    base: bool
    prefixes: frozenset[str]
    body: int  # the offset of the first token after the prologue (the text's length when there is none)
    from_default: bool  # FROM <g>
    from_named: bool  # FROM NAMED <g>
    graph: bool  # a GRAPH pattern: the dataset's named graphs are read


# a word followed by one of these is the prefix of a prefixed name (from:x, from-1:x), not a keyword
_NAME_GOES_ON = frozenset(":-._0123456789")


def outline(text: str) -> Outline:
    """The prologue and the dataset clauses of a query, read as the pre-check reads it.

    >>> outline("BASE <http://a/> PREFIX ex: <http://b/>\\nSELECT * FROM NAMED <g> { ?s from:p ?o }")
    Outline(base=True, prefixes=frozenset({'ex:'}), body=40, from_default=False, from_named=True, graph=False)
    """
    base = False
    prefixes: set[str] = set()
    body = len(text)
    prologue = True
    declaring: str | None = None  # BASE or PREFIX, before its IRI
    name = ""
    from_default = from_named = graph = False
    after_from = False  # the last token was the keyword FROM
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        token = match.group()
        if prologue:
            if declaring is not None:
                if kind == "iri":
                    if declaring == "PREFIX":
                        prefixes.add(name)
                    declaring, name = None, ""
                else:
                    name += token
                continue
            if kind == "word" and token.upper() in ("BASE", "PREFIX"):
                declaring = token.upper()
                base = base or declaring == "BASE"
                continue
            prologue = False
            body = match.start()
        keyword = kind == "word" and text[match.end() : match.end() + 1] not in _NAME_GOES_ON
        if after_from:
            after_from = False
            if keyword and token.upper() == "NAMED":
                from_named = True
                continue
            from_default = True
        if keyword and token.upper() == "FROM":
            after_from = True
        graph = graph or (keyword and token.upper() == "GRAPH")
    return Outline(base, frozenset(prefixes), body, from_default or after_from, from_named, graph)
