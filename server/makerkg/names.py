"""How printed names are compared and read: the rules the linker resolves the plans' names by at build time, and
the server finds names by (search, reconciliation), in one place so that both agree.

>>> normalise("工业和信息化部网络安全产业发展中心 （工业和信息化部信息中心） ")
'工业和信息化部网络安全产业发展中心(工业和信息化部信息中心)'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

# The most characters a text may have to be read as a name, as typed and in its normal form (NFKC expands some
# characters 18-fold): search and reconciliation refuse longer ones, which could name nothing, since no name of
# the reference data or the plans comes near it (the longest, a printed organizer, has 55), and their cost grows
# with the length of the text.
MAX_NAME = 200
_SPACE = re.compile(r"\s+")
_DUAL = re.compile(r"^(?P<first>.+?)\((?P<second>[^()]+)\)$")


def normalise(text: str) -> str:
    """The form names are matched by: NFKC (full-width to half-width), no white space at all."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def dual_name(key: str) -> tuple[str, str] | None:
    """The two names of a normalised 甲(乙), a body printed under two names at once; None for any other form.

    >>> dual_name("甲中心(乙中心)"), dual_name("甲中心")
    (('甲中心', '乙中心'), None)
    """
    found = _DUAL.match(key)
    return None if found is None else (found["first"], found["second"])


def chains(
    key: str,
    named: Callable[[str], Iterable[str]],
    inside: Callable[[str, str], bool],
    longest: int,
    within: str | None = None,
) -> list[str]:
    """The ids the whole of a normalised ``key`` can name when read as a chain of names, each inside the one before
    (浙江省杭州市, 江苏省江阴市, 武汉); ``named`` gives the ids a name names, ``inside(a, b)`` whether a lies in b,
    and ``longest`` the length of the longest name ``named`` knows: no longer prefix is tried, so the work grows
    with the key's length times that, not with the square of the key's length.

    >>> parent = {"hz": "zj", "zj": None}
    >>> names = {"浙江": ["zj"], "杭州": ["hz"]}
    >>> def inside(a, b): return parent.get(a) == b or (parent.get(a) is not None and inside(parent[a], b))
    >>> def named(name): return names.get(name, [])
    >>> chains("浙江杭州", named, inside, 2), chains("杭州浙江", named, inside, 2), chains("浙江杭州", named, inside, 1)
    (['hz'], [], [])
    """
    found: list[str] = []
    for end in range(min(len(key), longest), 0, -1):
        for candidate in named(key[:end]):
            if within is not None and not inside(candidate, within):
                continue
            rest = key[end:]
            found.extend([candidate] if not rest else chains(rest, named, inside, longest, candidate))
    return sorted(set(found))
