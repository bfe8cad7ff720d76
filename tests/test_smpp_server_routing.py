"""Where the SMSC role sends screens and what it answers when the handler cannot."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from smpp.server import SmscServer, SmscSettings, networks
from smpp.ussd import UssdReply, UssdRequest
from tests.peers.esme import RawEsme, bind_body, ussd_submit
from tests.peers.raw import pdu, submit_sm

WAIT = 10.0


def settings(**overrides: object) -> SmscSettings:
    values: dict[str, object] = {"name": "gw", "system_id": "ussdc", "password": "secret"}
    values.update(overrides)
    return SmscSettings(**values)  # type: ignore[arg-type]


async def hello(request: UssdRequest) -> UssdReply | None:
    return UssdReply("Hello", final=True)


async def bind_as(server: SmscServer, command_id: int) -> RawEsme:
    esme = await RawEsme.connect(server.port)
    await esme.send(pdu(command_id, 1, bind_body("ussdc", "secret")))
    assert (await esme.read_response(1)).header.command_status == 0
    return esme


async def test_screens_for_a_transmitter_go_to_the_receiver_of_the_same_system() -> None:
    server = SmscServer(settings(), hello)
    await server.start()
    try:
        transmitter = await bind_as(server, 0x02)
        receiver = await bind_as(server, 0x01)
        assert server.bound_sessions == 2
        await transmitter.send(ussd_submit(5))
        assert (await transmitter.read_response(5)).header.command_status == 0
        delivered = await receiver.read()
        assert delivered.header.command_id == 0x05
        assert delivered.message is not None and delivered.message.short_message == "Hello"
        # A receiver may not submit: the state table answers ESME_RINVBNDSTS.
        await receiver.send(ussd_submit(6))
        assert (await receiver.read_response(6)).header.command_status == 0x04
        for esme in (transmitter, receiver):
            await esme.close()
    finally:
        await server.stop()


async def test_a_handler_too_slow_gets_a_temporary_error() -> None:
    never = asyncio.Event()

    async def stuck(request: UssdRequest) -> UssdReply | None:
        await never.wait()
        return None

    server = SmscServer(settings(handler_timeout=0.05), stuck)
    await server.start()
    try:
        esme = await bind_as(server, 0x09)
        await esme.send(ussd_submit(2))
        assert (await esme.read_response(2)).header.command_status == 0x64  # ESME_RX_T_APPN
        await esme.send(pdu(0x15, 3))
        assert (await esme.read_response(3)).header.command_status == 0
        assert server.handler_errors == 1
        await esme.close()
    finally:
        await server.stop()


async def test_no_screen_and_not_ussd() -> None:
    seen: list[UssdRequest] = []

    async def silent(request: UssdRequest) -> UssdReply | None:
        seen.append(request)
        return None

    server = SmscServer(settings(), silent)
    await server.start()
    try:
        esme = await bind_as(server, 0x09)
        await esme.send(ussd_submit(2, b"", op=17))  # the subscriber hung up
        assert (await esme.read_response(2)).header.command_status == 0
        await esme.send(submit_sm(3, b"an SMS, not USSD"))
        assert (await esme.read_response(3)).header.command_status == 0x66  # ESME_RX_R_APPN
        await esme.send(pdu(0x15, 4))
        answer = await esme.read()  # no deliver_sm came before it
        assert (answer.header.command_id, answer.header.sequence_number) == (0x80000015, 4)
        assert [r.is_abort for r in seen] == [True]
        assert server.answers_sent == 0
        await esme.close()
    finally:
        await server.stop()


def test_allow_entries_parse_and_bad_ones_are_named() -> None:
    assert networks(["10.0.0.0/8", "192.0.2.7", "::1"]) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        networks(["10.0.0.300"])


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match="password"):
        settings(password="much too long")
    with pytest.raises(ValueError, match="window"):
        settings(window=0)
