"""Checks on what a subscriber types into an input screen. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

VALIDATOR_KINDS = frozenset({"digits", "length", "msisdn", "amount", "pattern"})

_AMOUNT = re.compile(r"\d{1,9}([.,]\d{1,2})?")


@dataclass(frozen=True)
class Validator:
    kind: str
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None


@dataclass(frozen=True)
class Verdict:
    """``value`` is the normalised input when ``ok``; otherwise ``message`` names the reason."""

    ok: bool
    value: str = ""
    message: str = ""


def validate(validator: Validator, text: str) -> Verdict:
    text = text.strip()
    if validator.kind == "digits":
        if not text.isdigit() or not text.isascii():
            return Verdict(False, message="invalid_digits")
        return _check_length(validator, text)
    if validator.kind == "length":
        return _check_length(validator, text)
    if validator.kind == "msisdn":
        number = normalise_msisdn(text)
        if number is None:
            return Verdict(False, message="invalid_msisdn")
        return Verdict(True, number)
    if validator.kind == "amount":
        return _check_amount(validator, text)
    if validator.kind == "pattern":
        if validator.pattern is None or not validator.pattern.fullmatch(text):
            return Verdict(False, message="invalid_pattern")
        return _check_length(validator, text)
    raise ValueError(f"unknown validator {validator.kind!r}")


def normalise_msisdn(text: str) -> str | None:
    """A Russian-plan number in canonical E.164 digits (7XXXXXXXXXX), or None.

    Accepts +7 916 123-45-67, 79161234567, 89161234567 and 9161234567.
    """
    digits = re.sub(r"[\s()\-]", "", text)
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("7"):
            return None
    if not digits.isdigit() or not digits.isascii():
        return None
    if len(digits) == 10 and digits.startswith("9"):
        return "7" + digits
    if len(digits) == 11 and digits[0] in "78":
        return "7" + digits[1:]
    return None


def _check_length(validator: Validator, text: str) -> Verdict:
    if validator.min_length is not None and len(text) < validator.min_length:
        return Verdict(False, message="invalid_length")
    if validator.max_length is not None and len(text) > validator.max_length:
        return Verdict(False, message="invalid_length")
    if not text:
        return Verdict(False, message="invalid_length")
    return Verdict(True, text)


def _check_amount(validator: Validator, text: str) -> Verdict:
    if not _AMOUNT.fullmatch(text):
        return Verdict(False, message="invalid_amount")
    try:
        amount = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return Verdict(False, message="invalid_amount")
    if amount <= 0:
        return Verdict(False, message="invalid_amount")
    if validator.minimum is not None and amount < validator.minimum:
        return Verdict(False, message="invalid_amount")
    if validator.maximum is not None and amount > validator.maximum:
        return Verdict(False, message="invalid_amount")
    return Verdict(True, f"{amount:.2f}")
