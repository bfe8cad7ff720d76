"""How much text one USSD string carries and which keys navigate (from configuration)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScreenLimits:
    """Screen size and navigation keys.

    One USSD string is 160 octets: 182 GSM 7-bit characters or 80 UCS2 characters.
    The back key is "*" rather than "0" because menus use 0 as a choice (828: 0 disables).
    ``max_retries`` is how many times a wrong answer is re-prompted; the next wrong answer
    ends the session politely.
    """

    gsm7_chars: int = 182
    ucs2_chars: int = 80
    more_key: str = "00"
    back_key: str = "*"
    home_key: str = "**"
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.gsm7_chars < 20 or self.ucs2_chars < 20:
            raise ValueError("screen limits below 20 characters leave no room for a menu")
        keys = (self.more_key, self.back_key, self.home_key)
        if any(not key or key.strip() != key for key in keys):
            raise ValueError("navigation keys must be non-empty and without spaces")
        if len(set(keys)) != len(keys):
            raise ValueError("the more, back and home keys must differ")
        if self.max_retries < 0:
            raise ValueError("max_retries must be zero or more")

    @property
    def navigation_keys(self) -> frozenset[str]:
        return frozenset((self.more_key, self.back_key, self.home_key))
