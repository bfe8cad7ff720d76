"""The pure parts of the HTTP layer: tokens, the per-address limit, the schema checker, import
parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ussd_gateway.http.importing import RowRefusal, SubscriberRecord, check_rows, csv_rows
from ussd_gateway.http.ratelimit import ClientRateLimiter
from ussd_gateway.http.schema import validate
from ussd_gateway.http.tokens import Scope, TokenSigner

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STAMP = "c3RhbXAtb2YtcGFzc3dvcmRz"


def test_token_round_trip_expiry_and_scope() -> None:
    signer = TokenSigner(b"k" * 32, timedelta(minutes=30))
    token, expires_at = signer.issue("79160000001", Scope.PASSWORD_CHANGE, NOW,
                                     credential_stamp=STAMP)
    claims = signer.verify(token, NOW + timedelta(minutes=29))
    assert claims is not None
    assert (claims.msisdn, claims.scope, claims.expires_at, claims.credential_stamp) == (
        "79160000001", Scope.PASSWORD_CHANGE, expires_at, STAMP)
    assert signer.verify(token, expires_at) is None


def test_tokens_are_unique_and_bound_to_the_key() -> None:
    signer = TokenSigner(b"k" * 32, timedelta(minutes=30))
    first, _ = signer.issue("79160000001", Scope.ACCOUNT, NOW, credential_stamp=STAMP)
    second, _ = signer.issue("79160000001", Scope.ACCOUNT, NOW, credential_stamp=STAMP)
    assert first != second
    assert TokenSigner(b"j" * 32, timedelta(minutes=30)).verify(first, NOW) is None


@given(st.integers(min_value=0), st.sampled_from("AQZaqz019-_."))
def test_any_changed_character_invalidates_a_token(position: int, replacement: str) -> None:
    signer = TokenSigner(b"k" * 32, timedelta(minutes=30))
    token, _ = signer.issue("79160000001", Scope.ACCOUNT, NOW, credential_stamp=STAMP)
    index = position % len(token)
    tampered = token[:index] + replacement + token[index + 1:]
    if tampered != token:  # the MAC covers the text as sent, not what base64 decodes to
        assert signer.verify(tampered, NOW) is None


@given(st.text(max_size=200))
def test_garbage_is_never_a_token(text: str) -> None:
    assert TokenSigner(b"k" * 32, timedelta(minutes=30)).verify(text, NOW) is None


@given(st.lists(st.integers(min_value=0, max_value=3600), max_size=40))
def test_never_more_than_the_limit_in_any_window(offsets: list[int]) -> None:
    limiter = ClientRateLimiter(3, timedelta(minutes=10))
    allowed: list[datetime] = []
    for offset in sorted(offsets):
        moment = NOW + timedelta(seconds=offset)
        wait = limiter.hit("198.51.100.7", moment)
        if wait is None:
            allowed.append(moment)
        else:
            assert wait > timedelta(0)
    for moment in allowed:
        in_window = [m for m in allowed if moment <= m < moment + timedelta(minutes=10)]
        assert len(in_window) <= 3


def test_addresses_are_limited_separately_and_memory_is_bounded() -> None:
    limiter = ClientRateLimiter(1, timedelta(minutes=10), max_clients=2)
    assert limiter.hit("a", NOW) is None
    assert limiter.hit("b", NOW) is None
    assert limiter.hit("a", NOW) == timedelta(minutes=10)
    assert limiter.hit("c", NOW) is None  # forgets "b", the least recently seen
    assert limiter.hit("b", NOW) is None


def test_schema_errors_name_the_field() -> None:
    schema = {"type": "object", "required": ["n"], "additionalProperties": False,
              "properties": {"n": {"type": "integer", "minimum": 1},
                             "tags": {"type": "array", "items": {"type": "string"}}}}
    assert validate(schema, {"n": 2, "tags": ["x"]}) == []
    errors = validate(schema, {"n": True, "tags": ["x", 3], "z": 1})
    assert [(e.path, e.message) for e in errors] == [
        ("/n", "must be integer"), ("/tags/1", "must be string"), ("/z", "is not a known field")]


def test_csv_rows_keep_line_numbers_and_skip_blank_lines() -> None:
    rows = csv_rows("msisdn, owner, region\n\n79160000001,A,B\n79160000002,A,B,extra\n")
    checked = check_rows(rows, "7")
    assert checked[0] == SubscriberRecord(row=3, msisdn="79160000001", owner="A", region="B")
    assert checked[1] == RowRefusal(4, "79160000002", "more cells than columns")
