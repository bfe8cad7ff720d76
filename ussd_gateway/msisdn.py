"""One canonical form for subscriber numbers: E.164 digits with the country code, no '+'."""

from __future__ import annotations

import re

# National significant number length and trunk prefix per country code. A country that is not
# listed is assumed to dial 10-digit national numbers behind a "0" trunk prefix.
_NATIONAL_PLAN: dict[str, tuple[int, str]] = {
    "7": (10, "8"),
    "1": (10, "1"),
    "44": (10, "0"),
    "49": (11, "0"),
    "375": (9, "80"),
    "380": (9, "0"),
    "998": (9, "8"),
}
_DEFAULT_PLAN = (10, "0")
# Separators people and handsets put inside numbers.
_SEPARATORS = re.compile(r"[\s\-().]")


class InvalidMsisdn(ValueError):
    """A number that is not a subscriber number; the message names the value and why."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"invalid phone number {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


def normalize_msisdn(raw: str, country_code: str = "7") -> str:
    """Return the canonical MSISDN for ``raw`` or raise :class:`InvalidMsisdn`.

    For country code 7, ``+7 916 123-45-67``, ``79161234567``, ``89161234567`` and
    ``9161234567`` all become ``79161234567``.
    """
    if not country_code.isdigit():
        raise ValueError(f"country code must be digits, got {country_code!r}")
    if not isinstance(raw, str):
        raise InvalidMsisdn(repr(raw), "not text")
    compact = _SEPARATORS.sub("", raw.strip())
    if not compact:
        raise InvalidMsisdn(raw, "empty")
    international = compact.startswith("+")
    digits = compact[1:] if international else compact
    if not digits.isascii() or not digits.isdigit():
        raise InvalidMsisdn(raw, "only digits, spaces, dashes, brackets and a leading + allowed")
    national_length, trunk = _NATIONAL_PLAN.get(country_code, _DEFAULT_PLAN)

    if international:
        if not digits.startswith(country_code):
            raise InvalidMsisdn(raw, f"country code must be +{country_code}")
        national = digits[len(country_code) :]
    elif len(digits) == national_length:
        national = digits
    elif len(digits) == len(country_code) + national_length and digits.startswith(country_code):
        national = digits[len(country_code) :]
    elif len(digits) == len(trunk) + national_length and digits.startswith(trunk):
        national = digits[len(trunk) :]
    else:
        raise InvalidMsisdn(
            raw,
            f"expected {national_length} digits, optionally after {country_code}, "
            f"+{country_code} or {trunk}",
        )

    if len(national) != national_length:
        raise InvalidMsisdn(
            raw, f"the number after +{country_code} must have {national_length} digits"
        )
    if national.startswith("0"):
        raise InvalidMsisdn(raw, "a national number cannot start with 0")
    return country_code + national


def mask_msisdn(msisdn: str) -> str:
    """Hide the middle of a number for logs: ``79161234567`` -> ``7916***4567``."""
    if len(msisdn) <= 8:
        return msisdn[:2] + "***" if len(msisdn) > 2 else "***"
    return f"{msisdn[:4]}***{msisdn[-4:]}"
