"""SMPP 3.4 PDUs: framing with a size cap, and decode/encode through aiosmpplib's messages.

Every failure becomes a :class:`PduError` carrying the status to answer with, so a caller
never has to know aiosmpplib's exceptions. The USSD TLVs go through :mod:`smpp.tlv` at byte
level (see there for why); everything else is aiosmpplib's.

Additions to aiosmpplib 0.7.4, all here:
- :class:`SubmitSm` / :class:`DeliverSm` accept an empty text (upstream refuses to build
  one, yet a USSD abort or an empty reply is a valid PDU);
- :class:`DataSm` / :class:`DataSmResp`, which upstream lacks (text in message_payload);
- text is decoded leniently (a byte the alphabet lacks becomes ``?``, not a lost PDU),
  and a data_coding upstream does not know is reduced to its alphabet (GSM 03.38 DCS
  groups 00xx and 1111), so ``0xF0`` or ``0x0F`` from a USSD centre decode fine.
"""

from __future__ import annotations

import asyncio
import codecs
import struct
from dataclasses import dataclass
from typing import Any, Final

import aiosmpplib
from aiosmpplib import GSM7BitCodec, SmppCommand, SmppCommandStatus, SmppMessage
from aiosmpplib import PduHeader as UpstreamHeader
from aiosmpplib.protocol import MESSAGE_TYPE_MAP
from aiosmpplib.state import MESSAGE_PAYLOAD, NPI, TON, OptionalParam, tag_data_type

from smpp.tlv import (
    HEADER_LENGTH,
    PduError,
    UssdTlvs,
    append_ussd_tlvs,
    mandatory_field_offsets,
    split_ussd_tlvs,
)

__all__ = [
    "DEFAULT_MAX_PDU",
    "HEADER_LENGTH",
    "DataSm",
    "DataSmResp",
    "DecodedPdu",
    "DeliverSm",
    "PduError",
    "PduHeader",
    "SubmitSm",
    "UssdTlvs",
    "command_name",
    "decode_pdu",
    "encode_pdu",
    "is_response",
    "parse_header",
    "read_pdu",
]

DEFAULT_MAX_PDU: Final = 65536 + HEADER_LENGTH
RESPONSE_BIT: Final = 0x80000000

Status = SmppCommandStatus


@dataclass(frozen=True, slots=True)
class PduHeader:
    length: int
    command_id: int
    command_status: int
    sequence_number: int


@dataclass(frozen=True, slots=True)
class DecodedPdu:
    """A PDU as read: its header, the aiosmpplib message, and the USSD TLVs.

    ``message`` is None for a valid SMPP 3.4 command this layer does not model
    (query_sm, cancel_sm, replace_sm, submit_multi, outbind, alert_notification):
    the session answers it by the state table, not by content.
    """

    header: PduHeader
    message: SmppMessage | None
    ussd: UssdTlvs


def is_response(command_id: int) -> bool:
    return bool(command_id & RESPONSE_BIT)


def command_name(command_id: int) -> str:
    try:
        name: str = SmppCommand(command_id).name
    except ValueError:
        return f"0x{command_id:08x}"
    return name.lower()


def parse_header(data: bytes, max_length: int = DEFAULT_MAX_PDU) -> PduHeader:
    """The 16-octet header; PduError(close_connection) when its length is unusable."""
    if len(data) < HEADER_LENGTH:
        raise PduError("header shorter than 16 octets", Status.ESME_RINVCMDLEN,
                       close_connection=True)
    length, command_id, status, sequence = struct.unpack_from("!IIII", data)
    if length < HEADER_LENGTH or length > max_length:
        raise PduError(
            f"command_length {length} outside 16..{max_length}",
            Status.ESME_RINVCMDLEN,
            sequence,
            command_id=command_id,
            close_connection=True,
        )
    return PduHeader(length, command_id, status, sequence)


async def read_pdu(reader: asyncio.StreamReader, max_length: int = DEFAULT_MAX_PDU) -> bytes:
    """One whole PDU from ``reader``.

    The body is only read (and its buffer only allocated) once the header's length has
    passed the cap. Raises PduError for an unusable header, IncompleteReadError at EOF.
    """
    head = await reader.readexactly(HEADER_LENGTH)
    header = parse_header(head, max_length)
    if header.length == HEADER_LENGTH:
        return head
    return head + await reader.readexactly(header.length - HEADER_LENGTH)


