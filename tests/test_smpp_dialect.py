"""Each dialect profile, byte for byte, both ways: centre -> gateway and gateway -> centre."""

from __future__ import annotations

import dataclasses

import pytest

from smpp.codec import DeliverSm, SubmitSm, UssdTlvs, decode_pdu, encode_pdu
from smpp.dialect import (
    PROFILES,
    Dialect,
    DialogueIds,
    dial_message,
    encoding_for,
    message_text,
    reply_message,
    request_from_message,
)
from smpp.ussd import UssdReply, UssdRequest
from tests.peers.raw import deliver_sm, pdu, sm_body, submit_sm, tlv

MSISDN = "79161234567"


def wire(message: object, ussd: UssdTlvs, sequence: int) -> bytes:
    message.sequence_num = sequence  # type: ignore[attr-defined]
    return encode_pdu(message, ussd)


def receive(raw: bytes, dialect: Dialect, connection: str = "ussdc") -> UssdRequest | None:
    decoded = decode_pdu(raw)
    return request_from_message(connection, decoded.message, decoded.ussd, dialect)


def answer_body(text: bytes, tlvs: bytes, data_coding: int = 0, service_type: bytes = b"") -> bytes:
    """A gateway answer: from the service code to the subscriber (1/1), as sm_body lays out."""
    body = sm_body(text, source=b"111", destination=MSISDN.encode(), source_ton_npi=(0, 0),
                   data_coding=data_coding, tlvs=tlvs, service_type=service_type)
    return body.replace(b"\x00\x00" + MSISDN.encode(), b"\x01\x01" + MSISDN.encode())


def test_generic_dialogue_byte_for_byte() -> None:
    generic = PROFILES["generic"]
    begin, begin_ussd = dial_message(MSISDN, "*111*25#", DialogueIds(0x81, 0), generic,
                                     "submit_sm", is_begin=True, service_address="111")
    raw = wire(begin, begin_ussd, 1)
    assert raw == submit_sm(1, b"*111*25#", tlvs=tlv(0x0501, b"\x01") + tlv(0x1383, b"\x81\x00"))

    request = receive(raw, generic)
    assert request == UssdRequest("ussdc", MSISDN, "*111*25#", f"{MSISDN}:its:129",
                                  is_begin=True, service_op=1)

    decoded = decode_pdu(raw)
    screen, screen_ussd = reply_message(decoded.message, decoded.ussd,
                                        UssdReply("1 Get password\n2 Help", final=False),
                                        generic, "deliver_sm")
    assert isinstance(screen, DeliverSm)
    assert wire(screen, screen_ussd, 2) == pdu(5, 2, answer_body(
        b"1 Get password\n2 Help", tlv(0x0501, b"\x02") + tlv(0x1383, b"\x81\x00")))

    reply, reply_ussd = dial_message(MSISDN, "1", DialogueIds(0x81, 1), generic, "submit_sm",
                                     is_begin=False, service_address="111")
    raw = wire(reply, reply_ussd, 3)
    assert raw == submit_sm(3, b"1", tlvs=tlv(0x0501, b"\x12") + tlv(0x1383, b"\x81\x02"))
    request = receive(raw, generic)
    assert request is not None and not request.is_begin and not request.is_abort
    assert request.session_key == f"{MSISDN}:its:129" and request.text == "1"

    decoded = decode_pdu(raw)
    final, final_ussd = reply_message(decoded.message, decoded.ussd,
                                      UssdReply("Пароль отправлен в SMS", final=True),
                                      generic, "deliver_sm")
    assert wire(final, final_ussd, 4) == pdu(5, 4, answer_body(
        "Пароль отправлен в SMS".encode("utf-16-be"),
        tlv(0x0501, b"\x11") + tlv(0x1383, b"\x81\x03"), data_coding=8))


