"""Nobody let in: SMPP binds, the operator API, the password rate limit and login lockout
under concurrency, and no password anywhere it should not be, all over the real gateway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from smpp.server import SmscServer, SmscSettings
from smpp.ussd import UssdReply, UssdRequest
from tests.gateway_stack import running_stack
from tests.peers.esme import RawEsme, bind_body
from tests.peers.raw import pdu as raw_pdu
from tests.robust.raw_centre import is_final, raw_centre
from tests.robust.store_checks import committed_passwords, matches, passwords_in
from tests.robust.waiting import eventually
from ussd_gateway.services import OutboxService
from ussd_gateway.store.models import AuditRow, CredentialRow, PasswordIssueRow

ENGLISH = "79160000002"
RUSSIAN = "79160000001"
OPERATOR_TOKEN = "robust-operator-token-0123456789"
CENTRE_PASSWORD = "centre1"  # the USSD centre's bind password for the gateway's SMSC role


def with_smsc_role(allow: list[str]) -> Any:
    def tweak(raw: dict[str, Any]) -> None:
        raw["smpp"]["connections"].append({
            "name": "centre", "mode": "smsc", "listen": "127.0.0.1:0",
            "system_id": "ussdc", "password": CENTRE_PASSWORD, "allow": allow})
    return tweak


async def refused_bind(port: int, password: str) -> tuple[int, float]:
    esme = await RawEsme.connect(port)
    started = time.monotonic()
    try:
        status = await esme.bind(system_id="ussdc", password=password)
        assert await esme.closed_by_server()
        return status, time.monotonic() - started
    finally:
        await esme.close()


async def test_wrong_bind_password_is_refused_counted_and_slowed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_stack(tmp_path, with_smsc_role(["127.0.0.0/8"])) as stack:
        server = stack.running.servers["centre"]
        first_status, first_wait = await refused_bind(server.port, "guess1")
        second_status, second_wait = await refused_bind(server.port, "guess2")
        assert first_status == second_status == 0x0E  # ESME_RINVPASWD
        # each refusal in a row from one address waits longer (1 s, then 2 s)
        assert first_wait >= 0.9 and second_wait >= 1.9
        status = {s["name"]: s for s in stack.gateway.smpp_status()}["centre"]
        assert status["binds_refused"] == 2 and status["bound"] is False
        await stack.gateway.metrics.refresh()
        scraped = stack.gateway.metrics.render().decode()
        assert 'smpp_bind_refused{connection="centre"} 2.0' in scraped
        # the right password still gets in, and resets the count
        esme = await RawEsme.connect(server.port)
        assert await esme.bind(system_id="ussdc", password=CENTRE_PASSWORD) == 0
        await esme.close()
        assert "127.0.0.1" not in server.bind_failures
    for secret in ("guess1", "guess2", CENTRE_PASSWORD):
        assert secret not in caplog.text


async def test_a_bind_from_a_disallowed_address_is_refused(tmp_path: Path) -> None:
    async with running_stack(tmp_path, with_smsc_role(["192.0.2.0/24"])) as stack:
        server = stack.running.servers["centre"]
        esme = await RawEsme.connect(server.port)
        try:
            # even with the right password
            assert await esme.bind(system_id="ussdc", password=CENTRE_PASSWORD) == 0x0D
            assert await esme.closed_by_server()
        finally:
            await esme.close()
        assert server.binds_refused == 1 and server.binds_ok == 0


async def test_operator_api_without_or_with_a_wrong_token_is_refused(tmp_path: Path) -> None:
    def operator(raw: dict[str, Any]) -> None:
        raw["http"].update(enabled=True, port=0,
                           admin_tokens=[{"name": "night", "token": OPERATOR_TOKEN}])

    async with running_stack(tmp_path, operator) as stack, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{stack.running.http_port}"
        attempts = {
            "no header": {},
            "empty bearer": {"Authorization": "Bearer "},
            "wrong token": {"Authorization": "Bearer " + OPERATOR_TOKEN[:-1] + "x"},
            "a prefix of the token": {"Authorization": "Bearer " + OPERATOR_TOKEN[:-1]},
            "basic scheme": {"Authorization": "Basic " + OPERATOR_TOKEN},
        }
        for path in (f"/admin/v1/subscribers/{RUSSIAN}", "/admin/v1/outbox", "/admin/v1/smpp"):
            for why, headers in attempts.items():
                async with http.get(base + path, headers=headers) as reply:
                    assert reply.status == 401, (path, why)
                    assert "Ivan" not in await reply.text()  # no subscriber data
            async with http.get(base + path + f"?token={OPERATOR_TOKEN}") as reply:
                assert reply.status == 401, "a token in the URL is not a credential"
        right = {"Authorization": "Bearer " + OPERATOR_TOKEN}
        async with http.get(base + f"/admin/v1/subscribers/{RUSSIAN}", headers=right) as reply:
            assert reply.status == 200


async def test_concurrent_password_requests_from_one_number_get_exactly_the_limit(
        tmp_path: Path) -> None:
    requests = 12
    async with raw_centre(tmp_path) as centre:
        limit = centre.config.passwords.rate_limit_count
        screens = await asyncio.gather(*(centre.dial(ENGLISH, b"*111*25#", session)
                                         for session in range(1, requests + 1)))
        assert all(is_final(s) for s in screens)
        issued = [s for s in screens if "on its way by SMS" in s.text]
        waits = [s for s in screens if "was sent recently" in s.text]
        assert (len(issued), len(waits)) == (limit, requests - limit)
        async with centre.running.db.read() as session:
            rows = list(await session.scalars(
                select(PasswordIssueRow).where(PasswordIssueRow.msisdn == ENGLISH)))
        assert len(rows) == limit
        outbox = centre.running.services.outbox
        await eventually(lambda: nothing_unsent(outbox), 30, "the outbox to drain")
        messages = await outbox.messages_to(ENGLISH)
        assert len(messages) == limit
        sent = centre.sms[ENGLISH]
        # a newer password replaces one whose SMS was not sent yet: never more SMS than
        # passwords, and the password that is valid now is among those sent
        assert {m.state for m in messages} <= {"sent", "delivered", "superseded"}
        assert 1 <= len(sent) <= limit
        assert len(sent) == sum(m.state != "superseded" for m in messages)
        current = (await committed_passwords(centre.config.store.url))[ENGLISH]
        assert any(matches(centre.config.secret_key, ENGLISH, p, current)
                   for sms in sent for p in passwords_in(sms.text))


async def test_ussd_and_web_password_requests_at_once_share_one_limit(tmp_path: Path) -> None:
    def http_on(raw: dict[str, Any]) -> None:
        raw["http"].update(enabled=True, port=0)

    async with raw_centre(tmp_path, http_on) as centre, aiohttp.ClientSession() as http:
        limit = centre.config.passwords.rate_limit_count
        url = f"http://127.0.0.1:{centre.running.http_port}/api/v1/password-requests"

        async def by_web() -> int:
            async with http.post(url, json={"msisdn": ENGLISH}) as reply:
                return reply.status

        screens, statuses = await asyncio.gather(
            asyncio.gather(*(centre.dial(ENGLISH, b"*111*25#", n) for n in range(1, 7))),
            asyncio.gather(*(by_web() for _ in range(6))))
        issued_by_ussd = sum("on its way" in s.text for s in screens)
        issued_by_web = statuses.count(202)
        assert issued_by_ussd + issued_by_web == limit, (screens, statuses)
        assert set(statuses) <= {202, 429}
        async with centre.running.db.read() as session:
            rows = list(await session.scalars(
                select(PasswordIssueRow).where(PasswordIssueRow.msisdn == ENGLISH)))
        assert len(rows) == limit


async def nothing_unsent(outbox: OutboxService) -> bool:
    return await outbox.count_unsent() == 0


async def test_concurrent_number_management_requests_change_it_exactly_once(
        tmp_path: Path) -> None:
    anna = "79160000003"
    async with raw_centre(tmp_path) as centre:
        on = await asyncio.gather(*(centre.dial(anna, b"*111*828*1#", s) for s in range(1, 11)))
        off = await asyncio.gather(*(centre.dial(anna, b"*111*828*0#", s)
                                     for s in range(11, 21)))
        for screens in (on, off):
            assert all(is_final(s) for s in screens)
            texts = sorted({s.text for s in screens}, key=[s.text for s in screens].count)
            assert len(texts) == 2  # one "done", nine "already so"
            assert [s.text for s in screens].count(texts[0]) == 1
        async with centre.running.db.read() as session:
            actions = list(await session.scalars(
                select(AuditRow.action).where(AuditRow.msisdn == anna)))
        assert actions.count("service.enabled") == 1 and actions.count("service.disabled") == 1


async def test_concurrent_wrong_logins_cannot_beat_the_lockout(tmp_path: Path) -> None:
    def http_on(raw: dict[str, Any]) -> None:
        raw["http"].update(enabled=True, port=0)

    async with running_stack(tmp_path, http_on) as stack, aiohttp.ClientSession() as http:
        dialled = await stack.simulator.dial(ENGLISH, "*111*25#", sms_wait=15)
        password = passwords_in(dialled.sms[0].text)[0]
        url = f"http://127.0.0.1:{stack.running.http_port}/api/v1/login"
        limit = stack.config.passwords.login_max_failures

        async def login(secret: str) -> int:
            async with http.post(url, json={"msisdn": ENGLISH, "password": secret}) as reply:
                text = await reply.text()
                assert secret not in text
                return reply.status

        statuses = await asyncio.gather(*(login(f"wrong{i:03d}") for i in range(25)))
        assert all(s in (401, 423) for s in statuses), statuses
        assert statuses.count(401) <= limit
        async with stack.running.db.read() as session:
            credential = await session.get(CredentialRow, ENGLISH)
        assert credential is not None
        # exactly the allowance of guesses was checked against the password, not one more
        assert credential.failed_attempts == limit and credential.locked_until is not None
        # and now even the right password is refused until the lockout ends
        assert await login(password) == 423


async def test_a_password_never_reaches_logs_audit_metrics_or_errors(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def http_on(raw: dict[str, Any]) -> None:
        raw["http"].update(enabled=True, port=0,
                           admin_tokens=[{"name": "night", "token": OPERATOR_TOKEN}])

    async with running_stack(tmp_path, http_on) as stack, aiohttp.ClientSession() as http:
        dialled = await stack.simulator.dial(RUSSIAN, "*111*25#", sms_wait=15)
        password = passwords_in(dialled.sms[0].text)[0]
        base = f"http://127.0.0.1:{stack.running.http_port}"
        seen: list[str] = list(dialled.screens)
        # the password used wrongly, used rightly, and in a bad body
        for body in ({"msisdn": RUSSIAN, "password": password + "x"},
                     {"msisdn": "not-a-number", "password": password},
                     {"msisdn": RUSSIAN, "password": password, "extra": password}):
            async with http.post(base + "/api/v1/login", json=body) as reply:
                seen.append(await reply.text())
        async with http.post(base + "/api/v1/login",
                             data=f'{{"password": "{password}"'.encode(),
                             headers={"Content-Type": "application/json"}) as reply:
            seen.append(await reply.text())
        async with http.post(base + "/api/v1/login",
                             json={"msisdn": RUSSIAN, "password": password}) as reply:
            assert reply.status == 201
            seen.append(await reply.text())
        admin = {"Authorization": "Bearer " + OPERATOR_TOKEN}
        for path in ("/metrics", "/admin/v1/outbox", f"/admin/v1/subscribers/{RUSSIAN}/audit",
                     f"/admin/v1/subscribers/{RUSSIAN}", "/admin/v1/sessions"):
            async with http.get(base + path, headers=admin) as reply:
                assert reply.status == 200, path
                seen.append(await reply.text())
        async with stack.running.db.read() as session:
            seen += list(await session.scalars(select(AuditRow.details)))
    seen.append(caplog.text)
    seen += [str(r.args) for r in caplog.records]
    leaks = [text[:200] for text in seen if password in text]
    assert not leaks, leaks
    stored = (tmp_path / "store.db").read_bytes()
    for suffix in ("-wal", "-journal"):
        extra = tmp_path / f"store.db{suffix}"
        if extra.exists():
            stored += extra.read_bytes()
    assert password.encode() not in stored
    assert password.encode("utf-16-be") not in stored


async def test_parallel_wrong_binds_from_one_address_are_slowed_one_after_another() -> None:
    server = SmscServer(SmscSettings(name="gw", system_id="ussdc", password=CENTRE_PASSWORD,
                                     bind_failure_delay=0.5, bind_failure_delay_max=5), echo)
    await server.start()
    esmes = [await RawEsme.connect(server.port) for _ in range(4)]
    answers: list[asyncio.Task[Any]] = []
    try:
        for number, esme in enumerate(esmes):
            await esme.send(raw_pdu(0x09, 1, bind_body("ussdc", f"guess{number}")))
        answers = [asyncio.create_task(esme.read_response(1)) for esme in esmes]
        done, _ = await asyncio.wait(answers, return_when=asyncio.FIRST_COMPLETED)
        assert done.pop().result().header.command_status == 0x0E
        # when the first guess is answered, the others must not have been tried yet
        assert server.bind_failures["127.0.0.1"] <= 2, server.bind_failures
    finally:
        for answer in answers:
            answer.cancel()
        await asyncio.gather(*answers, return_exceptions=True)
        for esme in esmes:
            await esme.close()
        await server.stop()


async def echo(request: UssdRequest) -> UssdReply | None:
    return UssdReply(request.text, final=True)
