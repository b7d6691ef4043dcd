"""Tables as CSV downloads for spreadsheets: a file name, and on request a UTF-8 byte order mark, without which
Excel on a Chinese Windows reads UTF-8 as the local code page and shows mojibake.

A client asks for the mark with ``bom=1`` in the URL of any CSV the server answers (named queries, listings,
``/compare``); the OpenAPI document describes the parameter.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from flask import Response, request

from makerkg.errors import UsageError

CSV = "text/csv"
BOM = codecs.BOM_UTF8
TRUE = ("1", "true", "yes")
FALSE = ("", "0", "false", "no")


def wants_bom() -> bool:
    """Whether the request asks for a byte order mark; raises UsageError naming ``bom`` for a value not a flag."""
    values = request.args.getlist("bom")
    if len(values) > 1:
        raise UsageError("bom", "given more than once")
    if values:
        value = values[0].strip().lower()
        if value not in TRUE + FALSE:
            raise UsageError("bom", f"expected 1 or 0, found {values[0]!r}")
        return value in TRUE
    return False


def attach(response: Response, filename: str, bom: bool) -> Response:
    """Name the CSV ``response``'s file and put the byte order mark in front of its body when ``bom``."""
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if bom:
        if response.is_streamed:
            response.response = _prefixed(response.response)
        else:
            response.set_data(BOM + response.get_data())
    return response


def _prefixed(parts: Iterable[str | bytes]) -> Iterator[bytes]:
    yield BOM
    for part in parts:
        yield part.encode("utf-8") if isinstance(part, str) else part


def csv_response(header: Sequence[str], rows: Iterable[Sequence[object]], filename: str) -> Response:
    """A table as an RFC 4180 CSV download (CRLF line ends, a header row), marked as the request asks."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    response = Response(text.getvalue().encode("utf-8"), content_type=f"{CSV}; charset=utf-8")
    response.headers["Vary"] = "Accept"
    return attach(response, filename, wants_bom())


def _cell(value: object) -> object:
    """A cell as SPARQL's CSV writes it: booleans as true and false."""
    return ("true" if value else "false") if isinstance(value, bool) else value


def filename(*parts: object) -> str:
    """A download's file name from its parts, in ASCII.

    >>> filename("compare", 8, 11, "hosts")
    'makerkg-compare-8-11-hosts.csv'
    """
    return "-".join(["makerkg", *(str(p) for p in parts if p not in (None, ""))]) + ".csv"
