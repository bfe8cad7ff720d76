"""The SMSC role against misbehaving ESMEs: it survives each, and keeps serving the others."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable

import pytest

from smpp.server import SmscServer, SmscSettings
from smpp.ussd import UssdReply, UssdRequest
from tests.peers.esme import RawEsme, bind_body, ussd_submit
from tests.peers.raw import pdu

WAIT = 10.0


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 (server counters are plain attributes)
            await asyncio.sleep(0.005)


async def echo(request: UssdRequest) -> UssdReply | None:
    if request.text == "big":
        return UssdReply("x" * 60_000, final=False)
    return UssdReply(f"You sent {request.text}", final=True)


def settings(**overrides: object) -> SmscSettings:
    values: dict[str, object] = {"name": "gw", "system_id": "ussdc", "password": "secret",
                                 "bind_failure_delay": 0.01, "max_pdu": 4096}
    values.update(overrides)
    return SmscSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[SmscServer]:
    smsc = SmscServer(settings(), echo)
    await smsc.start()
    yield smsc
    await smsc.stop()


async def still_serves(server: SmscServer) -> None:
    """A well-behaved ESME can still bind and get an answer."""
    esme = await RawEsme.connect(server.port)
    try:
        assert await esme.bind() == 0
        await esme.send(ussd_submit(2))
        assert (await esme.read_response(2)).header.command_status == 0
        while True:
            delivered = await esme.read()
            if delivered.header.command_id == 0x05:
                assert delivered.message is not None
                assert delivered.message.short_message == "You sent *100#"
                break
    finally:
        await esme.close()


async def test_garbage_bytes(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    await esme.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    nack = await esme.read()
    assert nack.header.command_id == 0x80000000 and nack.header.command_status == 0x02
    assert await esme.closed_by_server()
    await still_serves(server)


async def test_huge_command_length_closes_without_waiting_for_the_body(
    server: SmscServer,
) -> None:
    esme = await RawEsme.connect(server.port)
    assert await esme.bind() == 0
    await esme.send(struct.pack("!IIII", 0x7FFFFFFF, 0x04, 0, 9))  # and never the body
    nack = await esme.read()
    assert (nack.header.command_id, nack.header.sequence_number) == (0x80000000, 9)
    assert await esme.closed_by_server()
    await until(lambda: server.bound_sessions == 0)
    assert server.generic_nacks_sent == 1
    await still_serves(server)


async def test_unknown_command_id_gets_generic_nack_and_the_link_stays_up(
    server: SmscServer,
) -> None:
    esme = await RawEsme.connect(server.port)
    assert await esme.bind() == 0
    await esme.send(pdu(0x00000042, 5, b"\x01\x02\x03"))
    nack = await esme.read_response(5)
    assert (nack.header.command_id, nack.header.command_status) == (0x80000000, 0x03)
    await esme.send(ussd_submit(6))
    assert (await esme.read_response(6)).header.command_status == 0
    assert server.bound_sessions == 1
    await esme.close()


async def test_truncated_body_gets_its_resp_with_an_error(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    assert await esme.bind() == 0
    whole = ussd_submit(7)
    cut = whole[16:30]  # service_type, source... then nothing
    await esme.send(pdu(0x04, 7, cut))
    answer = await esme.read_response(7)
    assert (answer.header.command_id, answer.header.command_status) == (0x80000004, 0x02)
    await esme.send(pdu(0x15, 8))
    assert (await esme.read_response(8)).header.command_id == 0x80000015
    await esme.close()


async def test_an_esme_that_never_answers_enquire_link_is_closed() -> None:
    smsc = SmscServer(settings(enquire_link_interval=0.05, dead_link_timeout=0.1), echo)
    await smsc.start()
    try:
        esme = await RawEsme.connect(smsc.port)
        assert await esme.bind() == 0
        assert smsc.bound_sessions == 1
        assert await esme.closed_by_server()  # reads the enquire_links, answers none
        assert smsc.bound_sessions == 0
        await still_serves(smsc)
    finally:
        await smsc.stop()


async def test_a_slow_reader_is_closed_and_others_are_served() -> None:
    # 150 screens of 60 KB are more than the kernel buffers hold (sndbuf autotunes to
    # 4 MB on Linux, the reader's rcvbuf is pinned at 4 KB), so writes must stall.
    smsc = SmscServer(settings(write_timeout=0.2, window=150, inbound_window=200), echo)
    await smsc.start()
    try:
        esme = await RawEsme.connect(smsc.port, receive_buffer=4096)
        assert await esme.bind() == 0
        esme.writer.write(b"".join(ussd_submit(n, b"big", op=18) for n in range(2, 152)))
        await until(lambda: "stopped reading" in smsc.last_close_reason)
        assert smsc.bound_sessions == 0
        await still_serves(smsc)
        assert await esme.closed_by_server()  # the stuck socket was not left open
        await esme.close()
    finally:
        await smsc.stop()


async def test_wrong_password_is_refused_counted_and_the_link_closed(
    server: SmscServer,
) -> None:
    for attempt in range(1, 4):
        esme = await RawEsme.connect(server.port)
        assert await esme.bind(password="guess") == 0x0E
        assert await esme.closed_by_server()
        assert server.bind_failures["127.0.0.1"] == attempt
    assert server.binds_refused == 3 and server.binds_ok == 0
    await still_serves(server)


async def test_requests_before_bind_are_refused() -> None:
    smsc = SmscServer(settings(bind_timeout=0.2), echo)
    await smsc.start()
    try:
        esme = await RawEsme.connect(smsc.port)
        await esme.send(ussd_submit(3))
        refused = await esme.read_response(3)
        assert refused.header.command_status == 0x04  # ESME_RINVBNDSTS
        assert await esme.closed_by_server()  # never bound: dropped after bind_timeout
    finally:
        await smsc.stop()


async def test_stop_unbinds_every_session(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    assert await esme.bind() == 0
    stopping = asyncio.create_task(server.stop())
    unbind = await esme.read()
    assert unbind.header.command_id == 0x06
    await esme.send(pdu(0x80000006, unbind.header.sequence_number))
    await asyncio.wait_for(stopping, WAIT)
    assert await esme.closed_by_server()
    assert server.bound_sessions == 0


def test_bind_body_is_what_smpp_says() -> None:
    assert bind_body("a", "b") == b"a\x00b\x00\x00\x34\x00\x00\x00"


async def test_connections_beyond_the_cap_are_dropped_at_accept() -> None:
    smsc = SmscServer(settings(max_connections=2), echo)
    await smsc.start()
    try:
        first = await RawEsme.connect(smsc.port)
        second = await RawEsme.connect(smsc.port)
        assert await first.bind() == 0 and await second.bind() == 0
        third = await RawEsme.connect(smsc.port)
        assert await third.closed_by_server()
        assert smsc.connections_refused == 1 and smsc.bound_sessions == 2
        await first.close()
        await until(lambda: smsc.bound_sessions == 1 and smsc.open_connections == 1)
        await still_serves(smsc)
        await second.close()
    finally:
        await smsc.stop()


async def test_a_dialogue_fed_one_octet_at_a_time(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    stream = pdu(0x09, 1, bind_body("ussdc", "secret")) + ussd_submit(2, b"*111*25#")
    for octet in stream:
        await esme.send(bytes((octet,)))
    assert (await esme.read_response(1)).header.command_status == 0
    assert (await esme.read_response(2)).header.command_status == 0
    delivered = await esme.read()
    assert delivered.message is not None
    assert delivered.message.short_message == "You sent *111*25#"
    assert delivered.ussd.its_session_info == b"\x81\x01"
    await esme.close()