def test_umr_dialect_echoes_user_message_reference_and_ends_with_op_17() -> None:
    umr = PROFILES["umr"]
    begin, ussd = dial_message(MSISDN, "*100#", DialogueIds(user_message_reference=0xBEEF),
                               umr, "deliver_sm", is_begin=True, service_address="111")
    raw = wire(begin, ussd, 7)
    assert raw == deliver_sm(7, b"*100#", tlvs=tlv(0x0501, b"\x01") + tlv(0x0204, b"\xbe\xef"))
    request = receive(raw, umr)
    assert request is not None and request.session_key == f"{MSISDN}:umr:48879"

    decoded = decode_pdu(raw)
    answer, answer_ussd = reply_message(decoded.message, decoded.ussd,
                                        UssdReply("Balance: 10.00", final=True), umr, "submit_sm")
    assert isinstance(answer, SubmitSm) and not isinstance(answer, DeliverSm)
    assert wire(answer, answer_ussd, 8) == pdu(4, 8, answer_body(
        b"Balance: 10.00", tlv(0x0501, b"\x11") + tlv(0x0204, b"\xbe\xef")))


def test_msisdn_dialect_keys_by_subscriber_alone() -> None:
    msisdn = PROFILES["msisdn"]
    begin, ussd = dial_message(MSISDN, "*100#", DialogueIds(), msisdn, "submit_sm",
                               is_begin=True, service_address="111")
    raw = wire(begin, ussd, 1)
    assert raw == submit_sm(1, b"*100#", tlvs=tlv(0x0501, b"\x01"))
    request = receive(raw, msisdn)
    assert request is not None and request.session_key == MSISDN

    decoded = decode_pdu(raw)
    answer, answer_ussd = reply_message(decoded.message, decoded.ussd,
                                        UssdReply("Choose:\n1 Yes", final=False), msisdn,
                                        "deliver_sm")
    assert wire(answer, answer_ussd, 2) == pdu(5, 2, answer_body(
        b"Choose:\n1 Yes", tlv(0x0501, b"\x02")))


def test_service_type_ussd_first_request_without_op() -> None:
    dialect = PROFILES["service_type_ussd"]
    raw = submit_sm(1, b"*111#", service_type=b"USSD", tlvs=tlv(0x1383, b"\x10\x00"))
    request = receive(raw, dialect)
    assert request is not None and request.is_begin and request.service_op is None
    # The same PDU without service_type USSD is an SMS on that bind, not a dialogue.
    assert receive(submit_sm(1, b"*111#"), dialect) is None

    decoded = decode_pdu(raw)
    answer, answer_ussd = reply_message(decoded.message, decoded.ussd,
                                        UssdReply("Bye", final=True), dialect, "deliver_sm")
    assert wire(answer, answer_ussd, 2) == pdu(5, 2, answer_body(
        b"Bye", tlv(0x0501, b"\x11") + tlv(0x1383, b"\x10\x01"), service_type=b"USSD"))

    again, again_ussd = dial_message(MSISDN, "*111#", DialogueIds(0x10), dialect, "submit_sm",
                                     is_begin=True, service_address="111")
    assert receive(wire(again, again_ussd, 3), dialect) == request


def test_its_session_info_only_dialect_sends_no_op() -> None:
    dialect = Dialect("bit_only", end_signal="its_session_info")
    begin, ussd = dial_message(MSISDN, "*100#", DialogueIds(3, 0), dialect, "submit_sm",
                               is_begin=True, service_address="111")
    assert ussd == UssdTlvs(None, b"\x03\x00")
    raw = wire(begin, ussd, 1)
    request = receive(raw, dialect)
    assert request is not None and request.is_begin

    reply, reply_ussd = dial_message(MSISDN, "2", DialogueIds(3, 1), dialect, "submit_sm",
                                     is_begin=False)
    request = receive(wire(reply, reply_ussd, 2), dialect)
    assert request is not None and not request.is_begin

    decoded = decode_pdu(raw)
    for final, octet in ((False, 0x00), (True, 0x01)):
        _, answer_ussd = reply_message(decoded.message, decoded.ussd, UssdReply("x", final),
                                       dialect, "deliver_sm")
        assert answer_ussd == UssdTlvs(None, bytes((3, octet)))


