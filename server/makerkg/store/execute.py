"""Run one job on an Oxigraph store: Oxigraph parses and evaluates it, the answer is cut by the row and byte caps
and serialised in parts. Used by the query workers and by the command line's in-process runner alike.

The caps are applied while the answer is read, before its head is written, so that a cut answer says so in its
head (SPARQL JSON and XML) and in the response headers, and the memory an answer takes is bounded by the byte cap.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TypeVar, cast

import pyoxigraph as ox

from makerkg.errors import QueryFailed, QueryRefused, QuerySyntaxError
from makerkg.formats import Kind, by_media_type
from makerkg.namespaces import PREFIXES
from makerkg.sparql.results import WRITERS
from makerkg.store import jsonld
from makerkg.store.query import Answer, Job, Term

T = TypeVar("T")
PART_BYTES = 256 << 10  # the size of a streamed part
STREAM_AFTER = 1 << 20  # answers up to this size are sent whole; longer ones stream in parts
ROWS = by_media_type("application/json", [Kind.ROWS]).media_type  # the named-query API's JSON rows
_FORMS = {ox.QuerySolutions: ("SELECT",), ox.QueryBoolean: ("ASK",), ox.QueryTriples: ("CONSTRUCT", "DESCRIBE")}
# what the sandbox makes of a request that would leave the process: socket() refused, or no route in an empty
# namespace, or a name that cannot be looked up
_NETWORK = re.compile(r"os error (1|13|101)\b|lookup address|Network is unreachable|Permission denied", re.I)


@dataclass(frozen=True)
class Output:
    """A query's answer before it is sent: what the response headers need, and the body in parts."""

    media_type: str
    form: str
    truncated: str | None
    parts: Iterator[bytes]


def evaluate(store: ox.Store, job: Job) -> ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples:
    """Parse and evaluate ``job`` with Oxigraph; raises QuerySyntaxError, QueryRefused or QueryFailed."""
    kwargs: dict[str, object] = {}
    if job.default_graphs or job.named_graphs:
        # the protocol's dataset replaces the query's, made of the graphs it names: a part it names none of is empty
        # (SPARQL 1.1 Protocol, 2.1.4; named-graph-uri alone leaves no default graph)
        kwargs["default_graph"] = [ox.NamedNode(g) for g in job.default_graphs]
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in job.named_graphs]
    try:
        result = store.query(job.query, base_iri=job.base_iri, prefixes=PREFIXES if job.prefixes else None, **kwargs)  # type: ignore[arg-type]
    except SyntaxError as err:
        raise QuerySyntaxError(syntax_message(str(err), job.query)) from err
    except (OSError, RuntimeError) as err:
        raise failure(err) from err
    if job.form not in _FORMS[type(result)]:
        # the pre-check read another form (or none) than the engine: the two readings disagree, so it does not run
        raise QueryRefused("the query reads as a different query to the pre-check and to the engine; not run")
    return result


def run(store: ox.Store, job: Job) -> Output:
    """Evaluate ``job`` on ``store`` and write its answer within the caps (``output``); raises as ``evaluate`` and
    ``output`` do.

    A SELECT answer in SPARQL JSON is first written by Oxigraph's own serialiser, which stops as soon as the answer
    may pass a cap: a small answer is then written at the engine's speed (Python's row writer took two thirds of
    the time of a 70-row answer). An answer that passes a cap is cut between two rows of what the serialiser wrote
    (``_cut``), and says so in its head. Were what was written not to show the answer passing a cap, the query
    would be evaluated again and written row by row.
    """
    result = evaluate(store, job)
    fmt = by_media_type(job.media_type)
    if isinstance(result, ox.QuerySolutions) and not job.check_only and (fmt.kind, fmt.name) == (Kind.RESULTS, "json"):
        variables = [v.value for v in result.variables]
        written = _Within(job.max_rows, job.max_bytes)
        try:
            result.serialize(cast("IO[bytes]", written), format=ox.QueryResultsFormat.JSON)  # write() is all it calls
        except _MayBeCut:
            cut = _cut(b"".join(written.chunks), variables, job)
            if cut is not None:
                return cut
            result = evaluate(store, job)
        except (OSError, RuntimeError) as err:  # met while evaluating (evaluation is lazy)
            raise failure(err) from err
        else:
            return Output(fmt.media_type, "select", None, iter(written.chunks))
    return output(result, job)


_ROWS = '"bindings":['  # where the rows begin in Oxigraph's SPARQL JSON
_DECODER = json.JSONDecoder()


