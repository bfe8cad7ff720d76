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


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def gsm7_length(text: str) -> int:
    return sum(2 if char in GSM7_EXTENSION else 1 for char in text)


def ucs2_length(text: str) -> int:
    # Characters outside the BMP take a surrogate pair in UTF-16.
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def encoding_for(text: str) -> Encoding:
    return "gsm7" if is_gsm7(text) else "ucs2"


def length_in(text: str, encoding: Encoding) -> int:
    return gsm7_length(text) if encoding == "gsm7" else ucs2_length(text)


def capacity(encoding: Encoding, limits: ScreenLimits) -> int:
    return limits.gsm7_chars if encoding == "gsm7" else limits.ucs2_chars


def fits(text: str, limits: ScreenLimits) -> bool:
    encoding = encoding_for(text)
    return length_in(text, encoding) <= capacity(encoding, limits)
