"""Character counting per GSM 03.38 and the choice of encoding for a screen."""

from __future__ import annotations

from typing import Literal

from menus.limits import ScreenLimits

Encoding = Literal["gsm7", "ucs2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each of these takes an escape septet plus its own, so it counts twice.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    return _GSM7_ALL.issuperset(text)


def gsm7_length(text: str) -> int:
    return len(text) + sum(map(text.count, GSM7_EXTENSION))


def ucs2_length(text: str) -> int:
    # Characters outside the BMP take a surrogate pair in UTF-16.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encoding_for(text: str) -> Encoding:
    return "gsm7" if is_gsm7(text) else "ucs2"


def length_in(text: str, encoding: Encoding) -> int:
    return gsm7_length(text) if encoding == "gsm7" else ucs2_length(text)


def capacity(encoding: Encoding, limits: ScreenLimits) -> int:
    return limits.gsm7_chars if encoding == "gsm7" else limits.ucs2_chars


def fits(text: str, limits: ScreenLimits) -> bool:
    encoding = encoding_for(text)
    return length_in(text, encoding) <= capacity(encoding, limits)
