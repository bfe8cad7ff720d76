"""The personal account over real HTTP: SMS password, login, forced change, lockout, account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_harness import ANNA, IVAN, IVAN_2, Api, start_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for started in start_api(tmp_path):
        yield started


async def test_sms_password_logs_in_only_to_change_it_then_new_password_opens_account(
        api: Api) -> None:
    asked = await api.call("POST", "/api/v1/password-requests",
                           json_body={"msisdn": "+7 916 000-00-01"})
    assert asked.status == 202
    assert api.sms_wakeups, "the SMS sender was not woken"
    temporary = await api.sms_password(IVAN)

    first = await api.login("89160000001", temporary)  # the number typed with a leading 8
    assert first.status == 201
    assert first.body["must_change_password"] is True
    assert first.body["msisdn"] == IVAN
    temporary_token = first.body["token"]

    refused = await api.call("GET", "/api/v1/account", token=temporary_token)
    assert refused.status == 403
    assert refused.problem_type == "password-change-required"

    changed = await api.call("POST", "/api/v1/account/password", token=temporary_token,
                             json_body={"current_password": temporary,
                                        "new_password": "Kv4rtira-na-Arbate"})
    assert changed.status == 204

    old = await api.login(IVAN, temporary)
    assert old.status == 401 and old.problem_type == "invalid-credentials"
    second = await api.login("9160000001", "Kv4rtira-na-Arbate")
    assert second.status == 201
    assert second.body["must_change_password"] is False

    account = await api.call("GET", "/api/v1/account", token=second.body["token"])
    assert account.status == 200
    assert account.body["msisdn"] == IVAN
    assert account.body["balance"]["amount_minor"] == 15_075
    assert account.body["balance"]["formatted"].startswith("150,75 ")  # ru formatting
    service = _service(account.body, "number_management")
    assert service["enabled"] is False
    assert service["monthly_fee"]["amount_minor"] == 0
    assert account.body["linked_numbers"] == []


async def test_weak_new_password_is_refused_with_the_reason(api: Api) -> None:
    await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    temporary = await api.sms_password(IVAN)
    token = (await api.login(IVAN, temporary)).body["token"]
    weak = await api.call("POST", "/api/v1/account/password", token=token,
                          json_body={"current_password": temporary, "new_password": "12345678"})
    assert weak.status == 422
    assert weak.problem_type == "password-rejected"
    assert "common" in weak.body["detail"]


async def test_lockout_after_the_configured_number_of_wrong_passwords(api: Api) -> None:
    await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    temporary = await api.sms_password(IVAN)
    for _ in range(2):  # max_failed_logins=3 in the harness
        wrong = await api.login(IVAN, "not-the-password")
        assert wrong.status == 401 and wrong.problem_type == "invalid-credentials"
    third = await api.login(IVAN, "not-the-password")
    assert third.status == 423 and third.problem_type == "locked-out"
    locked = await api.login(IVAN, temporary)  # even the right password, for a while
    assert locked.status == 423
    assert locked.problem_type == "locked-out"
    assert int(locked.headers["Retry-After"]) > 0
    assert locked.body["retry_after_seconds"] > 0


async def test_unknown_number_and_wrong_password_look_the_same(api: Api) -> None:
    unknown = await api.login("79169999999", "whatever-password")
    await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": ANNA})
    wrong = await api.login(ANNA, "whatever-password")
    assert unknown.status == wrong.status == 401
    assert unknown.body == {**wrong.body}


async def test_password_request_for_a_stranger_gets_the_same_answer(api: Api) -> None:
    stranger = await api.call("POST", "/api/v1/password-requests",
                              json_body={"msisdn": "79169999999"})
    ours = await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN_2})
    assert stranger.status == ours.status == 202
    assert stranger.body == ours.body
    await api.sender.drain_once()
    assert [d for d, _ in api.inbox.messages] == [IVAN_2]


async def test_the_numbers_own_password_rate_limit_applies_as_on_ussd(api: Api) -> None:
    for _ in range(3):
        ok = await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
        assert ok.status == 202
    limited = await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    assert limited.status == 429
    assert limited.problem_type == "password-rate-limited"
    assert int(limited.headers["Retry-After"]) > 0


async def test_invalid_number_is_named(api: Api) -> None:
    reply = await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": "12ab"})
    assert reply.status == 422
    assert reply.problem_type == "invalid-msisdn"
    assert reply.body["errors"][0]["field"] == "/body/msisdn"


async def test_account_needs_a_genuine_token(api: Api) -> None:
    missing = await api.call("GET", "/api/v1/account")
    assert missing.status == 401 and missing.problem_type == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    forged = await api.call("GET", "/api/v1/account", token="v1.eyJzdWIiOiI3OTE2In0.AAAA")
    assert forged.status == 401 and forged.problem_type == "unauthorized"


async def test_changing_the_password_ends_every_token_issued_before(api: Api) -> None:
    this_device = await api.account_token(IVAN, new_password="Kv4rtira-na-Arbate")
    other_device = (await api.login(IVAN, "Kv4rtira-na-Arbate")).body["token"]
    changed = await api.call("POST", "/api/v1/account/password", token=this_device,
                             json_body={"current_password": "Kv4rtira-na-Arbate",
                                        "new_password": "Babushka-Pirozhki-7"})
    assert changed.status == 204
    for stale in (this_device, other_device):
        refused = await api.call("GET", "/api/v1/account", token=stale)
        assert refused.status == 401 and refused.problem_type == "unauthorized"
        assert "log in again" in refused.body["detail"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    login = await api.login(IVAN, "Babushka-Pirozhki-7")
    assert login.status == 201
    account = await api.call("GET", "/api/v1/account", token=login.body["token"])
    assert account.status == 200 and account.body["msisdn"] == IVAN


async def test_a_new_password_by_sms_ends_earlier_tokens(api: Api) -> None:
    token = await api.account_token(IVAN)
    assert (await api.call("GET", "/api/v1/account", token=token)).status == 200
    asked = await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    assert asked.status == 202
    temporary = await api.sms_password(IVAN)
    refused = await api.call("GET", "/api/v1/account", token=token)
    assert refused.status == 401 and refused.problem_type == "unauthorized"
    hijack = await api.call("POST", "/api/v1/account/password", token=token, json_body={
        "current_password": "Str0ng-Passw0rd", "new_password": "Zakhvat-Akkaunta-9"})
    assert hijack.status == 401 and hijack.problem_type == "unauthorized"

    first = await api.login(IVAN, temporary)
    assert first.status == 201 and first.body["must_change_password"] is True
    changed = await api.call("POST", "/api/v1/account/password", token=first.body["token"],
                             json_body={"current_password": temporary,
                                        "new_password": "Kv4rtira-na-Arbate"})
    assert changed.status == 204
    second = await api.login(IVAN, "Kv4rtira-na-Arbate")
    assert second.status == 201
    account = await api.call("GET", "/api/v1/account", token=second.body["token"])
    assert account.status == 200


async def test_number_management_on_and_off_from_the_account(api: Api) -> None:
    token = await api.account_token(IVAN)
    on = await api.call("PUT", "/api/v1/account/services/number_management", token=token)
    assert on.status == 204
    again = await api.call("PUT", "/api/v1/account/services/number_management", token=token)
    assert again.status == 204
    account = await api.call("GET", "/api/v1/account", token=token)
    assert _service(account.body, "number_management")["enabled"] is True
    off = await api.call("DELETE", "/api/v1/account/services/number_management", token=token)
    assert off.status == 204
    account = await api.call("GET", "/api/v1/account", token=token)
    assert _service(account.body, "number_management")["enabled"] is False
    unknown = await api.call("PUT", "/api/v1/account/services/roaming", token=token)
    assert unknown.status == 404 and unknown.problem_type == "unknown-service"

    trail = await api.admin("GET", f"/admin/v1/subscribers/{IVAN}/audit")
    actions = [(e["action"], e["channel"]) for e in trail.body["entries"]]
    assert ("service.enabled", "web") in actions and ("service.disabled", "web") in actions


async def test_a_blocked_subscriber_loses_the_account_and_the_login(api: Api) -> None:
    token = await api.account_token(IVAN, new_password="Kv4rtira-na-Arbate")
    blocked = await api.admin("POST", "/admin/v1/subscribers", json_body={
        "msisdn": IVAN, "owner": "Ivan Petrov", "region": "Moscow", "status": "blocked"})
    assert blocked.status == 200 and blocked.body["status"] == "blocked"
    account = await api.call("GET", "/api/v1/account", token=token)
    assert account.status == 404 and account.problem_type == "not-subscriber"
    login = await api.login(IVAN, "Kv4rtira-na-Arbate")
    assert login.status == 401 and login.problem_type == "invalid-credentials"


async def test_login_answers_are_not_cached(api: Api) -> None:
    await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    reply = await api.login(IVAN, await api.sms_password(IVAN))
    assert reply.headers["Cache-Control"] == "no-store"


def _service(account: dict[str, Any], code: str) -> dict[str, Any]:
    [found] = [service for service in account["services"] if service["code"] == code]
    return dict(found)
