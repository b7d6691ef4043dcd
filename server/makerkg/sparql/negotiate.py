"""Content negotiation: one function of (Accept, ``format=``, offers) that picks a media type or raises NotAcceptable.

Accept is parsed and matched by werkzeug's ``MIMEAccept`` (RFC 9110 section 12.5.1): q-values, ``*/*`` and
``type/*``, the most specific matching range deciding an offer's quality, ``q=0`` excluding it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from makerkg.errors import NotAcceptable

VARY = "Accept"  # every negotiated response carries Vary: Accept


def negotiate(accept: str | None, format_param: str | None, offers: Sequence[str], aliases: Mapping[str, str]) -> str:
    """The media type to answer with, among ``offers``; raises NotAcceptable when none fits.

    ``format_param`` (a short name looked up in ``aliases``, or a media type) overrides Accept; the first offer is
    the default. Among offers of equal quality, one matched by a more specific range wins, then the earlier offer.

    >>> negotiate("text/*;q=0.5, text/csv", None, ["text/tab-separated-values", "text/csv"], {})
    'text/csv'
    """
    if format_param is not None and format_param.strip():
        return _by_format(format_param, offers, aliases)
    ranges = parse_accept_header(accept, MIMEAccept)
    if not ranges.provided:  # no Accept header, or an empty one
        return offers[0]
    chosen = ranges.best_match(offers)
    if chosen is None:
        raise NotAcceptable(offers)
    return chosen


def _by_format(value: str, offers: Sequence[str], aliases: Mapping[str, str]) -> str:
    """The offer a `format=` value names (short name or media type, any case, or a comma-separated list of them
    as SPARQLWrapper sends for JSON-LD); raises NotAcceptable otherwise.

    >>> _by_format("JSON", ["text/csv", "application/sparql-results+json"], {"json": "application/sparql-results+json"})
    'application/sparql-results+json'
    """
    for item in value.split(","):
        name = item.strip().lower()
        media_type = aliases.get(name, name).split(";", 1)[0].strip().lower()
        for offer in offers:
            if offer.lower() == media_type:
                return offer
    raise NotAcceptable(offers)
