# ruff: noqa: RUF001, RUF002 (Cyrillic texts)
"""Formatting amounts in minor units for a subscriber's language (pure)."""

from __future__ import annotations

# Digits after the decimal point; ISO 4217 exponents for the currencies we are likely to see.
_EXPONENT = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
_RU_SYMBOL = {
    "RUB": "руб.",
    "USD": "долл.",
    "EUR": "евро",
    "KZT": "тенге",
    "BYN": "бел. руб.",
}
_EN_SYMBOL = {"RUB": "RUB", "USD": "USD", "EUR": "EUR"}


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (2 unless ISO 4217 says otherwise)."""
    return _EXPONENT.get(currency, 2)


def format_money(amount_minor: int, currency: str, language: str) -> str:
    """``format_money(-1234567, "RUB", "ru")`` -> ``"-12 345,67 руб."``;
    in English ``"-12,345.67 RUB"``."""
    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exponent)
    if language == "ru":
        grouped = f"{whole:,}".replace(",", " ")
        decimal, symbol = ",", _RU_SYMBOL.get(currency, currency)
    else:
        grouped = f"{whole:,}"
        decimal, symbol = ".", _EN_SYMBOL.get(currency, currency)
    number = f"{grouped}{decimal}{fraction:0{exponent}d}" if exponent else grouped
    return f"{sign}{number} {symbol}"
