"""Raw SMPP PDUs built by hand with struct, independent of the code under test."""

from __future__ import annotations

import struct


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack("!HH", tag, len(value)) + value


def pdu(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    return struct.pack("!IIII", 16 + len(body), command_id, status, sequence) + body


def sm_body(
    text: bytes,
    *,
    source: bytes = b"79161234567",
    destination: bytes = b"111",
    service_type: bytes = b"",
    source_ton_npi: tuple[int, int] = (1, 1),
    data_coding: int = 0,
    esm_class: int = 0,
    tlvs: bytes = b"",
) -> bytes:
    """The body of a submit_sm / deliver_sm: every mandatory field, then ``tlvs``."""
    return (
        service_type + b"\x00"
        + bytes(source_ton_npi) + source + b"\x00"
        + b"\x00\x00" + destination + b"\x00"
        + bytes((esm_class, 0, 0))  # esm_class, protocol_id, priority_flag
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + b"\x00\x00"  # registered_delivery, replace_if_present_flag
        + bytes((data_coding, 0, len(text))) + text
        + tlvs
    )


def deliver_sm(sequence: int, text: bytes, **fields: object) -> bytes:
    return pdu(0x00000005, sequence, sm_body(text, **fields))  # type: ignore[arg-type]


def submit_sm(sequence: int, text: bytes, **fields: object) -> bytes:
    return pdu(0x00000004, sequence, sm_body(text, **fields))  # type: ignore[arg-type]