class _Rows:
    """Reads the rows of Oxigraph's SPARQL JSON as it is written, text after text (json's ``raw_decode`` for each
    row, so that a literal holding ``},{`` or ``]`` is read as text): the one reader of both ``_Within``, which
    counts them as they come, and ``_cut``, which keeps those within the caps. ``expect`` says what comes next:
    "head" (the rows have not begun), "row" (the rows' start, or a separator, was read), "separator" (a row was
    read) or "end" (the rows' closing bracket, or what is no row, was read)."""

    def __init__(self) -> None:
        self.expect = "head"
        self._rest = ""  # what was given and not read yet

    def read(self, text: str) -> list[str]:
        """The whole rows ``text`` completes, after what was given before."""
        rest, position, rows = self._rest + text, 0, []
        while True:
            if self.expect == "head":
                found = rest.find(_ROWS)
                if found < 0:
                    break
                position, self.expect = found + len(_ROWS), "row"
            elif position >= len(rest) or self.expect == "end":
                break
            elif self.expect == "row":
                if rest[position] == "]":
                    self.expect = "end"
                    continue
                try:
                    _, end = _DECODER.raw_decode(rest, position)
                except ValueError:  # not whole yet
                    break
                rows.append(rest[position:end])
                position, self.expect = end, "separator"
            elif rest[position] == ",":
                position, self.expect = position + 1, "row"
            else:
                self.expect = "end"
        self._rest = rest[position:] if self.expect != "end" else ""
        return rows


def _cut(written: bytes, variables: list[str], job: Job) -> Output | None:
    """The answer cut at the caps, from the start of one that Oxigraph's serialiser wrote past them: its whole rows,
    as many as the caps keep, with the row writer's head (saying it was cut) and tail; None when what was written
    does not show the answer passing a cap (a literal held ``},{``)."""
    reader = _Rows()
    rows = [row.encode() for row in reader.read(written.decode("utf-8", "replace"))]  # a character cut at the end
    if reader.expect == "head":  # is in a row left out
        return None
    writer = WRITERS["json"]
    head, tail, separator = writer.head(variables, True).encode(), writer.tail().encode(), writer.separator.encode()
    kept, truncated = _capped(iter(rows), job, lambda row: len(row) + len(separator), None, len(head) + len(tail))
    # every whole row kept: the answer is cut only if another row begins after them (not at the rows' end)
    if truncated is None and reader.expect == "row":
        if len(kept) == job.max_rows:
            truncated = f"max_rows={job.max_rows}"
        elif len(written) > job.max_bytes:  # the whole answer is longer than the cap: it is cut somewhere
            truncated = f"max_answer_bytes={job.max_bytes}"
    if truncated is None:
        return None
    body = separator.join(kept)
    parts = (body[i : i + PART_BYTES] for i in range(0, len(body), PART_BYTES))
    return Output(job.media_type, "select", truncated, itertools.chain([head], parts, [tail]))


class _MayBeCut(Exception):
    """Raised into Oxigraph's serialiser to stop it: the answer may be past a cap."""


class _Within:
    """A binary output for Oxigraph's SPARQL JSON serialiser that keeps what it writes and raises _MayBeCut once the
    answer holds more than ``max_rows`` rows or ``max_bytes`` bytes.

    Rows are first counted from above, at no cost: two rows are written as ``…},{…`` and nothing else in the format
    writes ``},{`` but the text of a literal, so one more than its count is at least the number of rows. Once that
    passes the cap, the rows written from then on are read one by one (json's ``raw_decode``) and counted exactly,
    so that literals holding ``},{`` never stop an answer that is within the caps."""

    def __init__(self, max_rows: int, max_bytes: int) -> None:
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.chunks: list[bytes] = []
        self._size = 0
        self._between = 0  # ``},{`` seen so far
        self._end = b""  # the last two bytes written: a ``},{`` may span two writes
        self._stopped = False
        self._exact = False  # rows counted one by one
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._reader = _Rows()
        self._rows = 0  # whole rows read

    def write(self, chunk: bytes) -> int:
        if self._stopped:  # the serialiser's buffer writes what it holds again as it is dropped
            raise _MayBeCut
        data = bytes(chunk)
        self.chunks.append(data)  # kept even when it passes a cap: the cut is made from it
        self._size += len(data)
        unread = data
        if not self._exact:
            self._between += (self._end + data).count(b"},{")
            self._end = (self._end + data)[-2:]
            self._exact = self._between + 1 > self.max_rows
            if self._exact:
                unread = b"".join(self.chunks)  # all of it, the first time rows are read
        if self._size > self.max_bytes or (self._exact and self._past_rows(self._decoder.decode(unread))):
            self._stopped = True
            raise _MayBeCut
        return len(data)

    def _past_rows(self, text: str) -> bool:
        """Read the whole rows in ``text`` (after what was left unread); True once a row past ``max_rows`` begins."""
        self._rows += len(self._reader.read(text))
        return self._rows > self.max_rows or (0 < self._rows == self.max_rows and self._reader.expect == "row")

    def flush(self) -> None:
        pass


