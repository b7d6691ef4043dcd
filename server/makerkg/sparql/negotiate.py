"""Content negotiation: one function of (Accept, ``format=``, offers) that picks a media type or raises NotAcceptable.

RFC 9110 section 12.5.1: q-values, ``*/*`` and ``type/*``, the most specific matching range deciding an offer's
quality, ``q=0`` excluding it. Media-type parameters do not decide a match (``text/csv;header=present`` asks for
``text/csv``), except ``charset``: every answer is UTF-8, so a range naming another charset matches nothing. A range
may also name an offer by another media type the format table lists for it (``application/json`` for SPARQL JSON
results or JSON-LD, ``application/xml`` for SPARQL XML or RDF/XML, as pyoxigraph's registry and Oxigraph's server
read them).

werkzeug parses the header (``parse_accept_header``, ``parse_options_header``); its matcher (``MIMEAccept``) is not
used because it compares every parameter, so ``application/sparql-results+json; charset=utf-8`` matched nothing,
and it knows no aliases. The matching below is the few lines RFC 9110 describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from werkzeug.http import parse_accept_header, parse_options_header

from makerkg.errors import NotAcceptable
from makerkg.formats import aliases_of, named

VARY = "Accept"  # every negotiated response carries Vary: Accept
CHARSETS = frozenset({"utf-8", "utf8"})  # what every answer is written in
# how precisely a range names an offer; the most precise matching range sets the offer's quality
ANY, TYPE, ALIAS, EXACT = range(4)


@dataclass(frozen=True)
class MediaRange:
    """One range of an Accept header: its media type (``*/*``, ``text/*`` or a type, lower-cased), parameters and
    quality."""

    media_type: str
    parameters: int
    charset: str | None
    quality: float

    def precision(self, offer: str) -> int | None:
        """How precisely this range names ``offer`` (ANY … EXACT), or None if it does not.

        >>> MediaRange("text/*", 0, None, 1.0).precision("text/csv"), MediaRange("text/*", 0, None, 1).precision("a/b")
        (1, None)
        """
        if self.charset is not None and self.charset not in CHARSETS:
            return None
        if self.media_type == offer:
            return EXACT
        if self.media_type in aliases_of(offer):
            return ALIAS
        if self.media_type == "*/*":
            return ANY
        if self.media_type.endswith("/*") and offer.startswith(self.media_type[:-1]):
            return TYPE
        return None


def media_ranges(accept: str | None) -> list[MediaRange]:
    """The ranges of an Accept header (a malformed quality drops its range, as werkzeug reads it).

    >>> media_ranges('Text/CSV; Charset="UTF-8"; q=0.5')
    [MediaRange(media_type='text/csv', parameters=1, charset='utf-8', quality=0.5)]
    """
    ranges = []
    for value, quality in parse_accept_header(accept):
        media_type, parameters = parse_options_header(value)
        charset = parameters["charset"].strip().lower() if "charset" in parameters else None
        ranges.append(MediaRange(media_type.strip().lower(), len(parameters), charset, quality))
    return ranges


def negotiate(accept: str | None, format_param: str | None, offers: Sequence[str], aliases: Mapping[str, str]) -> str:
    """The media type to answer with, among ``offers``; raises NotAcceptable when none fits.

    ``format_param`` (a short name looked up in ``aliases``, or a media type) overrides Accept; the first offer is
    the default. Among offers of equal quality, one named more precisely wins, then the earlier offer.

    >>> negotiate("text/*;q=0.5, text/csv", None, ["text/tab-separated-values", "text/csv"], {})
    'text/csv'
    >>> negotiate("application/json", None, ["application/sparql-results+xml", "application/sparql-results+json"], {})
    'application/sparql-results+json'
    """
    if format_param is not None and format_param.strip():
        return _by_format(format_param, offers, aliases)
    ranges = media_ranges(accept)
    if not ranges:  # no Accept header, an empty one, or one with nothing readable (RFC 9110 lets it be ignored)
        return offers[0]
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for index, offer in enumerate(offers):
        quality, precision = _quality(ranges, offer.lower())
        key = (quality, precision, -index)
        if quality > 0 and (best is None or key > best):
            best, chosen = key, offer
    if chosen is None:
        raise NotAcceptable(offers)
    return chosen


def _quality(ranges: Sequence[MediaRange], offer: str) -> tuple[float, int]:
    """An offer's quality, set by the most precise range that matches it (the highest of equally precise ones), and
    that precision; (0, -1) when no range matches."""
    found: tuple[int, int, float] | None = None
    for media_range in ranges:
        precision = media_range.precision(offer)
        if precision is None:
            continue
        key = (precision, media_range.parameters, media_range.quality)
        if found is None or key > found:
            found = key
    return (0.0, -1) if found is None else (found[2], found[0])


def _by_format(value: str, offers: Sequence[str], aliases: Mapping[str, str]) -> str:
    """The offer a `format=` value names, or a comma-separated list of them as SPARQLWrapper sends for JSON-LD; raises
    NotAcceptable otherwise. A value is a name in ``aliases``, a media type, or a short name of the format table, in
    any case; a media type names an offer as in Accept, by the offer's own type or by one of its aliases.

    >>> _by_format("JSON", ["text/csv", "application/sparql-results+json"], {"json": "application/sparql-results+json"})
    'application/sparql-results+json'
    >>> _by_format("json", ["text/turtle", "application/ld+json"], {})  # the API's JSON is application/json
    'application/ld+json'
    >>> _by_format("text/csv; charset=UTF-8", ["text/csv"], {})
    'text/csv'
    >>> _by_format("text/csv;charset=latin1", ["text/csv"], {})
    Traceback (most recent call last):
    makerkg.errors.NotAcceptable: none of the media types on offer is acceptable: text/csv
    """
    for item in value.split(","):
        name = item.strip().lower()
        wanted = [aliases[name]] if name in aliases else [name] if "/" in name else []
        wanted += [fmt.media_type for fmt in named(name)]
        # read as Accept reads a range: a charset other than UTF-8 names nothing (it was dropped, and answered)
        for media_range in (r for media_type in wanted for r in media_ranges(media_type)):
            for precision in (EXACT, ALIAS):
                for offer in offers:
                    if media_range.precision(offer.lower()) == precision:
                        return offer
    raise NotAcceptable(offers)