def test_code_in_destination_addr() -> None:
    dialect = dataclasses.replace(PROFILES["generic"], code_field="destination_addr")
    begin, ussd = dial_message(MSISDN, "*111*828*1#", DialogueIds(1), dialect, "submit_sm",
                               is_begin=True)
    raw = wire(begin, ussd, 1)
    assert raw == submit_sm(1, b"*111*828*1#", destination=b"*111*828*1#",
                            tlvs=tlv(0x0501, b"\x01") + tlv(0x1383, b"\x01\x00"))
    request = receive(submit_sm(1, b"", destination=b"*111*828*1#",
                                tlvs=tlv(0x0501, b"\x01") + tlv(0x1383, b"\x01\x00")), dialect)
    assert request is not None and request.text == "*111*828*1#"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_sees_aborts(name: str) -> None:
    dialect = PROFILES[name]
    abort, ussd = dial_message(MSISDN, "", DialogueIds(200, 2, 9), dialect,
                               dialect.request_command, is_begin=False, is_abort=True,
                               service_address="111")
    request = receive(wire(abort, ussd, 5), dialect)
    assert request is not None and request.is_abort and not request.is_begin


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_round_trips_through_data_sm(name: str) -> None:
    dialect = dataclasses.replace(PROFILES[name], request_command="data_sm")
    begin, ussd = dial_message(MSISDN, "*100#", DialogueIds(130, 0, 130), dialect, "data_sm",
                               is_begin=True, service_address="100")
    request = receive(wire(begin, ussd, 1), dialect)
    assert request is not None
    assert (request.msisdn, request.text, request.is_begin) == (MSISDN, "*100#", True)


def test_sms_and_receipts_are_not_ussd() -> None:
    generic = PROFILES["generic"]
    assert receive(deliver_sm(1, b"hello"), generic) is None
    receipt = deliver_sm(2, b"id:1 stat:DELIVRD", esm_class=0x04)
    assert receive(receipt, dataclasses.replace(generic, first_request_without_op=True)) is None


def test_encoding_follows_the_dialect() -> None:
    assert encoding_for("Balance 5", PROFILES["generic"]) == "gsm0338"
    assert encoding_for("Баланс 5", PROFILES["generic"]) == "ucs2"
    latin1 = Dialect("l1", latin_data_coding=3, cyrillic_data_coding=6)
    assert encoding_for("café", latin1) == "latin_1"
    assert encoding_for("Баланс", latin1) == "iso8859_5"
    assert encoding_for("[x]", Dialect("ia5", latin_data_coding=1)) == "ascii"


def test_a_screen_the_cyrillic_coding_cannot_hold_goes_as_ucs2_instead_of_being_lost() -> None:
    iso = dataclasses.replace(PROFILES["generic"], latin_data_coding=3, cyrillic_data_coding=6)
    text = "Баланс: 5 ₽ — «ok»"  # ₽, — and « are not in ISO 8859-5
    begin, begin_ussd = dial_message(MSISDN, "*100#", DialogueIds(1, 0), iso, "submit_sm",
                                     is_begin=True, service_address="100")
    request = decode_pdu(wire(begin, begin_ussd, 1))
    screen, screen_ussd = reply_message(request.message, request.ussd,
                                        UssdReply(text, final=True), iso, "deliver_sm")
    shown = decode_pdu(wire(screen, screen_ussd, 2)).message
    assert (shown.encoding, message_text(shown)) == ("ucs2", text)
    assert encoding_for("Баланс: 5", iso) == "iso8859_5"  # when it fits, as configured


def test_a_bad_dialect_value_names_the_key() -> None:
    with pytest.raises(ValueError, match="end_signal, latin_data_coding"):
        Dialect("bad", end_signal="never", latin_data_coding=8)  # type: ignore[arg-type]