def failure(err: OSError | RuntimeError) -> QueryRefused | QueryFailed:
    """The error to report for one the engine raised while evaluating."""
    message = " ".join(str(err).split())
    if isinstance(err, OSError) and _NETWORK.search(message):
        return QueryRefused("the query tried to reach the network (SERVICE), which query workers cannot do")
    return QueryFailed(f"the query cannot be evaluated: {message}")


def output(result: ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples, job: Job, cut: str | None = None) -> Output:
    """The answer in ``job.media_type``, cut at ``job.max_rows`` rows or ``job.max_bytes`` bytes; raises
    QueryRefused or QueryFailed for an error the engine meets while the answer is read (evaluation is lazy).
    ``cut`` names the limit that already cut ``result`` (a remote store's), said unless a cap cuts it first."""
    try:
        return _output(result, job, cut)
    except (OSError, RuntimeError) as err:
        raise failure(err) from err


def _output(result: ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples, job: Job, cut: str | None) -> Output:
    fmt = by_media_type(job.media_type)
    if job.check_only:
        return Output(fmt.media_type, "none", None, iter(()))
    if isinstance(result, ox.QueryBoolean):
        writer = WRITERS.get(fmt.name, WRITERS["json"])
        return Output(fmt.media_type, "ask", None, iter([writer.boolean(bool(result)).encode()]))
    if isinstance(result, ox.QuerySolutions):
        if fmt.kind is Kind.ROWS:
            return _api_rows(result, job, cut)
        return _solutions(result, job, fmt.name, cut)
    return _triples(result, job, cut)


def _capped(
    items: Iterator[T], job: Job, size: Callable[[T], int], cut: str | None, framing: int = 0
) -> tuple[list[T], str | None]:
    """The first items of an answer within the row cap and the byte cap (less ``framing``, the bytes of the
    answer's head and tail), and which limit cut it (``cut`` when the caps keep every item; None: whole)."""
    kept: list[T] = []
    total = framing
    for item in items:
        if len(kept) == job.max_rows:
            return kept, f"max_rows={job.max_rows}"
        total += size(item)
        if total > job.max_bytes:
            return kept, f"max_answer_bytes={job.max_bytes}"
        kept.append(item)
    return kept, cut


def _solutions(result: ox.QuerySolutions, job: Job, name: str, cut: str | None) -> Output:
    writer = WRITERS[name]
    variables = [v.value for v in result.variables]
    lines = ((writer.separator + writer.row(variables, tuple(s[v] for v in variables))).encode() for s in result)
    framing = len(writer.head(variables, True).encode()) + len(writer.tail().encode())  # the longer head: when cut
    rows, truncated = _capped(lines, job, len, cut, framing)
    if rows:  # the first row has no separator before it
        rows[0] = rows[0][len(writer.separator.encode()) :]
    head = writer.head(variables, truncated is not None).encode()
    return Output(job.media_type, "select", truncated, itertools.chain([head], rows, [writer.tail().encode()]))


def _api_rows(result: ox.QuerySolutions, job: Job, cut: str | None) -> Output:
    """The named-query API's rows: {"columns": [...], "rows": [{column: text}], "truncated": true|false}."""
    variables = [v.value for v in result.variables]
    lines = ((",\n" + json.dumps({v: _text(s[v]) for v in variables}, ensure_ascii=False)).encode() for s in result)
    head = ('{"columns": ' + json.dumps(variables, ensure_ascii=False) + ', "rows": [\n').encode()
    rows, truncated = _capped(lines, job, len, cut, len(head) + len('\n], "truncated": false}\n'))
    if rows:
        rows[0] = rows[0][2:]
    tail = ('\n], "truncated": ' + ("true" if truncated else "false") + "}\n").encode()
    return Output(ROWS, "select", truncated, itertools.chain([head], rows, [tail]))


def _text(term: Term | None) -> str:
    if term is None:
        return ""
    return str(term) if isinstance(term, ox.Triple) else term.value


def _triples(result: ox.QueryTriples, job: Job, cut: str | None) -> Output:
    fmt = by_media_type(job.media_type, [Kind.GRAPH])
    # a triple's N-Triples line measures its size in every format
    triples, truncated = _capped(iter(result), job, lambda t: len(str(t)) + 3, cut)
    rdf_format = fmt.rdf
    if rdf_format == ox.RdfFormat.JSON_LD:  # compacted with the dumps' context
        body = jsonld.dumps(jsonld.document(jsonld.nodes(triples)))
    else:
        prefixes = PREFIXES if rdf_format in (ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML, ox.RdfFormat.TRIG) else None
        body = ox.serialize(triples, format=rdf_format, prefixes=prefixes) or b""  # within the byte cap
    return Output(
        fmt.media_type, "graph", truncated, (body[i : i + PART_BYTES] for i in range(0, len(body), PART_BYTES))
    )


