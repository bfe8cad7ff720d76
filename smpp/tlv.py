"""The USSD TLVs at byte level: ``ussd_service_op`` (0x0501) and ``its_session_info`` (0x1383).

aiosmpplib 0.7.4 reads every TLV it does not know as an ASCII string: a value of 0 decodes
to ``''``, a trailing zero byte of ``its_session_info`` is stripped (0x0100 comes back one
octet long) and any byte >= 0x80 makes ``from_pdu`` raise, which loses the whole PDU. So
these two TLVs are cut out of the raw PDU before aiosmpplib sees it, parsed here from the
bytes, and put back as bytes after aiosmpplib has encoded the rest. This module is the only
place that does so; ``tests/test_smpp_tlv_upstream.py`` shows when the shim can go.

``user_message_reference`` (0x0204) is an integer TLV aiosmpplib handles correctly: it is
read here as well (so a dialect finds every session id in one value) but left in the PDU.

``PduError`` lives here, the lowest layer of the wire, and is re-exported by
:mod:`smpp.codec`, where callers should import it from.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_LENGTH = 16

USSD_SERVICE_OP = 0x0501
ITS_SESSION_INFO = 0x1383
USER_MESSAGE_REFERENCE = 0x0204

SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
DATA_SM = 0x00000103

ESME_RINVCMDLEN = 0x00000002
ESME_RINVPARLEN = 0x000000C2
ESME_RINVOPTPARSTREAM = 0x000000C0

# The mandatory part of each PDU that may carry these TLVs, as a list of field kinds:
# "c" is a NUL-terminated C-octet string, an int is that many fixed octets, "sm" is
# sm_length followed by short_message.
_MANDATORY_FIELDS: dict[int, tuple[str | int, ...]] = {
    SUBMIT_SM: ("c", 2, "c", 2, "c", 3, "c", "c", 4, "sm"),
    DELIVER_SM: ("c", 2, "c", 2, "c", 3, "c", "c", 4, "sm"),
    DATA_SM: ("c", 2, "c", 2, "c", 3),
}


class PduError(Exception):
    """A PDU broke a rule; carries the SMPP status to answer with.

    ``command_status`` is what goes back in the ``_resp`` or ``generic_nack``;
    ``sequence_number`` is the offending request's (None when the header was unreadable);
    ``command_id`` is the offending command's (None when unknown);
    ``close_connection`` is True when the header itself is unusable, so framing is lost.
    ``remote`` says who broke the rule: True for the peer's bytes, False for ours.
    """

    def __init__(
        self,
        reason: str,
        command_status: int,
        sequence_number: int | None = None,
        *,
        command_id: int | None = None,
        close_connection: bool = False,
        remote: bool = True,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command_status = command_status
        self.sequence_number = sequence_number
        self.command_id = command_id
        self.close_connection = close_connection
        self.remote = remote


@dataclass(frozen=True, slots=True)
class UssdTlvs:
    """The USSD-related TLVs of one PDU, read from or written as raw bytes."""

    service_op: int | None = None
    its_session_info: bytes | None = None
    user_message_reference: int | None = None

    def __post_init__(self) -> None:
        if self.service_op is not None and not 0 <= self.service_op <= 0xFF:
            raise ValueError(f"service_op must be 0..255, not {self.service_op}")
        if self.its_session_info is not None and len(self.its_session_info) != 2:
            raise ValueError("its_session_info must be exactly 2 octets")
        umr = self.user_message_reference
        if umr is not None and not 0 <= umr <= 0xFFFF:
            raise ValueError(f"user_message_reference must be 0..65535, not {umr}")

    @property
    def session_number(self) -> int | None:
        """Octet 1 of its_session_info: the centre's number for the dialogue."""
        return None if self.its_session_info is None else self.its_session_info[0]

    @property
    def sequence(self) -> int | None:
        """Bits 7..1 of octet 2 of its_session_info: the dialogue unit's number."""
        return None if self.its_session_info is None else self.its_session_info[1] >> 1

    @property
    def end_of_session(self) -> bool:
        """Bit 0 of octet 2 of its_session_info: set on the dialogue's last unit."""
        return self.its_session_info is not None and bool(self.its_session_info[1] & 1)


def its_session_info(session_number: int, sequence: int, end_of_session: bool) -> bytes:
    """The two octets of its_session_info built from their parts."""
    if not 0 <= session_number <= 0xFF or not 0 <= sequence <= 0x7F:
        raise ValueError("session_number is 0..255 and sequence 0..127")
    return bytes((session_number, (sequence << 1) | int(end_of_session)))


def _header(pdu: bytes) -> tuple[int, int]:
    if len(pdu) < HEADER_LENGTH:
        raise PduError("PDU shorter than its header", ESME_RINVCMDLEN, close_connection=True)
    length, command_id, _status, _sequence = struct.unpack_from("!IIII", pdu)
    if length != len(pdu):
        raise PduError(
            f"command_length {length} but {len(pdu)} octets",
            ESME_RINVCMDLEN,
            _sequence,
            command_id=command_id,
            close_connection=True,
        )
    return command_id, _sequence


