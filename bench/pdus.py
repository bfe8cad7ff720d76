"""Pre-encoded SMPP PDUs for the load generator.

Hand-packed with struct on purpose: the load generator must not share the gateway's codec (a
bug there would hide on both sides) and must be cheaper per PDU than the system under test.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

BIND_TRANSCEIVER = 0x00000009
BIND_TRANSMITTER = 0x00000002
BIND_RECEIVER = 0x00000001
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
ENQUIRE_LINK = 0x00000015
UNBIND = 0x00000006
GENERIC_NACK = 0x80000000
RESP = 0x80000000
DELIVER_SM_RESP = DELIVER_SM | RESP
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
RETRY_LATER = frozenset({ESME_RMSGQFUL, ESME_RTHROTTLED})

USSD_SERVICE_OP = 0x0501
ITS_SESSION_INFO = 0x1383
PSSR_INDICATION = 1
USSR_REQUEST = 2
USSR_CONFIRM = 18
PSSR_RESPONSE = 17

HEADER = struct.Struct("!IIII")


def pdu(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    return HEADER.pack(16 + len(body), command_id, status, sequence) + body


def response(command_id: int, sequence: int, body: bytes = b"\x00") -> bytes:
    return pdu(command_id | RESP, sequence, body)


def deliver_sm_body(msisdn: str, text: str, *, op: int, session: int, dialogue_seq: int) -> bytes:
    """A USSD request in the "generic" dialect: op + its_session_info, code in short_message."""
    message = text.encode("ascii")
    body = (
        b"USSD\x00"
        + b"\x01\x01" + msisdn.encode("ascii") + b"\x00"
        + b"\x00\x00" + b"111\x00"
        + b"\x00\x00\x00"          # esm_class, protocol_id, priority_flag
        + b"\x00\x00"              # schedule_delivery_time, validity_period
        + b"\x00\x00"              # registered_delivery, replace_if_present
        + b"\x00\x00"              # data_coding (SMSC default), sm_default_msg_id
        + bytes([len(message)]) + message
        + struct.pack("!HHB", USSD_SERVICE_OP, 1, op)
        + struct.pack("!HHBB", ITS_SESSION_INFO, 2, session & 0xFF, (dialogue_seq << 1) & 0xFE)
    )
    return body


class Answer(NamedTuple):
    """What the load generator reads from a submit_sm."""

    destination: str
    op: int | None  # ussd_service_op; None for a plain SMS
    message: bytes  # short_message, undecoded
    session_info: bytes | None  # its_session_info (2 octets) when present


def parse_submit_sm(body: bytes) -> Answer:
    index = body.index(0) + 1 + 2            # service_type, source ton/npi
    index = body.index(0, index) + 1 + 2     # source_addr, dest ton/npi
    end = body.index(0, index)
    destination = body[index:end].decode("ascii", "replace")
    index = end + 1 + 3                      # esm_class, protocol_id, priority
    index = body.index(0, index) + 1         # schedule_delivery_time
    index = body.index(0, index) + 1         # validity_period
    index += 4                               # registered, replace, data_coding, default_msg_id
    length = body[index]
    message = body[index + 1:index + 1 + length]
    index += 1 + length
    op = None
    session_info = None
    while index + 4 <= len(body):
        tag, size = struct.unpack_from("!HH", body, index)
        if tag == USSD_SERVICE_OP and size == 1:
            op = body[index + 4]
        elif tag == ITS_SESSION_INFO and size == 2:
            session_info = body[index + 4:index + 6]
        index += 4 + size
    return Answer(destination, op, message, session_info)