# --- messages upstream lacks or is too strict about -------------------------------------


class _EmptyTextAllowed:
    short_message: str
    message_payload: str

    def __post_init__(self) -> None:
        if self.short_message or self.message_payload:
            super().__post_init__()  # type: ignore[misc]
            return
        # Upstream insists on some text; an empty one is valid SMPP (USSD aborts carry none).
        self.short_message = " "
        super().__post_init__()  # type: ignore[misc]
        self.short_message = ""


class SubmitSm(_EmptyTextAllowed, aiosmpplib.SubmitSm):  # type: ignore[misc]
    """aiosmpplib's submit_sm, which may carry an empty text."""


class DeliverSm(_EmptyTextAllowed, aiosmpplib.DeliverSm):  # type: ignore[misc]
    """aiosmpplib's deliver_sm, which may carry an empty text."""


class DataSm(SubmitSm):
    """data_sm (SMPP 3.4 section 4.7): the text travels in message_payload.

    The fields submit_sm has and data_sm lacks (protocol_id, priority, times,
    replace_if_present, sm_default_msg_id) are ignored when encoding.
    """

    @property
    def smpp_command(self) -> SmppCommand:
        return SmppCommand.DATA_SM

    def pdu(self) -> bytes:
        text = self.short_message or self.message_payload
        encoded = self.smpp_encode(text)
        data_coding = aiosmpplib.SmppDataCoding[self.encoding].value if self.encoding else 0
        body = (
            self.service_type.encode("ascii") + b"\x00"
            + struct.pack("!BB", self.source.ton, self.source.npi)
            + self.source.number.encode("ascii") + b"\x00"
            + struct.pack("!BB", self.destination.ton, self.destination.npi)
            + self.destination.number.encode("ascii") + b"\x00"
            + struct.pack("!BBB", self.esm_class, self.registered_delivery, data_coding)
            + struct.pack("!HH", MESSAGE_PAYLOAD, len(encoded)) + encoded
            + b"".join(param.tlv for param in self.optional_params or [])
        )
        header: bytes = self.pack_header(HEADER_LENGTH + len(body))
        return bytes(header + body)

    @classmethod
    def from_pdu(
        cls,
        pdu: bytes,
        header: Any,
        default_encoding: str = "",
        custom_codecs: dict[str, codecs.CodecInfo] | None = None,
    ) -> DataSm:
        index = HEADER_LENGTH

        def c_string() -> str:
            nonlocal index
            end = pdu.index(b"\x00", index)
            value = pdu[index:end].decode("ascii")
            index = end + 1
            return value

        def octet() -> int:
            nonlocal index
            index += 1
            return pdu[index - 1]

        service_type = c_string()
        source_ton, source_npi = TON(octet()), NPI(octet())
        source = aiosmpplib.PhoneNumber(c_string(), source_ton, source_npi)
        dest_ton, dest_npi = TON(octet()), NPI(octet())
        destination = aiosmpplib.PhoneNumber(c_string(), dest_ton, dest_npi)
        esm_class, registered_delivery, data_coding = octet(), octet(), octet()
        encoding = (
            aiosmpplib.SmppDataCoding(data_coding).name if data_coding else default_encoding
        )
        codec = _codec(encoding, custom_codecs)
        text = ""
        params: list[OptionalParam] = []
        while index < len(pdu):
            tag, length = struct.unpack_from("!HH", pdu, index)
            value = pdu[index + 4 : index + 4 + length]
            index += 4 + length
            if tag == MESSAGE_PAYLOAD:
                text = codec.decode(value)[0]
            elif tag_data_type(tag) is int and length in (1, 2, 4):
                params.append(OptionalParam(tag, int.from_bytes(value, "big")))
            elif tag_data_type(tag) is bool:
                params.append(OptionalParam(tag, True))
            elif tag_data_type(tag) is str:
                params.append(OptionalParam(tag, value.rstrip(b"\x00").decode("ascii")))
        return cls(
            sequence_num=header.sequence_num,
            short_message=text,
            source=source,
            destination=destination,
            service_type=service_type,
            esm_class=esm_class,
            registered_delivery=registered_delivery,
            encoding=encoding if encoding != "gsm0338" else None,
            optional_params=params,
        )