def mandatory_field_offsets(pdu: bytes) -> tuple[int, ...] | None:
    """Offsets of each mandatory field of a submit_sm / deliver_sm / data_sm, then the TLVs'.

    None for other commands. Raises PduError (ESME_RINVCMDLEN) when the mandatory part
    runs past the end of the PDU.
    """
    command_id, sequence = _header(pdu)
    fields = _MANDATORY_FIELDS.get(command_id)
    if fields is None:
        return None
    offsets = [HEADER_LENGTH]
    offset = HEADER_LENGTH
    for kind in fields:
        if kind == "c":
            end = pdu.find(b"\x00", offset)
            offset = len(pdu) + 1 if end < 0 else end + 1
        elif kind == "sm":
            offset = offset + 1 + pdu[offset] if offset < len(pdu) else len(pdu) + 1
        else:
            assert isinstance(kind, int)
            offset += kind
        if offset > len(pdu):
            raise PduError(
                "mandatory fields run past the end of the PDU",
                ESME_RINVCMDLEN,
                sequence,
                command_id=command_id,
            )
        offsets.append(offset)
    return tuple(offsets)


def tlv_offset(pdu: bytes) -> int | None:
    """Where the TLVs of a submit_sm / deliver_sm / data_sm start; None for other commands."""
    offsets = mandatory_field_offsets(pdu)
    return None if offsets is None else offsets[-1]


def _walk_tlvs(pdu: bytes, start: int) -> list[tuple[int, int, int]]:
    """(tag, value offset, value length) of each TLV from ``start`` to the end."""
    command_id, sequence = _header(pdu)
    found: list[tuple[int, int, int]] = []
    offset = start
    while offset < len(pdu):
        if offset + 4 > len(pdu):
            raise PduError(
                "a TLV header runs past the end of the PDU",
                ESME_RINVOPTPARSTREAM,
                sequence,
                command_id=command_id,
            )
        tag, length = struct.unpack_from("!HH", pdu, offset)
        if offset + 4 + length > len(pdu):
            raise PduError(
                f"TLV 0x{tag:04x} runs past the end of the PDU",
                ESME_RINVPARLEN,
                sequence,
                command_id=command_id,
            )
        found.append((tag, offset + 4, length))
        offset += 4 + length
    return found


def _with_length(pdu: bytes) -> bytes:
    return struct.pack("!I", len(pdu)) + pdu[4:]


def split_ussd_tlvs(pdu: bytes) -> tuple[bytes, UssdTlvs]:
    """Cut 0x0501 and 0x1383 out of ``pdu`` (fixing command_length) and parse them.

    user_message_reference is parsed but stays in the PDU. A PDU of another command comes
    back unchanged. Raises PduError on a mandatory part or TLV that runs past the end, or
    on a USSD TLV of the wrong length (ESME_RINVPARLEN).
    """
    start = tlv_offset(pdu)
    if start is None:
        return pdu, UssdTlvs()
    command_id, sequence = _header(pdu)
    kept = bytearray(pdu[:start])
    service_op: int | None = None
    session_info: bytes | None = None
    reference: int | None = None
    for tag, offset, length in _walk_tlvs(pdu, start):
        value = pdu[offset : offset + length]
        if tag == USSD_SERVICE_OP:
            _expect_length(tag, length, 1, sequence, command_id)
            service_op = value[0]
            continue
        if tag == ITS_SESSION_INFO:
            _expect_length(tag, length, 2, sequence, command_id)
            session_info = bytes(value)
            continue
        if tag == USER_MESSAGE_REFERENCE:
            _expect_length(tag, length, 2, sequence, command_id)
            reference = struct.unpack("!H", value)[0]
        kept += pdu[offset - 4 : offset + length]
    return _with_length(bytes(kept)), UssdTlvs(service_op, session_info, reference)


def _expect_length(
    tag: int, length: int, expected: int, sequence: int, command_id: int
) -> None:
    if length != expected:
        raise PduError(
            f"TLV 0x{tag:04x} is {length} octets, not {expected}",
            ESME_RINVPARLEN,
            sequence,
            command_id=command_id,
        )


def append_ussd_tlvs(pdu: bytes, tlvs: UssdTlvs) -> bytes:
    """Add the set fields of ``tlvs`` to ``pdu`` as raw TLVs and fix command_length.

    A TLV with the same tag already in the PDU is replaced, so the values in ``tlvs`` win
    and no tag appears twice.
    """
    added = b""
    if tlvs.service_op is not None:
        added += struct.pack("!HHB", USSD_SERVICE_OP, 1, tlvs.service_op)
    if tlvs.its_session_info is not None:
        added += struct.pack("!HH", ITS_SESSION_INFO, 2) + tlvs.its_session_info
    if tlvs.user_message_reference is not None:
        added += struct.pack("!HHH", USER_MESSAGE_REFERENCE, 2, tlvs.user_message_reference)
    if not added:
        return pdu
    replaced = {struct.unpack_from("!H", added, i)[0] for i in _tlv_starts(added)}
    start = tlv_offset(pdu)
    if start is None:
        return _with_length(pdu + added)
    kept = bytearray(pdu[:start])
    for tag, offset, length in _walk_tlvs(pdu, start):
        if tag not in replaced:
            kept += pdu[offset - 4 : offset + length]
    return _with_length(bytes(kept) + added)


def _tlv_starts(tlvs: bytes) -> list[int]:
    starts: list[int] = []
    offset = 0
    while offset < len(tlvs):
        starts.append(offset)
        offset += 4 + struct.unpack_from("!H", tlvs, offset + 2)[0]
    return starts
