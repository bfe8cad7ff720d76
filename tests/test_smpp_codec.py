"""PDU framing, decoding and encoding on raw bytes."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aiosmpplib import (
    NPI,
    TON,
    BindTransceiver,
    BindTransceiverResp,
    EnquireLink,
    PhoneNumber,
    SmppCommandStatus,
    SubmitSmResp,
)

from smpp.codec import (
    DEFAULT_MAX_PDU,
    DataSm,
    DeliverSm,
    PduError,
    PduHeader,
    SubmitSm,
    UssdTlvs,
    command_name,
    decode_pdu,
    encode_pdu,
    parse_header,
    read_pdu,
)
from tests.peers.raw import deliver_sm, pdu, sm_body, submit_sm, tlv

Status = SmppCommandStatus
BALANCE_RU = "Баланс 10 руб."  # noqa: RUF001 (Cyrillic on purpose)


def test_header_fields_are_big_endian() -> None:
    raw = bytes.fromhex("00000010 00000015 00000000 0000002a")
    assert parse_header(raw) == PduHeader(16, 0x15, 0, 42)


@pytest.mark.parametrize("length", [0, 15, DEFAULT_MAX_PDU + 1, 0xFFFFFFFF])
def test_an_unusable_command_length_closes_the_connection(length: int) -> None:
    with pytest.raises(PduError) as caught:
        parse_header(struct.pack("!IIII", length, 4, 0, 3))
    assert caught.value.close_connection
    assert caught.value.command_status == Status.ESME_RINVCMDLEN


def feed_one_octet_at_a_time(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for octet in b"".join(chunks):
        reader.feed_data(bytes((octet,)))
    if eof:
        reader.feed_eof()
    return reader


async def test_read_pdu_frames_whole_pdus_fed_one_octet_at_a_time() -> None:
    first = deliver_sm(1, b"*111*25#", tlvs=tlv(0x0501, b"\x01"))
    second = pdu(0x15, 2)
    reader = feed_one_octet_at_a_time(first, second)
    assert await read_pdu(reader, DEFAULT_MAX_PDU) == first
    assert await read_pdu(reader, DEFAULT_MAX_PDU) == second
    with pytest.raises(asyncio.IncompleteReadError):
        await read_pdu(reader, DEFAULT_MAX_PDU)


async def test_a_huge_command_length_is_refused_before_the_body_is_read() -> None:
    reader = feed_one_octet_at_a_time(struct.pack("!IIII", 50_000_000, 4, 0, 1), eof=False)
    with pytest.raises(PduError) as caught:
        await read_pdu(reader, 1024)
    assert caught.value.close_connection
    assert caught.value.sequence_number == 1


async def test_a_pdu_cut_by_eof_is_an_incomplete_read() -> None:
    whole = submit_sm(1, b"1")
    with pytest.raises(asyncio.IncompleteReadError):
        await read_pdu(feed_one_octet_at_a_time(whole[:-3]), DEFAULT_MAX_PDU)


def test_unknown_command_id_asks_for_a_generic_nack_and_keeps_the_link() -> None:
    with pytest.raises(PduError) as caught:
        decode_pdu(pdu(0x00000777, 12, b"abc"))
    assert caught.value.command_status == Status.ESME_RINVCMDID
    assert caught.value.sequence_number == 12
    assert not caught.value.close_connection


def test_truncated_bodies_ask_for_an_error_response() -> None:
    bind = BindTransceiver(sequence_num=5, system_id="gw", password="secret").pdu()
    for raw in (pdu(9, 5, bind[16:-4]), pdu(4, 5, b"\x00\x01\x01791")):
        with pytest.raises(PduError) as caught:
            decode_pdu(raw)
        assert caught.value.command_status == Status.ESME_RINVCMDLEN
        assert caught.value.sequence_number == 5
        assert not caught.value.close_connection


def test_a_length_that_disagrees_with_the_bytes_closes() -> None:
    raw = submit_sm(1, b"1")
    with pytest.raises(PduError) as caught:
        decode_pdu(raw + b"\x00")
    assert caught.value.close_connection


def test_bad_ton_and_npi_get_their_own_status() -> None:
    for ton_npi, status in (((9, 1), Status.ESME_RINVSRCTON), ((1, 2), Status.ESME_RINVSRCNPI)):
        with pytest.raises(PduError) as caught:
            decode_pdu(submit_sm(3, b"1", source_ton_npi=ton_npi))
        assert caught.value.command_status == status


def test_submit_sm_decodes_with_ussd_tlvs_of_any_value() -> None:
    raw = submit_sm(
        8, b"*111*828*1#", tlvs=tlv(0x0501, b"\x81") + tlv(0x1383, b"\xff\x00")
    )
    decoded = decode_pdu(raw)
    assert decoded.header == PduHeader(len(raw), 4, 0, 8)
    assert isinstance(decoded.message, SubmitSm)
    assert decoded.message.short_message == "*111*828*1#"
    assert decoded.message.source == PhoneNumber("79161234567", TON.INTERNATIONAL, NPI.ISDN)
    assert decoded.ussd == UssdTlvs(0x81, b"\xff\x00")


def test_empty_text_is_a_valid_pdu_both_ways() -> None:
    raw = deliver_sm(2, b"", tlvs=tlv(0x0501, b"\x11"))
    decoded = decode_pdu(raw)
    assert decoded.message is not None and decoded.message.short_message == ""
    message = DeliverSm(sequence_num=2, source=PhoneNumber("79161234567", TON(1), NPI(1)),
                        destination=PhoneNumber("111"), registered_delivery=0)
    assert encode_pdu(message, UssdTlvs(service_op=0x11)) == raw


def test_text_decodes_per_data_coding_and_leniently() -> None:
    cases = [
        (0, b"Balance: 10", "Balance: 10"),
        (8, "Баланс".encode("utf-16-be"), "Баланс"),
        (3, "café".encode("latin-1"), "café"),
        (0xF0, b"*100#", "*100#"),  # GSM 03.38 group 1111, 7-bit: upstream refuses 0xF0
        (0x0F, b"*100#", "*100#"),  # group 00xx with language bits
        (0x18, "Да".encode("utf-16-be"), "Да"),  # group 00xx, UCS2
        (0, b"1\x80", "1?"),  # a byte GSM 7 lacks: replaced, PDU kept
    ]
    for data_coding, octets, text in cases:
        decoded = decode_pdu(deliver_sm(1, octets, data_coding=data_coding))
        assert decoded.message is not None
        assert decoded.message.short_message == text, data_coding


def test_error_responses_without_a_body_decode() -> None:
    for command_id, kind in ((0x80000009, BindTransceiverResp), (0x80000004, SubmitSmResp)):
        decoded = decode_pdu(pdu(command_id, 4, status=Status.ESME_RINVPASWD))
        assert isinstance(decoded.message, kind)
        assert decoded.message.command_status == Status.ESME_RINVPASWD


def test_a_vendor_status_is_kept_in_the_header() -> None:
    decoded = decode_pdu(pdu(0x80000004, 4, b"\x00", status=0x0400))
    assert decoded.header.command_status == 0x0400
    assert decoded.message is not None
    assert decoded.message.command_status == Status.ESME_RUNKNOWNERR


def test_known_commands_without_a_model_decode_to_no_message() -> None:
    decoded = decode_pdu(pdu(0x00000003, 9, b"id\x00\x00\x00\x00"))  # query_sm
    assert decoded.message is None and decoded.header.sequence_number == 9
    assert command_name(0x00000003) == "query_sm"
    assert command_name(0x12345) == "0x00012345"


def test_encode_appends_ussd_tlvs_as_raw_bytes() -> None:
    message = SubmitSm(
        sequence_num=3,
        short_message="Password sent",
        source=PhoneNumber("111"),
        destination=PhoneNumber("79161234567", TON(1), NPI(1)),
        registered_delivery=0,
    )
    raw = encode_pdu(message, UssdTlvs(17, b"\x80\x01"))
    expected = pdu(4, 3, sm_body(
        b"Password sent", source=b"111", destination=b"79161234567", source_ton_npi=(0, 0),
        tlvs=tlv(0x0501, b"\x11") + tlv(0x1383, b"\x80\x01"),
    ))
    # sm_body puts TON/NPI 0/0 on the destination; this message has 1/1 there.
    assert raw == expected.replace(b"\x00\x0079161234567", b"\x01\x0179161234567")
    assert decode_pdu(raw).ussd == UssdTlvs(17, b"\x80\x01")


def test_data_sm_round_trip_with_text_in_message_payload() -> None:
    message = DataSm(
        sequence_num=11,
        short_message=BALANCE_RU,
        source=PhoneNumber("79161234567", TON(1), NPI(1)),
        destination=PhoneNumber("100"),
        service_type="USSD",
        encoding="ucs2",
        registered_delivery=0,
    )
    raw = encode_pdu(message, UssdTlvs(2, b"\x05\x02"))
    text = BALANCE_RU.encode("utf-16-be")
    assert raw == pdu(0x103, 11, (
        b"USSD\x00\x01\x0179161234567\x00\x00\x00100\x00" + bytes((0, 0, 8))
        + tlv(0x0424, text) + tlv(0x0501, b"\x02") + tlv(0x1383, b"\x05\x02")
    ))
    decoded = decode_pdu(raw)
    assert isinstance(decoded.message, DataSm)
    assert decoded.message.short_message == BALANCE_RU
    assert decoded.message.service_type == "USSD"
    assert decoded.ussd == UssdTlvs(2, b"\x05\x02")


def test_bodyless_requests_round_trip() -> None:
    raw = encode_pdu(EnquireLink(sequence_num=77))
    assert raw == pdu(0x15, 77)
    decoded = decode_pdu(raw)
    assert isinstance(decoded.message, EnquireLink) and decoded.message.sequence_num == 77


def test_a_message_that_cannot_be_encoded_is_our_error() -> None:
    message = SubmitSm(sequence_num=1, short_message="Привет", encoding="ascii")
    with pytest.raises(PduError) as caught:
        encode_pdu(message)
    assert not caught.value.remote
