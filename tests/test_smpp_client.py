"""The aiosmpplib-based ESME client against a hand-made SMSC speaking raw bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from smpp.client import EsmeClient, EsmeSettings
from smpp.dialect import PROFILES
from smpp.ussd import UssdReply, UssdRequest
from tests.smscs import pdus
from tests.smscs.base import ScriptedSmsc

TIMEOUT = 10.0


def settings(port: int, **overrides: object) -> EsmeSettings:
    values: dict[str, object] = {
        "name": "centre",
        "host": "127.0.0.1",
        "port": port,
        "system_id": "gateway",
        "password": "secret",
        "dialect": PROFILES["generic"],
        "reconnect_min": 0.05,
        "reconnect_max": 0.2,
        "response_timeout": 3.0,
        "sms_source": "Operator",
    }
    values.update(overrides)
    return EsmeSettings(**values)  # type: ignore[arg-type]


class Menu:
    """A two-screen handler that records what it was asked."""

    def __init__(self) -> None:
        self.requests: list[UssdRequest] = []

    async def __call__(self, request: UssdRequest) -> UssdReply | None:
        self.requests.append(request)
        if request.is_abort:
            return None
        if request.is_begin:
            return UssdReply("1 Balance\n2 Password", final=False)
        return UssdReply(f"You chose {request.text}", final=True)


@pytest.fixture
async def smsc() -> AsyncIterator[ScriptedSmsc]:
    server = ScriptedSmsc()
    await server.start()
    yield server
    await server.stop()


def ussd_request(text: str, op: int, session: bytes, msisdn: str = "79161234567") -> object:
    tlvs = pdus.tlv(pdus.TAG_USSD_SERVICE_OP, bytes((op,))) + pdus.tlv(
        pdus.TAG_ITS_SESSION_INFO, session
    )
    return lambda seq: pdus.deliver_sm(seq, msisdn, "111", text.encode(), tlvs=tlvs)


async def test_binds_and_serves_a_two_step_dialogue(smsc: ScriptedSmsc) -> None:
    menu = Menu()
    client = EsmeClient(settings(smsc.port), menu)
    await client.start()
    try:
        assert await client.wait_bound(TIMEOUT)
        # session number 0x85 (>= 0x80) and octet 2 = 0x00: the bytes aiosmpplib mangles
        response = await smsc.deliver(ussd_request("*111#", 1, b"\x85\x00"))
        assert pdus.header(response)[1] == pdus.DELIVER_SM | pdus.RESPONSE
        assert pdus.header(response)[2] == pdus.ESME_ROK
        screen = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert screen.text == "1 Balance\n2 Password"
        assert screen.destination == "79161234567"
        assert screen.tlvs[pdus.TAG_USSD_SERVICE_OP] == bytes((2,))
        assert screen.tlvs[pdus.TAG_ITS_SESSION_INFO] == b"\x85\x00"

        await smsc.deliver(ussd_request("1", 18, b"\x85\x02"))
        final = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert final.text == "You chose 1"
        assert final.tlvs[pdus.TAG_USSD_SERVICE_OP] == bytes((17,))
        assert final.tlvs[pdus.TAG_ITS_SESSION_INFO] == b"\x85\x03"
        assert [r.is_begin for r in menu.requests] == [True, False]
        assert menu.requests[0].session_key == menu.requests[1].session_key
        assert client.requests == 2
    finally:
        await client.stop()


async def test_wrong_password_never_binds_and_keeps_trying(smsc: ScriptedSmsc) -> None:
    client = EsmeClient(settings(smsc.port, password="wrong"), Menu())
    await client.start()
    try:
        await smsc.wait_for(lambda: smsc.bind_attempts >= 3)
        assert not client.is_bound
        assert smsc.binds == 0
        assert client.reconnects >= 2
    finally:
        await client.stop()


async def test_sms_is_submitted_and_its_receipt_reported(smsc: ScriptedSmsc) -> None:
    receipts: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def on_receipt(message_id: str, stat: str) -> None:
        await receipts.put((message_id, stat))

    client = EsmeClient(settings(smsc.port), Menu(), on_receipt)
    await client.start()
    try:
        assert await client.wait_bound(TIMEOUT)
        submission = await client.submit_sms("79161234567", "Your password: 4821")
        assert submission.status == "accepted"
        assert submission.message_id is not None
        sms = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert sms.text == "Your password: 4821"
        assert sms.registered_delivery & 1
        assert pdus.TAG_USSD_SERVICE_OP not in sms.tlvs
        assert sms.source == "Operator"

        text = (f"id:{submission.message_id} sub:001 dlvrd:001 submit date:2511250700 "
                "done date:2511250700 stat:DELIVRD err:000 Text:Your password")
        receipt_tlvs = pdus.tlv(pdus.TAG_RECEIPTED_MESSAGE_ID,
                                pdus.cstring(submission.message_id))
        await smsc.deliver(lambda seq: pdus.deliver_sm(
            seq, "79161234567", "Operator", text.encode(), tlvs=receipt_tlvs, esm_class=0x04))
        assert await asyncio.wait_for(receipts.get(), TIMEOUT) == (
            submission.message_id, "DELIVRD")
    finally:
        await client.stop()


async def test_long_and_cyrillic_sms_arrive_whole(smsc: ScriptedSmsc) -> None:
    client = EsmeClient(settings(smsc.port), Menu())
    await client.start()
    try:
        assert await client.wait_bound(TIMEOUT)
        long_text = "Password " + "x" * 300
        cyrillic = "Ваш пароль: 4821"
        assert (await client.submit_sms("79161234567", long_text)).status == "accepted"
        assert (await client.submit_sms("79161234567", cyrillic)).status == "accepted"
        first = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        second = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert first.text == long_text
        assert second.data_coding == 8
        assert second.text == cyrillic
    finally:
        await client.stop()


async def test_submit_sms_when_not_bound_says_so() -> None:
    client = EsmeClient(settings(9), Menu())  # never started
    assert (await client.submit_sms("79161234567", "hi")).status == "not_bound"


async def test_stop_unbinds(smsc: ScriptedSmsc) -> None:
    client = EsmeClient(settings(smsc.port), Menu())
    await client.start()
    assert await client.wait_bound(TIMEOUT)
    connection = smsc.bound_connection
    await client.stop()
    await asyncio.wait_for(connection.closed.wait(), TIMEOUT)
    assert not connection.bound  # the SMSC saw unbind, not just a dropped socket
    assert not client.is_bound
    await client.stop()  # idempotent


async def test_handler_failure_ends_the_dialogue_politely(smsc: ScriptedSmsc) -> None:
    async def broken(request: UssdRequest) -> UssdReply | None:
        raise RuntimeError("database is gone")

    client = EsmeClient(settings(smsc.port), broken)
    await client.start()
    try:
        assert await client.wait_bound(TIMEOUT)
        await smsc.deliver(ussd_request("*100#", 1, b"\x01\x00"))
        screen = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert "Traceback" not in screen.text and "database" not in screen.text
        assert screen.tlvs[pdus.TAG_USSD_SERVICE_OP] == bytes((17,))
        # the link is still up and serving
        await smsc.deliver(ussd_request("*100#", 1, b"\x02\x00"))
        await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert client.is_bound
    finally:
        await client.stop()


async def test_slow_request_does_not_hold_the_link(smsc: ScriptedSmsc) -> None:
    release = asyncio.Event()

    async def handler(request: UssdRequest) -> UssdReply:
        if request.msisdn == "79160000001":
            await release.wait()
        return UssdReply(f"hello {request.msisdn}", final=True)

    client = EsmeClient(settings(smsc.port), handler)
    await client.start()
    try:
        assert await client.wait_bound(TIMEOUT)
        await smsc.deliver(ussd_request("*100#", 1, b"\x01\x00", "79160000001"))
        await smsc.deliver(ussd_request("*100#", 1, b"\x02\x00", "79160000002"))
        fast = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert fast.destination == "79160000002"
        release.set()
        slow = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert slow.destination == "79160000001"
    finally:
        await client.stop()


async def test_sms_that_cannot_be_encoded_fails_once_and_the_link_stays(
        smsc: ScriptedSmsc) -> None:
    client = EsmeClient(settings(smsc.port), Menu())
    await client.start()
    try:
        assert await client.wait_bound(TIMEOUT)
        assert (await client.submit_sms("7916\u00e9", "hi")).status == "failed"
        assert (await client.submit_sms("79161234567", "hi")).status == "accepted"
        assert (await asyncio.wait_for(smsc.submits.get(), TIMEOUT)).destination == "79161234567"
    finally:
        await client.stop()


async def test_every_session_number_and_op_byte_survives_the_client(
        smsc: ScriptedSmsc) -> None:
    async def echo(request: UssdRequest) -> UssdReply | None:
        return None if request.is_abort else UssdReply("ok", final=True)

    client = EsmeClient(settings(smsc.port), echo)
    await client.start()
    try:
        assert await client.wait_bound(TIMEOUT)
        for value in range(256):
            # octet 1 takes every value; octet 2 every even one (odd ones mean "ended")
            session = bytes((value, (2 * value) & 0xFE))
            response = await smsc.deliver(ussd_request("*100#", 1, session))
            assert pdus.header(response)[2] == pdus.ESME_ROK
            reply = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
            assert reply.tlvs[pdus.TAG_ITS_SESSION_INFO] == bytes((value, session[1] | 1))
        for op in range(256):  # vendor ops >= 0x80 must not cost the link a generic_nack
            response = await smsc.deliver(ussd_request("*100#", op, b"\x00\x00"))
            assert pdus.header(response)[1:3] == (pdus.DELIVER_SM | pdus.RESPONSE, 0)
        assert smsc.binds == 1
    finally:
        await client.stop()
