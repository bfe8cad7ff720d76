"""Split a screen's text into pages that each fit one USSD string, footer included.

Pages break at line boundaries first, then between words; a word is split only when it
alone is longer than a page (never the case for menu texts: the loader refuses those).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from menus.gsm import capacity, encoding_for, fits, length_in
from menus.limits import ScreenLimits

Measure = Callable[[str], int]


@lru_cache(maxsize=4096)
def paginate(text: str, more_line: str, back_line: str, limits: ScreenLimits) -> tuple[str, ...]:
    """Pages of ``text``; every page but the last ends with ``more_line``, every page but
    the first with ``back_line``."""
    if fits(text, limits):
        return (text,)
    encoding = encoding_for(text + more_line + back_line)
    page_size = capacity(encoding, limits)

    def measure(part: str) -> int:
        return length_in(part, encoding)

    more_cost = 1 + measure(more_line)
    back_cost = 1 + measure(back_line)
    if page_size - more_cost - back_cost < 2:
        raise ValueError("the more/back footer leaves no room for text on a page")
    remaining = text.split("\n")
    pages: list[str] = []
    while remaining:
        footer_back = f"\n{back_line}" if pages else ""
        room_for_last = page_size - (back_cost if pages else 0)
        rest = "\n".join(remaining)
        if measure(rest) <= room_for_last:
            pages.append(rest + footer_back)
            break
        body, remaining = _take(remaining, room_for_last - more_cost, measure)
        pages.append(body + f"\n{more_line}" + footer_back)
    return tuple(pages)


def page_count(text: str, more_line: str, back_line: str, limits: ScreenLimits) -> int:
    return len(paginate(text, more_line, back_line, limits))


def _take(lines: list[str], room: int, measure: Measure) -> tuple[str, list[str]]:
    """Take whole lines that fit in ``room``; if the first does not fit, take its first words."""
    lines = list(lines)
    while len(lines) > 1 and not lines[0].strip():
        lines.pop(0)
    taken: list[str] = []
    used = 0
    while lines:
        cost = measure(lines[0]) + (1 if taken else 0)
        if used + cost <= room:
            taken.append(lines.pop(0))
            used += cost
            continue
        if not taken:
            head, tail = _split_line(lines[0], room, measure)
            taken.append(head)
            lines[0] = tail
        break
    return "\n".join(taken), lines


def _split_line(line: str, room: int, measure: Measure) -> tuple[str, str]:
    words = line.split(" ")
    used = measure(words[0])
    count = 1
    if used > room:
        return _split_word(line, room, measure)
    while count < len(words) and used + 1 + measure(words[count]) <= room:
        used += 1 + measure(words[count])
        count += 1
    return " ".join(words[:count]), " ".join(words[count:])


def _split_word(text: str, room: int, measure: Measure) -> tuple[str, str]:
    used = 0
    for index, char in enumerate(text):
        used += measure(char)
        if used > room:
            return text[:index], text[index:]
    return text, ""