class DataSmResp(aiosmpplib.SubmitSmResp):  # type: ignore[misc]
    """data_sm_resp: a message_id, like submit_sm_resp."""

    @property
    def smpp_command(self) -> SmppCommand:
        return SmppCommand.DATA_SM_RESP


_MESSAGE_TYPES: dict[int, Any] = {
    **MESSAGE_TYPE_MAP,
    SmppCommand.SUBMIT_SM: SubmitSm,
    SmppCommand.DELIVER_SM: DeliverSm,
    SmppCommand.DATA_SM: DataSm,
    SmppCommand.DATA_SM_RESP: DataSmResp,
}


# --- lenient text decoding --------------------------------------------------------------


def _lenient(name: str, decode: Any, encode: Any) -> codecs.CodecInfo:
    def decode_replacing(data: Any, errors: str = "strict", /) -> tuple[str, int]:
        result: tuple[str, int] = decode(bytes(data), "replace")
        return result

    return codecs.CodecInfo(encode, decode_replacing, name=name)


def _lenient_alphabets() -> dict[str, codecs.CodecInfo]:
    """Every alphabet upstream names that Python has a codec for (ISO-2022-JP, ISO 8859-8,
    Shift-JIS, EUC-KR ...): their strict decoders would lose a PDU over one odd byte."""
    found: dict[str, codecs.CodecInfo] = {}
    for coding in aiosmpplib.SmppDataCoding:
        try:
            codec = codecs.lookup(coding.name)
        except LookupError:
            continue  # gsm0338, ucs2 and the octet codings: below
        found[coding.name] = _lenient(coding.name, codec.decode, codec.encode)
    return found


_GSM = GSM7BitCodec()
_LATIN_1 = codecs.lookup("latin_1")
_LENIENT_CODECS: Final = {
    **_lenient_alphabets(),
    "gsm0338": _lenient("gsm0338", _GSM.decode, _GSM.encode),
    "ascii": _lenient("ascii", codecs.lookup("ascii").decode, codecs.lookup("ascii").encode),
    "ucs2": _lenient("ucs2", codecs.utf_16_be_decode, codecs.utf_16_be_encode),
    # 8-bit data: keep every byte as one character so nothing is lost.
    "octet_unspecified_I": _lenient("octet_unspecified_I", _LATIN_1.decode, _LATIN_1.encode),
    "octet_unspecified_II": _lenient("octet_unspecified_II", _LATIN_1.decode, _LATIN_1.encode),
}


def _codec(encoding: str, custom: dict[str, codecs.CodecInfo] | None) -> codecs.CodecInfo:
    if custom and encoding in custom:
        return custom[encoding]
    try:
        return codecs.lookup(encoding)
    except LookupError:
        return _LENIENT_CODECS["ascii"]


_KNOWN_DATA_CODINGS: Final = frozenset(int(dc) for dc in aiosmpplib.SmppDataCoding)


def _alphabet(data_coding: int) -> int:
    """The SMPP data_coding upstream understands that has the same alphabet."""
    if data_coding in _KNOWN_DATA_CODINGS:
        return data_coding
    if data_coding & 0xF0 == 0xF0 or data_coding & 0xC0 == 0:
        bits = (data_coding >> 2) & 0x03 if data_coding & 0xC0 == 0 else (data_coding >> 2) & 1
        return {0: 0, 1: 4, 2: 8}.get(bits, 4)
    return 4


# --- decode / encode ------------------------------------------------------------------


_VALID_TON: Final = frozenset(int(t) for t in TON)
_VALID_NPI: Final = frozenset(int(n) for n in NPI)
# Index of the data_coding field among mandatory_field_offsets, and its octet within it.
_DATA_CODING_FIELD: Final = {
    SmppCommand.SUBMIT_SM: (8, 2),
    SmppCommand.DELIVER_SM: (8, 2),
    SmppCommand.DATA_SM: (5, 2),
}


