"""MSISDN rules: one canonical form; everything else refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ussd_gateway.msisdn import InvalidMsisdn, mask_msisdn, normalize_msisdn


@pytest.mark.parametrize(
    "raw",
    [
        "+7 916 123-45-67",
        "79161234567",
        "89161234567",
        "9161234567",
        "+79161234567",
        "8 (916) 123-45-67",
        " 7.916.123.45.67 ",
    ],
)
def test_every_way_people_write_a_number_is_one_subscriber(raw: str) -> None:
    assert normalize_msisdn(raw) == "79161234567"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("916123456", "expected 10 digits"),
        ("791612345678", "expected 10 digits"),
        ("+8 916 123 45 67", "country code must be +7"),
        ("+7916123456", "must have 10 digits"),
        ("69161234567", "expected 10 digits"),
        ("7916123456a", "only digits"),
        ("*111*25#", "only digits"),
        ("0161234567", "cannot start with 0"),
        ("７９１６１２３４５６７", "only digits"),  # noqa: RUF001 (full-width digits)
        ("++79161234567", "only digits"),
    ],
)
def test_anything_else_is_refused_naming_the_value_and_why(raw: str, why: str) -> None:
    with pytest.raises(InvalidMsisdn) as caught:
        normalize_msisdn(raw)
    assert repr(raw) in str(caught.value)
    assert why in str(caught.value)


def test_another_country_code_from_config() -> None:
    assert normalize_msisdn("+375 29 123 45 67", country_code="375") == "375291234567"
    assert normalize_msisdn("80291234567", country_code="375") == "375291234567"
    with pytest.raises(InvalidMsisdn):
        normalize_msisdn("+7 916 123 45 67", country_code="375")


@given(st.from_regex(r"9[0-9]{9}", fullmatch=True), st.sampled_from(["", "7", "8", "+7", "+7 "]))
def test_any_mobile_number_in_any_prefix_normalises_to_7_and_ten_digits(
    national: str, prefix: str
) -> None:
    assert normalize_msisdn(prefix + national) == "7" + national


@given(st.text(max_size=20))
def test_normalize_either_returns_canonical_or_raises_invalid_msisdn(raw: str) -> None:
    try:
        result = normalize_msisdn(raw)
    except InvalidMsisdn:
        return
    assert result.isdigit() and len(result) == 11 and result.startswith("7")
    assert normalize_msisdn(result) == result


def test_mask_hides_the_middle_for_logs() -> None:
    assert mask_msisdn("79161234567") == "7916***4567"
    assert "1234" not in mask_msisdn("79161234567")[4:]
