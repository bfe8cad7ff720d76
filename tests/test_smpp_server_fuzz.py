"""Hypothesis fuzzing of the SMSC role with mutated valid PDUs.

Whatever arrives after a bind, the server never crashes, answers every request exactly
once with the request's sequence number (responses get no answer), and the link stays up.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smpp.codec import PduHeader
from smpp.server import SmscServer, SmscSettings
from smpp.ussd import UssdReply, UssdRequest
from tests.peers.esme import RawEsme, ussd_submit
from tests.peers.raw import deliver_sm, pdu, tlv

FUZZED_SEQUENCE = 1000
MARKER_SEQUENCE = 0x7FFFFFF0

SEEDS = [
    ussd_submit(FUZZED_SEQUENCE, b"*111*25#", op=1, session=b"\x81\x00"),
    ussd_submit(FUZZED_SEQUENCE, b"1", op=18, session=b"\xff\xfe"),
    deliver_sm(FUZZED_SEQUENCE, "Да".encode("utf-16-be"), data_coding=8,
               tlvs=tlv(0x0501, b"\x11") + tlv(0x0204, b"\x00\x07")),
    pdu(0x103, FUZZED_SEQUENCE,
        b"USSD\x00\x01\x0179161234567\x00\x00\x00100\x00\x00\x00\x00"
        + tlv(0x0424, b"*100#") + tlv(0x0501, b"\x01")),
    pdu(0x15, FUZZED_SEQUENCE),
    pdu(0x03, FUZZED_SEQUENCE, b"abc\x00\x01\x01791\x00"),
]
REQUEST_IDS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0B, 0x15, 0x21, 0x102, 0x103]


@st.composite
def mutated_pdus(draw: Any) -> tuple[int, bytes]:
    seed = draw(st.sampled_from(SEEDS))
    body = bytearray(seed[16:])
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        where = draw(st.integers(0, max(len(body), 1)))
        if kind == "flip" and where < len(body):
            body[where] = draw(st.integers(0, 255))
        elif kind == "delete" and where < len(body):
            del body[where]
        elif kind == "insert":
            body[where:where] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "truncate":
            del body[where:]
    command_id = draw(st.one_of(
        st.just(struct.unpack_from("!I", seed, 4)[0]),
        st.sampled_from(REQUEST_IDS),
        st.integers(0, 0xFFFFFFFF).filter(lambda c: c != 0x06),  # unbind ends the test
    ))
    status = draw(st.sampled_from([0, 0, 0x58, 0xFFFFFFFF]))
    return command_id, pdu(command_id, FUZZED_SEQUENCE, bytes(body), status=status)


async def echo(request: UssdRequest) -> UssdReply | None:
    return UssdReply(f"Echo {request.text[:50]}", final=request.is_abort)


async def answers_until_marker(esme: RawEsme, marker: int) -> list[PduHeader]:
    """Responses (other than the marker's) read until the marker's enquire_link_resp."""
    answers: list[PduHeader] = []
    while True:
        header = (await esme.read()).header
        if header.command_id & 0x80000000:
            if header.sequence_number == marker:
                return answers
            answers.append(header)


async def answers_until(esme: RawEsme, sequence: int) -> list[PduHeader]:
    while True:
        header = (await esme.read()).header
        if header.command_id & 0x80000000 and header.sequence_number == sequence:
            return [header]


async def exchange(command_id: int, raw: bytes) -> None:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    server = SmscServer(SmscSettings(name="gw", system_id="ussdc", password="secret"), echo)
    await server.start()
    esme = await RawEsme.connect(server.port)
    try:
        assert await esme.bind() == 0
        await esme.send(raw + pdu(0x15, MARKER_SEQUENCE))
        expected = 0 if command_id & 0x80000000 else 1
        # Requests are answered concurrently, so the answer may follow the marker's; a
        # second marker after it catches any duplicate.
        answers = await answers_until_marker(esme, MARKER_SEQUENCE)
        if len(answers) < expected:
            answers += await answers_until(esme, FUZZED_SEQUENCE)
        await esme.send(pdu(0x15, MARKER_SEQUENCE + 1))
        answers += await answers_until_marker(esme, MARKER_SEQUENCE + 1)
        assert [a.sequence_number for a in answers] == [FUZZED_SEQUENCE] * expected
        if answers and answers[0].command_id != 0x80000000:
            assert answers[0].command_id == command_id | 0x80000000
        assert server.bound_sessions == 1
    finally:
        await esme.close()
        await server.stop()
    assert not errors, errors


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_pdus())
def test_every_mutated_request_gets_exactly_one_answer(case: tuple[int, bytes]) -> None:
    command_id, raw = case
    asyncio.run(asyncio.wait_for(exchange(command_id, raw), 30))
