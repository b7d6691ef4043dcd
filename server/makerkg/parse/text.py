"""Small text helpers the parser and the linker share."""

from __future__ import annotations

import re

from makerkg.names import normalise

_SPACE = re.compile(r"\s+")
_UNITS = {"十": 10, "百": 100, "千": 1000}
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def tidy(text: str) -> str:
    """Collapse runs of white space to one space and trim: the printed form kept in the graph.

    >>> tidy("  锂电 (新能源)   中小企业 ")
    '锂电 (新能源) 中小企业'
    """
    return _SPACE.sub(" ", text).strip()


def chinese_number(text: str) -> int | None:
    """The value of a Chinese numeral from 1 to 9999 (第十一届 → 11, 一百零五 → 105), or of Arabic digits.

    Hand-written because edition ordinals are this small; a general numeral library is not needed.

    >>> [chinese_number(t) for t in ("八", "十一", "二十", "三十五", "一百零五", "一千二百", "12", "百百")]
    [8, 11, 20, 35, 105, 1200, 12, None]
    """
    text = normalise(text)
    if text.isdigit():
        return int(text)
    if not text:
        return None
    total, digit, last_unit = 0, None, 10_000
    for ch in text:
        if ch in _DIGITS:
            if digit is not None and digit != 0 and _DIGITS[ch] != 0:
                return None  # two digits in a row, such as 八八
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if unit >= last_unit:
                return None  # units must fall: 千 … 百 … 十
            total += (digit if digit is not None else (1 if unit == 10 else 0)) * unit
            if digit is None and unit != 10:
                return None
            digit, last_unit = None, unit
        else:
            return None
    total += digit or 0
    return total or None
