"""Hypothesis on the codec: any bytes decode or fail with PduError, never anything else."""

from __future__ import annotations

import asyncio
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.codec import DEFAULT_MAX_PDU, PduError, UssdTlvs, decode_pdu, read_pdu
from smpp.tlv import append_ussd_tlvs, split_ussd_tlvs
from tests.peers.esme import ussd_submit
from tests.peers.raw import deliver_sm, pdu, tlv

SEEDS = [
    ussd_submit(1),
    deliver_sm(2, b"*100#", tlvs=tlv(0x0204, b"\x00\x01") + tlv(0x1383, b"\x80\x01")),
    pdu(0x103, 3, b"\x00\x01\x01791\x00\x00\x00100\x00\x00\x00\x08" + tlv(0x0424, b"\x04\x10")),
    pdu(0x09, 4, b"gw\x00pw\x00\x00\x34\x00\x00\x00"),
    pdu(0x80000009, 5, b"smsc\x00" + tlv(0x0210, b"\x34")),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    seed = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(4, len(seed) - 1))
        seed[where] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        seed = seed[: draw(st.integers(16, len(seed)))]
    struct.pack_into("!I", seed, 0, len(seed))
    return bytes(seed)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(mutated(), st.binary(min_size=16, max_size=80).map(
    lambda b: struct.pack("!I", len(b)) + b[4:])))
def test_decode_never_raises_anything_but_pdu_error(raw: bytes) -> None:
    try:
        decoded = decode_pdu(raw)
    except PduError as error:
        assert error.command_status != 0
        return
    assert decoded.header.length == len(raw)


@given(
    st.sampled_from(SEEDS[:2]),
    st.none() | st.integers(0, 255),
    st.none() | st.binary(min_size=2, max_size=2),
    st.none() | st.integers(0, 0xFFFF),
)
def test_append_then_split_round_trips(
    seed: bytes, op: int | None, info: bytes | None, umr: int | None
) -> None:
    base, _ = split_ussd_tlvs(seed)
    wanted = UssdTlvs(op, info, umr)
    _, parsed = split_ussd_tlvs(append_ussd_tlvs(base, wanted))
    assert parsed.service_op == op and parsed.its_session_info == info
    if umr is not None:
        assert parsed.user_message_reference == umr


@given(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=5), st.data())
def test_framing_survives_any_split_of_the_stream(pdus: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(pdus)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=10)))

    async def frame() -> list[bytes]:
        reader = asyncio.StreamReader()
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            reader.feed_data(stream[start:end])
        reader.feed_eof()
        return [await read_pdu(reader, DEFAULT_MAX_PDU) for _ in pdus]

    assert asyncio.run(frame()) == pdus
