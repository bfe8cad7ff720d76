"""Two real Peers over loopback TCP (h11's ConnectionPair idea), plus raw-socket peers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmpplib import BindTransceiver, BindTransceiverResp, PhoneNumber, SubmitSmResp

from smpp.codec import DecodedPdu, SubmitSm, UssdTlvs, decode_pdu
from smpp.peer import LinkClosed, Peer, PeerSettings, ResponseTimeout
from smpp.states import Role, SessionState
from tests.peers.raw import deliver_sm, pdu, tlv

WAIT = 10.0
Callback = Callable[[Peer, DecodedPdu], Awaitable[object]]


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) until ``condition`` holds, yielding to the loop between checks."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 (counters are plain attributes)
            await asyncio.sleep(0.001)


async def accept_all(peer: Peer, decoded: DecodedPdu) -> object:
    if decoded.header.command_id == 0x09:
        return BindTransceiverResp(system_id="smsc")
    return SubmitSmResp(message_id="m1")


@dataclass
class Pair:
    smsc: Peer
    esme: Peer


@contextlib.asynccontextmanager
async def connected(
    on_request: Callback = accept_all, *, smsc: dict[str, Any] | None = None,
    esme: dict[str, Any] | None = None,
) -> AsyncIterator[Pair]:
    accepted: asyncio.Queue[Peer] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer, PeerSettings("smsc", Role.SMSC, **(smsc or {})), on_request)
        peer.start()
        await accepted.put(peer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = Peer(reader, writer, PeerSettings("esme", Role.ESME, **(esme or {})), accept_all)
    client.start()
    served = await asyncio.wait_for(accepted.get(), WAIT)
    try:
        yield Pair(served, client)
    finally:
        await client.close()
        await served.close()
        server.close()
        await server.wait_closed()


def submit(text: str = "*100#") -> SubmitSm:
    return SubmitSm(short_message=text, source=PhoneNumber("79161234567"),
                    destination=PhoneNumber("100"), registered_delivery=0)


async def bind(peer: Peer) -> DecodedPdu:
    return await peer.request(BindTransceiver(system_id="gw", password="pw"))


async def test_bind_then_request_and_response_with_ussd_tlvs() -> None:
    seen: list[DecodedPdu] = []

    async def record(peer: Peer, decoded: DecodedPdu) -> object:
        seen.append(decoded)
        return await accept_all(peer, decoded)

    async with connected(record) as pair:
        response = await bind(pair.esme)
        assert response.header.command_status == 0
        assert pair.esme.state is SessionState.BOUND_TRX
        assert pair.smsc.state is SessionState.BOUND_TRX
        answer = await pair.esme.request(submit(), UssdTlvs(0x81, b"\x80\x00"))
        assert answer.header.command_id == 0x80000004
        assert answer.header.sequence_number == seen[-1].header.sequence_number
        assert seen[-1].ussd == UssdTlvs(0x81, b"\x80\x00")


async def test_requests_before_bind_are_refused_by_the_state_table() -> None:
    async with connected() as pair:
        with pytest.raises(Exception, match="may not send"):
            await pair.esme.request(submit())
        # Force it onto the wire anyway: the SMSC answers ESME_RINVBNDSTS.
        pair.esme.state = SessionState.BOUND_TRX
        answer = await pair.esme.request(submit())
        assert answer.header.command_status == 0x04
        assert pair.smsc.state is SessionState.OPEN


async def test_a_second_bind_is_already_bound() -> None:
    async with connected() as pair:
        await bind(pair.esme)
        pair.esme.state = SessionState.OPEN
        again = await bind(pair.esme)
        assert again.header.command_status == 0x05  # ESME_RALYBND


async def test_the_window_bounds_requests_in_flight() -> None:
    release = asyncio.Event()
    in_flight = 0
    most = 0

    async def slow(peer: Peer, decoded: DecodedPdu) -> object:
        nonlocal in_flight, most
        if decoded.header.command_id == 0x09:
            return BindTransceiverResp(system_id="smsc")
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        return SubmitSmResp(message_id="x")

    async with connected(slow, esme={"window": 2}) as pair:
        await bind(pair.esme)
        sends = [asyncio.create_task(pair.esme.request(submit())) for _ in range(6)]
        await until(lambda: in_flight == 2)
        for _ in range(20):
            await asyncio.sleep(0)
        assert most == 2
        release.set()
        answers = await asyncio.wait_for(asyncio.gather(*sends), WAIT)
        assert {a.header.command_status for a in answers} == {0}
        assert len({a.header.sequence_number for a in answers}) == 6


async def test_beyond_the_inbound_window_requests_are_throttled() -> None:
    release = asyncio.Event()

    async def stuck(peer: Peer, decoded: DecodedPdu) -> object:
        if decoded.header.command_id == 0x09:
            return BindTransceiverResp(system_id="smsc")
        await release.wait()
        return SubmitSmResp(message_id="x")

    async with connected(stuck, smsc={"inbound_window": 1}) as pair:
        await bind(pair.esme)
        first = asyncio.create_task(pair.esme.request(submit()))
        await until(lambda: pair.smsc.counters.requests_received == 2)
        second = await pair.esme.request(submit())
        assert second.header.command_status == 0x58  # ESME_RTHROTTLED
        release.set()
        assert (await first).header.command_status == 0
        assert pair.smsc.counters.throttled == 1


async def test_a_failing_handler_answers_syserr_and_the_link_stays_up() -> None:
    calls = 0

    async def flaky(peer: Peer, decoded: DecodedPdu) -> object:
        nonlocal calls
        if decoded.header.command_id == 0x09:
            return BindTransceiverResp(system_id="smsc")
        calls += 1
        if calls == 1:
            raise RuntimeError("database is down")
        return SubmitSmResp(message_id="ok")

    async with connected(flaky) as pair:
        await bind(pair.esme)
        failed = await pair.esme.request(submit())
        assert failed.header.command_status == 0x08
        assert failed.message is not None and not failed.message.message_id
        ok = await pair.esme.request(submit())
        assert ok.message is not None and ok.message.message_id == "ok"


async def test_unbind_closes_both_sides() -> None:
    async with connected() as pair:
        await bind(pair.esme)
        await asyncio.wait_for(pair.esme.unbind(), WAIT)
        await asyncio.wait_for(pair.smsc.wait_closed(), WAIT)
        assert pair.esme.is_closed and pair.smsc.close_reason == "unbound"


async def test_enquire_link_keeps_an_idle_link_and_a_silent_one_dies() -> None:
    async with connected(esme={"enquire_link_interval": 0.05}) as pair:
        await bind(pair.esme)
        await until(lambda: pair.esme.counters.enquire_links_sent >= 2)
        assert not pair.esme.is_closed and not pair.smsc.is_closed


async def test_a_peer_that_never_answers_enquire_link_is_closed() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # reads, never answers
        await asyncio.sleep(WAIT)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
    settings = PeerSettings("esme", Role.ESME, enquire_link_interval=0.05,
                            dead_link_timeout=0.1)
    peer = Peer(reader, writer, settings)
    peer.start()
    await asyncio.wait_for(peer.wait_closed(), WAIT)
    assert peer.close_reason.startswith("dead link")
    server.close()


async def raw_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


@contextlib.asynccontextmanager
async def raw_to_smsc(**smsc: object) -> AsyncIterator[tuple[asyncio.StreamReader,
                                                             asyncio.StreamWriter, list[Peer]]]:
    peers: list[Peer] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer, PeerSettings("smsc", Role.SMSC, **smsc), accept_all)  # type: ignore[arg-type]
        peers.append(peer)
        peer.start()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    reader, writer = await raw_client(server.sockets[0].getsockname()[1])
    try:
        yield reader, writer, peers
    finally:
        writer.close()
        for peer in peers:
            await peer.close()
        server.close()


async def read_answer(reader: asyncio.StreamReader) -> DecodedPdu:
    head = await asyncio.wait_for(reader.readexactly(16), WAIT)
    body = await reader.readexactly(int.from_bytes(head[:4], "big") - 16)
    return decode_pdu(head + body)


async def test_unknown_command_gets_generic_nack_and_link_stays_up() -> None:
    async with raw_to_smsc() as (reader, writer, _):
        writer.write(pdu(0x00000777, 41, b"zz"))
        nack = await read_answer(reader)
        assert (nack.header.command_id, nack.header.command_status) == (0x80000000, 0x03)
        assert nack.header.sequence_number == 41
        writer.write(pdu(0x15, 42))
        alive = await read_answer(reader)
        assert (alive.header.command_id, alive.header.sequence_number) == (0x80000015, 42)


async def test_huge_command_length_gets_a_nack_and_the_link_closes() -> None:
    async with raw_to_smsc(max_pdu=4096) as (reader, writer, _):
        writer.write(bytes.fromhex("7fffffff 00000004 00000000 00000009"))
        nack = await read_answer(reader)
        assert nack.header.command_id == 0x80000000 and nack.header.command_status == 0x02
        assert await asyncio.wait_for(reader.read(), WAIT) == b""


async def test_a_response_nobody_asked_for_is_ignored() -> None:
    async with raw_to_smsc() as (reader, writer, peers):
        writer.write(pdu(0x80000004, 99, b"\x00"))
        writer.write(pdu(0x15, 100))
        answer = await read_answer(reader)
        assert answer.header.sequence_number == 100
        assert peers[0].counters.generic_nacks_sent == 0


async def test_requests_fail_with_link_closed_when_the_link_goes() -> None:
    release = asyncio.Event()

    async def never(peer: Peer, decoded: DecodedPdu) -> object:
        if decoded.header.command_id == 0x09:
            return BindTransceiverResp(system_id="smsc")
        await release.wait()
        return 0

    async with connected(never) as pair:
        await bind(pair.esme)
        waiting = asyncio.create_task(pair.esme.request(submit()))
        await until(lambda: pair.smsc.counters.requests_received == 2)
        await pair.smsc.close("test")
        with pytest.raises(LinkClosed):
            await asyncio.wait_for(waiting, WAIT)


async def test_a_request_unanswered_in_time_times_out() -> None:
    release = asyncio.Event()

    async def never(peer: Peer, decoded: DecodedPdu) -> object:
        if decoded.header.command_id == 0x09:
            return BindTransceiverResp(system_id="smsc")
        await release.wait()
        return 0

    async with connected(never) as pair:
        await bind(pair.esme)
        with pytest.raises(ResponseTimeout):
            await pair.esme.request(submit(), response_timeout=0.05)
        release.set()


async def test_a_delivery_right_behind_bind_resp_finds_the_session_bound() -> None:
    delivered: list[DecodedPdu] = []

    async def esme_side(peer: Peer, decoded: DecodedPdu) -> object:
        delivered.append(decoded)
        return 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readexactly(16)
        await reader.readexactly(int.from_bytes(head[:4], "big") - 16)
        deliver = deliver_sm(1, b"Hi", tlvs=tlv(0x0501, b"\x02"))
        writer.write(pdu(0x80000009, int.from_bytes(head[12:], "big"), b"smsc\x00") + deliver)
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
    peer = Peer(reader, writer, PeerSettings("esme", Role.ESME), esme_side)
    peer.start()
    try:
        assert (await bind(peer)).header.command_status == 0
        await until(lambda: bool(delivered))
        assert delivered[0].ussd.service_op == 2
        assert peer.counters.errors_answered == 0
    finally:
        await peer.close()
        server.close()
