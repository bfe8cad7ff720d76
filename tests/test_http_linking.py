"""Link applications over real HTTP: refused for each reason, approved, rejected, seen by both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_harness import ANNA, IVAN, IVAN_2, Api, Reply, start_api

TVER_IVAN = "79160000014"  # Ivan Petrov, but in Tver
UNMANAGED_IVAN = "79160000005"  # Ivan Petrov, Moscow, number management off
LATE_IVAN = "79160000006"  # Ivan Petrov, Moscow, applies after IVAN_2 is linked
STRANGER = "79169999999"  # not a subscriber


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for started in start_api(tmp_path):
        for msisdn, region in ((TVER_IVAN, "Tver"), (UNMANAGED_IVAN, "Moscow"),
                               (LATE_IVAN, "Moscow")):
            created = await started.admin("POST", "/admin/v1/subscribers", json_body={
                "msisdn": msisdn, "owner": "Ivan Petrov", "region": region})
            assert created.status == 201, created.text
        for msisdn in (IVAN, IVAN_2, ANNA, TVER_IVAN, LATE_IVAN):  # as if each dialed *111*828*1#
            await started.deps.services.numbers.enable(msisdn, channel="ussd")
        yield started


async def _apply(api: Api, token: str, numbers: list[str], region: str | None = None) -> Reply:
    body: dict[str, object] = {"numbers": numbers}
    if region is not None:
        body["region"] = region
    return await api.call("POST", "/api/v1/link-applications", token=token, json_body=body)


async def test_refused_for_each_reason_naming_the_number(api: Api) -> None:
    token = await api.account_token(IVAN)
    cases = [
        ([IVAN_2, "8 916 000-00-02"], IVAN_2, "duplicate"),
        ([IVAN], IVAN, "own_number"),
        ([STRANGER], STRANGER, "not_subscriber"),
        ([UNMANAGED_IVAN], UNMANAGED_IVAN, "number_management_off"),
        ([ANNA], ANNA, "other_owner"),
        ([TVER_IVAN], TVER_IVAN, "other_region"),
    ]
    for numbers, culprit, reason in cases:
        refused = await _apply(api, token, numbers)
        assert refused.status == 422, (reason, refused.text)
        assert refused.problem_type == "application-refused"
        assert {"msisdn": culprit, "reason": reason} in [
            {"msisdn": r["msisdn"], "reason": r["reason"]} for r in refused.body["refusals"]]
        assert culprit in refused.body["detail"]
    wrong_region = await _apply(api, token, [IVAN_2], region="Tver")
    assert wrong_region.status == 422
    assert wrong_region.body["refusals"][0]["reason"] == "other_region"
    mine = await api.call("GET", "/api/v1/link-applications", token=token)
    assert mine.body == {"applications": []}


async def test_approved_application_links_numbers_into_the_account(api: Api) -> None:
    token = await api.account_token(IVAN)
    filed = await _apply(api, token, ["+79160000002"], region="Moscow")
    assert filed.status == 201, filed.text
    assert filed.body["status"] == "pending"
    assert filed.body["numbers"] == [IVAN_2]
    assert filed.body["review_due_at"] > filed.body["submitted_at"]
    application_id = filed.body["id"]

    pending = await api.admin("GET", "/admin/v1/link-applications?status=pending")
    assert [a["id"] for a in pending.body["applications"]] == [application_id]
    approved = await api.admin("POST", f"/admin/v1/link-applications/{application_id}/approve")
    assert approved.status == 200
    assert approved.body == {"id": application_id, "status": "approved",
                             "group_id": approved.body["group_id"], "added": [IVAN_2]}
    again = await api.admin("POST", f"/admin/v1/link-applications/{application_id}/approve")
    assert again.status == 409 and again.problem_type == "application-already-decided"

    seen = await api.call("GET", f"/api/v1/link-applications/{application_id}", token=token)
    assert seen.body["status"] == "approved"
    account = await api.call("GET", "/api/v1/account", token=token)
    assert account.body["linked_numbers"] == [{"msisdn": IVAN_2, "balance": {
        "amount_minor": 4_200, "currency": "RUB",
        "formatted": account.body["linked_numbers"][0]["balance"]["formatted"]}}]

    late = await api.account_token(LATE_IVAN)
    linked_elsewhere = await _apply(api, late, [IVAN_2])
    assert linked_elsewhere.status == 422
    assert linked_elsewhere.body["refusals"][0]["reason"] == "already_linked"
    other = await api.call("GET", f"/api/v1/link-applications/{application_id}", token=late)
    assert other.status == 404 and other.problem_type == "application-not-found"

    trail = await api.admin("GET", f"/admin/v1/subscribers/{IVAN}/audit")
    assert ("link.approved", "operator:night-shift") in [
        (e["action"], e["channel"]) for e in trail.body["entries"]]


async def test_operator_rejects_with_a_reason_the_subscriber_sees(api: Api) -> None:
    token = await api.account_token(IVAN)
    filed = await _apply(api, token, [IVAN_2])
    application_id = filed.body["id"]
    rejected = await api.admin("POST", f"/admin/v1/link-applications/{application_id}/reject",
                               json_body={"reason": "documents do not match"})
    assert rejected.body == {"id": application_id, "status": "rejected",
                             "reason": "documents do not match"}
    seen = await api.call("GET", "/api/v1/link-applications", token=token)
    [application] = seen.body["applications"]
    assert application["status"] == "rejected"
    assert application["decision_reason"] == "documents do not match"
    missing = await api.admin("POST", "/admin/v1/link-applications/999/approve")
    assert missing.status == 404 and missing.problem_type == "application-not-found"
