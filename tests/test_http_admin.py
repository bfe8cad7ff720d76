"""The operator API over real HTTP: auth, subscribers, import, top-up, live state, audit names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_harness import IVAN, OPERATOR_NAME, Api, start_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for started in start_api(tmp_path):
        yield started


async def test_operator_api_refuses_callers_without_a_configured_token(api: Api) -> None:
    for token in (None, "", "not-a-configured-token", "operator-token-for-tests-012345678"):
        reply = await api.call("GET", "/admin/v1/sessions", token=token)
        assert reply.status == 401, token
        assert reply.problem_type == "unauthorized"
    subscriber_token = await api.account_token(IVAN)
    reply = await api.call("GET", "/admin/v1/sessions", token=subscriber_token)
    assert reply.status == 401


async def test_create_update_and_show_a_subscriber_with_the_token_name_in_the_audit(
        api: Api) -> None:
    created = await api.admin("POST", "/admin/v1/subscribers", json_body={
        "msisdn": "8 (916) 123-45-67", "owner": "Olga Ivanova", "region": "Kazan",
        "language": "en"})
    assert created.status == 201
    assert created.body == {"msisdn": "79161234567", "owner": "Olga Ivanova",
                            "region": "Kazan", "language": "en", "status": "active"}
    updated = await api.admin("POST", "/admin/v1/subscribers", json_body={
        "msisdn": "79161234567", "owner": "Olga Ivanova", "region": "Moscow"})
    assert updated.status == 200 and updated.body["region"] == "Moscow"

    shown = await api.admin("GET", "/admin/v1/subscribers/+79161234567")
    assert shown.status == 200
    assert shown.body["balance"] == {"amount_minor": 0, "currency": "RUB",
                                     "formatted": "0.00 RUB"}
    assert shown.body["services"] == [] and shown.body["linked_numbers"] == []

    trail = await api.admin("GET", "/admin/v1/subscribers/79161234567/audit")
    assert [(e["action"], e["channel"]) for e in trail.body["entries"]] == [
        ("subscriber.updated", f"operator:{OPERATOR_NAME}"),
        ("subscriber.created", f"operator:{OPERATOR_NAME}")]

    missing = await api.admin("GET", "/admin/v1/subscribers/79169999999")
    assert missing.status == 404 and missing.problem_type == "not-subscriber"
    bad = await api.admin("POST", "/admin/v1/subscribers", json_body={
        "msisdn": "79161234567", "owner": "", "region": "Moscow", "colour": "red"})
    assert bad.status == 422 and bad.problem_type == "invalid-request"
    assert {e["field"] for e in bad.body["errors"]} == {"/body/owner", "/body/colour"}


async def test_csv_import_reports_each_refused_row_and_why(api: Api) -> None:
    csv_text = (
        "msisdn,owner,region,language\n"
        "+7 916 555-00-01,Petr Sidorov,Omsk,ru\n"
        "89165550002,Petr Sidorov,Omsk,\n"
        "12345,Nobody,Omsk,ru\n"
        "79165550003,,Omsk,ru\n"
        "79165550004,Petr Sidorov,Omsk,fr\n"
        "79165550001,Petr Sidorov,Omsk,ru\n"
        f"{IVAN},Ivan Petrov,Moscow,en\n"
    )
    reply = await api.admin("POST", "/admin/v1/subscribers/import", data=csv_text.encode(),
                            headers={"Content-Type": "text/csv"})
    assert reply.status == 200, reply.text
    assert reply.body["created"] == 2 and reply.body["updated"] == 1
    refused = {r["row"]: (r["msisdn"], r["reason"]) for r in reply.body["refused"]}
    assert set(refused) == {4, 5, 6, 7}
    assert "digits" in refused[4][1]
    assert "owner" in refused[5][1]
    assert "language" in refused[6][1]
    assert refused[7] == ("79165550001", "the number is listed twice (first in row 2)")
    shown = await api.admin("GET", f"/admin/v1/subscribers/{IVAN}")
    assert shown.body["subscriber"]["language"] == "en"


async def test_json_import_and_a_file_that_cannot_be_read(api: Api) -> None:
    rows = [{"msisdn": "79165550010", "owner": "A", "region": "Omsk"}, "junk",
            {"msisdn": "79165550011", "owner": "B"}]
    reply = await api.admin("POST", "/admin/v1/subscribers/import", json_body=rows)
    assert reply.body["created"] == 1
    assert [(r["row"], r["reason"]) for r in reply.body["refused"]] == [
        (1, "not an object"), (2, "region is required")]
    headless = await api.admin("POST", "/admin/v1/subscribers/import", data=b"a,b\n1,2\n",
                               headers={"Content-Type": "text/csv"})
    assert headless.status == 422 and "msisdn" in headless.body["detail"]
    xml = await api.admin("POST", "/admin/v1/subscribers/import", data=b"<a/>",
                          headers={"Content-Type": "application/xml"})
    assert xml.status == 415 and xml.problem_type == "unsupported-media-type"


async def test_top_up_moves_the_balance_the_subscriber_sees(api: Api) -> None:
    reply = await api.admin("POST", f"/admin/v1/subscribers/{IVAN}/top-up",
                            json_body={"amount_minor": 10_000, "reference": "cash desk 4"})
    assert reply.status == 200
    assert reply.body["balance"]["amount_minor"] == 25_075
    token = await api.account_token(IVAN)
    account = await api.call("GET", "/api/v1/account", token=token)
    assert account.body["balance"]["amount_minor"] == 25_075
    negative = await api.admin("POST", f"/admin/v1/subscribers/{IVAN}/top-up",
                               json_body={"amount_minor": -5})
    assert negative.status == 422 and negative.body["errors"][0]["field"] == "/body/amount_minor"
    stranger = await api.admin("POST", "/admin/v1/subscribers/79169999999/top-up",
                               json_body={"amount_minor": 5})
    assert stranger.status == 404 and stranger.problem_type == "not-subscriber"


async def test_outbox_shows_messages_but_never_a_password(api: Api) -> None:
    await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    queued = await api.admin("GET", f"/admin/v1/outbox?msisdn={IVAN}")
    assert queued.body["unsent"] == 1
    [message] = queued.body["messages"]
    assert message["state"] == "pending" and message["secret"] is True
    password = await api.sms_password(IVAN)
    sent = await api.admin("GET", "/admin/v1/outbox?state=sent&limit=5")
    assert sent.body["unsent"] == 0
    assert [m["destination"] for m in sent.body["messages"]] == [IVAN]
    assert password not in sent.text and password not in queued.text


async def test_sessions_saved_before_their_details_were_kept_still_show(api: Api) -> None:
    # What an older gateway saved: the menu state and code only. Live sessions of a real
    # gateway, the SMPP view and menu reloads: tests/test_e2e_operator.py.
    state = {"v": 1, "code": "111", "screen": "main", "language": "en", "inputs": {"n": "828"}}
    await api.deps.sessions.save("79160000001:its:7", {"s": state, "c": "111"})
    await api.deps.sessions.save("79160000003:its:8", {"s": "not a state"})
    reply = await api.admin("GET", "/admin/v1/sessions")
    assert reply.status == 200
    assert reply.body["open"] == 2
    broken, old = sorted(reply.body["sessions"], key=lambda s: s["code"] or "")
    assert old == {"msisdn": None, "code": "111", "screen": "main", "language": "en",
                   "started_at": None, "last_request_at": None, "age_seconds": None,
                   "idle_seconds": None}
    assert broken["code"] is None and broken["screen"] is None
    assert "828" not in reply.text and IVAN not in reply.text
