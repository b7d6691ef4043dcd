"""Stage 2: printed organization names, places and topics → reference identities, shared across editions."""

from makerkg.link.reference import Reference, load_reference
from makerkg.link.resolve import Links, Match, Unresolved, contest_keys, places_in_use, resolve, unresolved_id

__all__ = [
    "Links",
    "Match",
    "Reference",
    "Unresolved",
    "contest_keys",
    "load_reference",
    "places_in_use",
    "resolve",
    "unresolved_id",
]