def _checked_body(pdu: bytes, header: PduHeader) -> bytes:
    """The PDU with addresses checked and data_coding reduced to one upstream knows."""
    offsets = mandatory_field_offsets(pdu)
    if offsets is None:
        return pdu
    for field, ton_status, npi_status in (
        (1, Status.ESME_RINVSRCTON, Status.ESME_RINVSRCNPI),
        (3, Status.ESME_RINVDSTTON, Status.ESME_RINVDSTNPI),
    ):
        ton, npi = pdu[offsets[field]], pdu[offsets[field] + 1]
        bad = ton_status if ton not in _VALID_TON else npi_status if npi not in _VALID_NPI else 0
        if bad:
            raise PduError(f"{command_name(header.command_id)}: TON/NPI {ton}/{npi}", bad,
                           header.sequence_number, command_id=header.command_id)
    field, octet = _DATA_CODING_FIELD[SmppCommand(header.command_id)]
    at = offsets[field] + octet
    reduced = _alphabet(pdu[at])
    if reduced == pdu[at]:
        return pdu
    return pdu[:at] + bytes((reduced,)) + pdu[at + 1 :]


def decode_pdu(pdu: bytes, default_encoding: str = "gsm0338") -> DecodedPdu:
    """A whole PDU (as :func:`read_pdu` returns it) as a :class:`DecodedPdu`.

    Raises PduError: closing for an unusable header; ESME_RINVCMDID (not closing) for an
    unknown command id; the status that fits (not closing) for a bad body.
    """
    header = parse_header(pdu, max(len(pdu), HEADER_LENGTH))
    if header.length != len(pdu):
        raise PduError(f"command_length {header.length} but {len(pdu)} octets",
                       Status.ESME_RINVCMDLEN, header.sequence_number,
                       command_id=header.command_id, close_connection=True)
    try:
        command = SmppCommand(header.command_id)
    except ValueError:
        raise PduError(f"unknown command id 0x{header.command_id:08x}", Status.ESME_RINVCMDID,
                       header.sequence_number, command_id=header.command_id) from None
    stripped, ussd = split_ussd_tlvs(pdu)
    message_type = _MESSAGE_TYPES.get(command)
    if message_type is None:
        return DecodedPdu(header, None, ussd)
    status = _upstream_status(header.command_status)
    if is_response(header.command_id) and len(pdu) == HEADER_LENGTH:
        # Error responses often come without a body, which upstream cannot parse.
        bare = message_type(sequence_num=header.sequence_number, command_status=status)
        return DecodedPdu(header, bare, ussd)
    body = _checked_body(stripped, header)
    upstream_header = UpstreamHeader(len(body), command, status, header.sequence_number)
    try:
        message = message_type.from_pdu(body, upstream_header, default_encoding,
                                         _LENIENT_CODECS)
    except Exception as error:  # the boundary: any upstream failure on peer bytes is theirs
        raise PduError(f"{command.name.lower()} body: {error}", Status.ESME_RINVCMDLEN,
                       header.sequence_number, command_id=header.command_id) from None
    return DecodedPdu(header, message, ussd)


def _upstream_status(status: int) -> SmppCommandStatus:
    try:
        return SmppCommandStatus(status)
    except ValueError:
        # A vendor-specific status; the exact value stays in DecodedPdu.header.
        return SmppCommandStatus.ESME_RUNKNOWNERR


def encode_pdu(message: SmppMessage, ussd: UssdTlvs | None = None) -> bytes:
    """The PDU of ``message`` with ``ussd`` appended as raw TLVs.

    Raises PduError(remote=False) when aiosmpplib cannot encode the message.
    """
    try:
        pdu: bytes = message.pdu()
    except (ValueError, UnicodeError, struct.error) as error:
        raise PduError(f"cannot encode {type(message).__name__}: {error}",
                       Status.ESME_RSYSERR, message.sequence_num, remote=False) from None
    return append_ussd_tlvs(pdu, ussd) if ussd is not None else pdu