def answers(out: Output) -> Iterator[Answer | bytes]:
    """The answer as the worker sends it: one whole ``Answer`` when it is short, else an ``Answer`` holding the
    first part (``streamed``) followed by the further parts, each about ``PART_BYTES``."""
    buffered: list[bytes] = []
    size = 0
    parts = iter(out.parts)
    for part in parts:
        buffered.append(part)
        size += len(part)
        if size > STREAM_AFTER:
            break
    else:
        yield Answer(b"".join(buffered), out.media_type, out.form, out.truncated)
        return
    yield Answer(b"".join(buffered), out.media_type, out.form, out.truncated, streamed=True)
    pending: list[bytes] = []
    size = 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= PART_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


# Oxigraph's messages: "error at 3:17: expected one of …", where a character class is spelled out in full
_POSITION = re.compile(r"^error at (\d+):(\d+): (.*)$", re.DOTALL)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WORD = re.compile(r"^[A-Z][A-Z_]+$")
_NAME = re.compile(r"[\w.-]*:[\w.%-]*$")


def syntax_message(message: str, query: str) -> str:
    """Oxigraph's syntax error as one line: line and column, what was found there, and what was expected, in words.

    >>> syntax_message("error at 1:10: expected CONSTRUCT", "SELEC * {}")
    "SPARQL syntax error at line 1, column 10: found '}', expected CONSTRUCT"
    >>> syntax_message("error at 1:11: expected one of Prefix not found, ['%']", "ASK { ex:a ?p ?o }")
    'SPARQL syntax error at line 1, column 11: the prefix ex: is not declared (declare it with PREFIX ex: <…>)'
    """
    flat = " ".join(message.split())
    match = _POSITION.match(flat)
    if match is None:
        return f"SPARQL syntax error: {flat}"
    line, column, rest = int(match[1]), int(match[2]), match[3]
    where = f"SPARQL syntax error at line {line}, column {column}"
    lines = query.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    before, after = text[: column - 1], text[column - 1 :]
    rest = rest.removeprefix("expected ")
    if "Prefix not found" in rest:
        name = _NAME.search(before.rstrip())
        prefix = name.group().split(":", 1)[0] if name else ""
        return f"{where}: the prefix {prefix}: is not declared (declare it with PREFIX {prefix}: <…>)"
    if "IRI parsing failed" in rest:
        return f"{where}: not a valid IRI"
    sentence = next((item for item in rest.removeprefix("one of ").split(", ") if _SENTENCE.fullmatch(item)), None)
    if sentence is not None:  # the parser's own reason (an unbound variable in a SELECT expression, say)
        return f"{where}: {sentence[0].lower()}{sentence[1:]}"
    rest_of_text = "\n".join([after, *lines[line:]])
    if not rest_of_text.strip():
        return f"{where}: found the end of the text, expected {_expected(rest)}"
    if after[:1].isalnum() or after[:1] == "_":  # a position inside a word shows the whole word
        word_start = re.search(r"\w*$", before)
        after = (word_start.group() if word_start else "") + after
    found = re.match(r"\w{1,30}|\S", rest_of_text.lstrip() if not after.strip() else after.lstrip())
    shown = repr(found.group()) if found else "the end of the text"
    expected = _expected(rest)
    return f"{where}: found {shown}, expected {expected}"


# an item of Oxigraph's "expected" list that is a reason in words, not a token: "The SELECT contains …"
_SENTENCE = re.compile(r"[A-Z][a-z]+(?: [\w'-]+){3,}")


def _expected(listing: str) -> str:
    """The items of Oxigraph's "expected" list as words: keywords and tokens as they are, character classes named.

    >>> _expected("one of DISTINCT, WHERE, [_]")
    'DISTINCT, WHERE or more text'
    """
    if not listing.startswith("one of ") and ("[" not in listing and " " in listing.strip()):
        return listing.strip()  # a sentence, such as "\\u escape sequence should be followed by hexadecimal digits"
    listing = listing.removeprefix("one of ")
    items: list[str] = list(_QUOTED.findall(listing))
    classes = re.findall(r"\[[^\]]*\]", listing)
    bare = _QUOTED.sub("", re.sub(r"\[[^\]]*\]", " ", listing))
    items += [word for word in re.split(r"[\s,|]+", bare) if _WORD.match(word)]
    unique = list(dict.fromkeys(items))[:10]
    if any(c != "[_]" for c in classes):
        unique.append("a name or number")
    if "[_]" in classes:
        unique.append("more text")
    if not unique:
        return listing.strip() or "something else"
    return ", ".join(unique[:-1]) + (" or " if len(unique) > 1 else "") + unique[-1]
