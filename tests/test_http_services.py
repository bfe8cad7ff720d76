# ruff: noqa: RUF001 (Cyrillic service names)
"""The services catalogue over real HTTP: the operator prices a service, the subscriber sees
it in their language and enables it, paying the connection price once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_harness import IVAN, IVAN_2, OPERATOR_NAME, Api, start_api

TVER_IVAN = "79160000004"  # demo: 10,00 RUB, less than the demo ringback tone's 30,00
CONCIERGE = {"names": {"ru": "Консьерж", "en": "Concierge"},
             "connection_price_minor": 5_000, "monthly_fee_minor": 9_900}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for started in start_api(tmp_path):
        yield started


async def _balance(api: Api, token: str) -> int:
    account = await api.call("GET", "/api/v1/account", token=token)
    return int(account.body["balance"]["amount_minor"])


def _service(account: dict[str, Any], code: str) -> dict[str, Any]:
    [found] = [service for service in account["services"] if service["code"] == code]
    return dict(found)


async def test_an_operator_adds_a_service_and_a_subscriber_pays_for_it_once(api: Api) -> None:
    added = await api.admin("PUT", "/admin/v1/services/concierge", json_body=CONCIERGE)
    assert added.status == 201, added.text
    assert added.body["names"] == {"ru": "Консьерж", "en": "Concierge"}
    assert added.body["currency"] == "RUB"

    russian = await api.account_token(IVAN)  # 150,75 RUB, language ru
    account = await api.call("GET", "/api/v1/account", token=russian)
    concierge = _service(account.body, "concierge")
    assert concierge["name"] == "Консьерж" and concierge["enabled"] is False
    assert concierge["connection_price"]["formatted"] == "50,00 руб."
    assert concierge["monthly_fee"]["formatted"] == "99,00 руб."
    english = await api.account_token(IVAN_2)
    shown = await api.call("GET", "/api/v1/account", token=english)
    assert _service(shown.body, "concierge")["name"] == "Concierge"
    assert _service(shown.body, "number_management")["name"] == "Number management"
    assert _service(account.body, "number_management")["name"] == "Управление номерами"

    on = await api.call("PUT", "/api/v1/account/services/concierge", token=russian)
    assert on.status == 204
    assert await _balance(api, russian) == 15_075 - 5_000
    again = await api.call("PUT", "/api/v1/account/services/concierge", token=russian)
    assert again.status == 204
    assert await _balance(api, russian) == 15_075 - 5_000, "enabling twice charged twice"
    account = await api.call("GET", "/api/v1/account", token=russian)
    assert _service(account.body, "concierge")["enabled"] is True

    off = await api.call("DELETE", "/api/v1/account/services/concierge", token=russian)
    assert off.status == 204
    assert await _balance(api, russian) == 15_075 - 5_000, "disabling is free, no refund"

    trail = await api.admin("GET", f"/admin/v1/subscribers/{IVAN}/audit")
    entries = [(e["action"], e["channel"], e["details"].get("service"),
                e["details"].get("reference")) for e in trail.body["entries"]][:3]
    assert entries == [("service.disabled", "web", "concierge", None),
                       ("service.enabled", "web", "concierge", None),
                       ("balance.debit", "web", None, "service:concierge")]
    shown_to_operator = await api.admin("GET", f"/admin/v1/subscribers/{IVAN}")
    assert "concierge" not in shown_to_operator.body["services"]


async def test_a_short_balance_is_refused_and_nothing_is_enabled_or_debited(api: Api) -> None:
    token = await api.account_token(TVER_IVAN)
    refused = await api.call("PUT", "/api/v1/account/services/ringback", token=token)
    assert refused.status == 409 and refused.problem_type == "insufficient-funds"
    assert refused.body["detail"] == "connecting ringback costs 30.00 RUB; the balance is " \
                                     "10.00 RUB"
    assert refused.body["connection_price"]["amount_minor"] == 3_000
    account = await api.call("GET", "/api/v1/account", token=token)
    assert _service(account.body, "ringback")["enabled"] is False
    assert account.body["balance"]["amount_minor"] == 1_000

    await api.admin("POST", f"/admin/v1/subscribers/{TVER_IVAN}/top-up",
                    json_body={"amount_minor": 2_000})
    paid = await api.call("PUT", "/api/v1/account/services/ringback", token=token)
    assert paid.status == 204
    assert await _balance(api, token) == 0


async def test_a_free_demo_service_and_unknown_codes(api: Api) -> None:
    token = await api.account_token(IVAN)
    free = await api.call("PUT", "/api/v1/account/services/caller_id", token=token)
    assert free.status == 204
    assert await _balance(api, token) == 15_075
    for method in ("PUT", "DELETE"):
        unknown = await api.call(method, "/api/v1/account/services/roaming", token=token)
        assert unknown.status == 404 and unknown.problem_type == "unknown-service"
        assert "roaming" in unknown.body["detail"]


async def test_the_operator_changes_a_price_and_the_catalogue_lists_it(api: Api) -> None:
    changed = await api.admin("PUT", "/admin/v1/services/ringback", json_body={
        "names": {"ru": "Гудок+", "en": "Ringback tone+"}, "connection_price_minor": 100,
        "monthly_fee_minor": 200})
    assert changed.status == 200
    listed = await api.admin("GET", "/admin/v1/services")
    by_code = {entry["code"]: entry for entry in listed.body["services"]}
    assert set(by_code) == {"caller_id", "number_management", "ringback"}
    assert by_code["ringback"]["connection_price_minor"] == 100
    assert by_code["ringback"]["names"] == {"ru": "Гудок+", "en": "Ringback tone+"}
    assert by_code["number_management"]["connection_price_minor"] == 0


async def test_catalogue_entries_are_checked_and_named_in_the_refusal(api: Api) -> None:
    missing = await api.admin("PUT", "/admin/v1/services/concierge", json_body={
        **CONCIERGE, "names": {"ru": "Консьерж"}})
    assert missing.status == 422 and missing.problem_type == "invalid-request"
    assert "name in en is missing" in missing.body["detail"]
    priced = await api.admin("PUT", "/admin/v1/services/number_management", json_body={
        **CONCIERGE, "names": {"ru": "Управление номерами", "en": "Number management"}})
    assert priced.status == 422 and "number management is free" in priced.body["detail"]
    bad_code = await api.admin("PUT", "/admin/v1/services/Concierge!", json_body=CONCIERGE)
    assert bad_code.status == 422 and "service code" in bad_code.body["detail"]
    negative = await api.admin("PUT", "/admin/v1/services/concierge", json_body={
        **CONCIERGE, "connection_price_minor": -1})
    assert negative.status == 422
    assert negative.body["errors"][0]["field"] == "/body/connection_price_minor"
    listed = await api.admin("GET", "/admin/v1/services")
    assert "concierge" not in {entry["code"] for entry in listed.body["services"]}


async def test_only_an_operator_edits_the_catalogue(api: Api) -> None:
    subscriber = await api.account_token(IVAN)
    for token in (None, subscriber):
        reply = await api.call("PUT", "/admin/v1/services/concierge", json_body=CONCIERGE,
                               token=token)
        assert reply.status == 401 and reply.problem_type == "unauthorized"
    added = await api.admin("PUT", "/admin/v1/services/concierge", json_body=CONCIERGE)
    assert added.status == 201
    async with api.deps.db.read() as session:
        from sqlalchemy import select

        from ussd_gateway.store.models import AuditRow
        channels = list(await session.scalars(select(AuditRow.channel).where(
            AuditRow.action == "catalogue.created", AuditRow.details.contains("concierge"))))
    assert channels == [f"operator:{OPERATOR_NAME}"]
