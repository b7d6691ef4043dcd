"""Small text helpers the parser and the linker share."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def normalise(text: str) -> str:
    """The form names are matched by: NFKC (full-width to half-width), no white space at all.

    >>> normalise("工业和信息化部网络安全产业发展中心 （工业和信息化部信息中心） ")
    '工业和信息化部网络安全产业发展中心(工业和信息化部信息中心)'
    """
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def tidy(text: str) -> str:
    """Collapse runs of white space to one space and trim: the printed form kept in the graph.

    >>> tidy("  锂电 (新能源)   中小企业 ")
    '锂电 (新能源) 中小企业'
    """
    return _SPACE.sub(" ", text).strip()


def chinese_number(text: str) -> int | None:
    """The value of a Chinese numeral from 1 to 99 (第十一届 → 11), or of Arabic digits; None if neither.

    Hand-written because the numerals in edition ordinals are this small; a general library is not needed.

    >>> [chinese_number(t) for t in ("八", "十一", "二十", "三十五", "12", "百")]
    [8, 11, 20, 35, 12, None]
    """
    text = normalise(text)
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return _DIGITS[text] if len(text) == 1 else None
    tens, _, units = text.partition("十")
    if len(tens) > 1 or len(units) > 1:
        return None
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[units] if units else 0)
