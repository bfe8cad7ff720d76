"""The USSD TLV shim on raw PDU bytes: every octet value survives, nothing else changes."""

from __future__ import annotations

import struct

import pytest

from smpp.codec import PduError, decode_pdu
from smpp.tlv import (
    ESME_RINVCMDLEN,
    ESME_RINVPARLEN,
    UssdTlvs,
    append_ussd_tlvs,
    its_session_info,
    split_ussd_tlvs,
)
from tests.peers.raw import deliver_sm, pdu, submit_sm, tlv

OCTETS = range(256)


def test_every_service_op_value_is_read_from_the_bytes_and_cut_out() -> None:
    for value in OCTETS:
        raw = deliver_sm(9, b"*100#", tlvs=tlv(0x0501, bytes((value,))))
        stripped, ussd = split_ussd_tlvs(raw)
        assert ussd == UssdTlvs(service_op=value)
        assert stripped == deliver_sm(9, b"*100#")
        decoded = decode_pdu(raw)
        assert decoded.ussd.service_op == value
        assert decoded.message is not None and decoded.message.short_message == "*100#"


@pytest.mark.parametrize("other", [0x00, 0x01, 0x7F, 0x80, 0xFF])
def test_every_value_of_each_its_session_info_octet_keeps_both_octets(other: int) -> None:
    for value in OCTETS:
        for info in (bytes((value, other)), bytes((other, value))):
            raw = submit_sm(3, b"1", tlvs=tlv(0x1383, info))
            stripped, ussd = split_ussd_tlvs(raw)
            assert ussd.its_session_info == info
            assert stripped == submit_sm(3, b"1")
            assert decode_pdu(raw).ussd.its_session_info == info


def test_session_info_parts() -> None:
    ussd = UssdTlvs(its_session_info=b"\x81\x07")
    assert (ussd.session_number, ussd.sequence, ussd.end_of_session) == (0x81, 3, True)
    assert its_session_info(0x81, 3, True) == b"\x81\x07"
    assert its_session_info(0, 0, False) == b"\x00\x00"
    assert UssdTlvs().session_number is None and not UssdTlvs().end_of_session


def test_append_then_split_gives_back_the_bytes_and_the_values() -> None:
    plain = deliver_sm(1, b"Hello")
    for op in OCTETS:
        for info in (bytes((op, 0)), bytes((0, op))):
            ussd = UssdTlvs(service_op=op, its_session_info=info, user_message_reference=op)
            with_tlvs = append_ussd_tlvs(plain, ussd)
            assert struct.unpack_from("!I", with_tlvs)[0] == len(with_tlvs)
            assert with_tlvs == pdu(
                5, 1, plain[16:] + tlv(0x0501, bytes((op,))) + tlv(0x1383, info)
                + tlv(0x0204, struct.pack("!H", op))
            )
            stripped, parsed = split_ussd_tlvs(with_tlvs)
            assert parsed == ussd
            # user_message_reference is one aiosmpplib reads correctly, so it stays.
            assert stripped == append_ussd_tlvs(plain, UssdTlvs(user_message_reference=op))


def test_other_tlvs_stay_in_place_and_user_message_reference_is_read_too() -> None:
    tail = tlv(0x0204, b"\x01\x02") + tlv(0x0501, b"\x12") + tlv(0x020A, b"\x00\x05")
    stripped, ussd = split_ussd_tlvs(deliver_sm(4, b"1", tlvs=tail))
    assert ussd == UssdTlvs(service_op=0x12, user_message_reference=0x0102)
    assert stripped == deliver_sm(4, b"1", tlvs=tlv(0x0204, b"\x01\x02") + tlv(0x020A, b"\x00\x05"))


def test_append_replaces_a_tag_already_there() -> None:
    raw = deliver_sm(4, b"1", tlvs=tlv(0x0501, b"\x01") + tlv(0x0204, b"\x00\x09"))
    replaced = append_ussd_tlvs(raw, UssdTlvs(service_op=0x11, user_message_reference=7))
    assert replaced == deliver_sm(4, b"1", tlvs=tlv(0x0501, b"\x11") + tlv(0x0204, b"\x00\x07"))
    assert append_ussd_tlvs(raw, UssdTlvs()) == raw


def test_a_tlv_running_past_the_end_is_an_error_for_that_request() -> None:
    raw = deliver_sm(77, b"1", tlvs=struct.pack("!HH", 0x1383, 2) + b"\x01")
    with pytest.raises(PduError) as caught:
        split_ussd_tlvs(raw)
    assert caught.value.command_status == ESME_RINVPARLEN
    assert caught.value.sequence_number == 77
    assert not caught.value.close_connection


def test_a_ussd_tlv_of_the_wrong_length_is_refused() -> None:
    for bad in (tlv(0x0501, b""), tlv(0x0501, b"\x01\x02"), tlv(0x1383, b"\x01")):
        with pytest.raises(PduError) as caught:
            split_ussd_tlvs(submit_sm(5, b"1", tlvs=bad))
        assert caught.value.command_status == ESME_RINVPARLEN


def test_a_mandatory_part_cut_short_is_a_length_error() -> None:
    raw = submit_sm(6, b"*100#")
    for cut in range(17, len(raw) - 1):
        short = struct.pack("!I", cut) + raw[4:cut]
        with pytest.raises(PduError) as caught:
            split_ussd_tlvs(short)
        assert caught.value.command_status == ESME_RINVCMDLEN
        assert caught.value.sequence_number == 6


def test_pdus_without_tlvs_pass_through() -> None:
    enquire = pdu(0x15, 1)
    assert split_ussd_tlvs(enquire) == (enquire, UssdTlvs())


def test_values_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError):
        UssdTlvs(service_op=256)
    with pytest.raises(ValueError):
        UssdTlvs(its_session_info=b"\x01")
    with pytest.raises(ValueError):
        UssdTlvs(user_message_reference=70000)
