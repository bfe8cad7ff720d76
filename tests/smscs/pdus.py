"""SMPP PDUs packed and unpacked by hand, independent of the code under test.

The SMSCs in this package use these so a test's oracle never shares a bug with
``smpp.codec`` / ``smpp.tlv``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
RESPONSE = 0x80000000
BINDS = (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER)

ESME_ROK = 0x00
ESME_RINVCMDID = 0x03
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RTHROTTLED = 0x58

TAG_USER_MESSAGE_REFERENCE = 0x0204
TAG_USSD_SERVICE_OP = 0x0501
TAG_ITS_SESSION_INFO = 0x1383
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427
TAG_MESSAGE_PAYLOAD = 0x0424


def pack(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    return struct.pack("!IIII", 16 + len(body), command_id, status, sequence) + body


def header(pdu: bytes) -> tuple[int, int, int, int]:
    length, command_id, status, sequence = struct.unpack_from("!IIII", pdu)
    return length, command_id, status, sequence


def cstring(text: str) -> bytes:
    return text.encode("ascii") + b"\x00"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack("!HH", tag, len(value)) + value


def deliver_sm(
    sequence: int,
    source: str,
    destination: str,
    text: bytes,
    *,
    tlvs: bytes = b"",
    esm_class: int = 0,
    data_coding: int = 0,
    service_type: str = "",
) -> bytes:
    body = (
        cstring(service_type)
        + bytes((1, 1))
        + cstring(source)
        + bytes((0, 1))
        + cstring(destination)
        + bytes((esm_class, 0, 0))
        + cstring("")
        + cstring("")
        + bytes((0, 0, data_coding, 0, len(text)))
        + text
        + tlvs
    )
    return pack(DELIVER_SM, sequence, body)


@dataclass
class ShortMessage:
    """The fields of a submit_sm / deliver_sm that the tests look at."""

    command_id: int
    sequence: int
    service_type: str
    source: str
    destination: str
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def text(self) -> str:
        raw = self.short_message or self.tlvs.get(TAG_MESSAGE_PAYLOAD, b"")
        if self.data_coding == 8:
            return raw.decode("utf-16-be")
        return raw.decode("latin-1")


def parse_short_message(pdu: bytes) -> ShortMessage:
    _, command_id, _, sequence = header(pdu)
    at = 16

    def take_cstring() -> str:
        nonlocal at
        end = pdu.index(b"\x00", at)
        value = pdu[at:end].decode("ascii")
        at = end + 1
        return value

    def take(count: int) -> bytes:
        nonlocal at
        value = pdu[at : at + count]
        at += count
        return value

    service_type = take_cstring()
    take(2)
    source = take_cstring()
    take(2)
    destination = take_cstring()
    esm_class = take(3)[0]
    take_cstring()
    take_cstring()
    registered_delivery = take(2)[0]
    data_coding, _, sm_length = take(3)
    short_message = take(sm_length)
    tlvs: dict[int, bytes] = {}
    while at + 4 <= len(pdu):
        tag, length = struct.unpack_from("!HH", pdu, at)
        at += 4
        tlvs[tag] = take(length)
    return ShortMessage(
        command_id,
        sequence,
        service_type,
        source,
        destination,
        esm_class,
        registered_delivery,
        data_coding,
        short_message,
        tlvs,
    )


def bind_credentials(pdu: bytes) -> tuple[str, str]:
    """system_id and password of a bind_* request."""
    parts = pdu[16:].split(b"\x00", 2)
    return parts[0].decode("ascii"), parts[1].decode("ascii")
