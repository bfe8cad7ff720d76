"""USSD dialects: how one USSD centre puts a USSD dialogue into SMPP PDUs.

Vendors differ in where the session id lives, how the end of a dialogue is signalled,
where the dialed code is, and which data_coding they expect. A :class:`Dialect` holds those
choices for one connection; the functions here map PDUs to :class:`~smpp.ussd.UssdRequest`
and :class:`~smpp.ussd.UssdReply` to PDUs with no I/O.

Shipped profiles (:data:`PROFILES`):

``generic``
    The SMPP 3.4 reading. The session id is its_session_info (octet 1, echoed back); the
    final screen carries op 17 (PSSR response) *and* the end bit of its_session_info;
    other screens op 2 (USSR request). The code is in short_message; data_coding 0 (GSM 7)
    for Latin text, 8 (UCS2) for Cyrillic; subscriber TON/NPI international/ISDN (1/1);
    requests arrive as submit_sm in the SMSC role. A request without ussd_service_op is
    not USSD (an SMS on the same bind).
``umr``
    Centres that correlate by user_message_reference (0x0204), echoed in every answer;
    the end is op 17 only.
``msisdn``
    Centres that send no session id: a subscriber has one dialogue at a time, keyed by
    the MSISDN; the end is op 17 only.
``service_type_ussd``
    Centres that mark USSD with service_type ``USSD`` (and expect it back), send the
    first request with no ussd_service_op, correlate with its_session_info and signal
    the end with both op 17 and the end bit. A request whose service_type is not
    ``USSD`` and that has no op is an SMS.

Any field can be changed per connection (``dataclasses.replace(PROFILES["generic"], ...)``);
a bad value raises ValueError naming the field.

Inbound, the reading is liberal whatever the dialect: op 0/1 (or no op, where the
dialect allows it) starts a dialogue, op 18 continues it, op 16/17/19 or a set end bit
aborts it. Outbound, ``end_signal`` decides: ``service_op`` sends op 2/17 and never the
end bit; ``its_session_info`` sends no op at all and the end bit on the final screen;
``both`` sends op 2/17 and the end bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

import aiosmpplib
from aiosmpplib import NPI, TON, PhoneNumber

from smpp.codec import DataSm, DeliverSm, SubmitSm
from smpp.tlv import UssdTlvs, its_session_info
from smpp.ussd import UssdReply, UssdRequest, UssdServiceOp

SessionId = Literal["its_session_info", "user_message_reference", "msisdn_code"]
EndSignal = Literal["service_op", "its_session_info", "both"]
CodeField = Literal["short_message", "destination_addr"]
RequestCommand = Literal["deliver_sm", "submit_sm", "data_sm"]
AnswerCommand = Literal["submit_sm", "deliver_sm"]
# aiosmpplib's DeliverSm (and our DataSm) derive from its SubmitSm, so one name covers all.
UssdMessage: TypeAlias = aiosmpplib.SubmitSm

# data_coding -> Python codec that aiosmpplib uses for it.
_ENCODINGS: Final = {0: "gsm0338", 1: "ascii", 3: "latin_1", 6: "iso8859_5", 8: "ucs2"}
_BEGIN_OPS: Final = frozenset({UssdServiceOp.PSSD_INDICATION, UssdServiceOp.PSSR_INDICATION})
_ABORT_OPS: Final = frozenset(
    {UssdServiceOp.PSSD_RESPONSE, UssdServiceOp.PSSR_RESPONSE, UssdServiceOp.USSN_CONFIRM}
)


@dataclass(frozen=True)
class Dialect:
    name: str
    session_id: SessionId = "its_session_info"
    end_signal: EndSignal = "both"
    code_field: CodeField = "short_message"
    request_command: RequestCommand = "submit_sm"
    service_type: str = ""
    first_request_without_op: bool = False
    latin_data_coding: int = 0
    cyrillic_data_coding: int = 8
    source_ton: int = 1
    source_npi: int = 1

    def __post_init__(self) -> None:
        checks = {
            "session_id": self.session_id in ("its_session_info", "user_message_reference",
                                              "msisdn_code"),
            "end_signal": self.end_signal in ("service_op", "its_session_info", "both"),
            "code_field": self.code_field in ("short_message", "destination_addr"),
            "request_command": self.request_command in ("deliver_sm", "submit_sm", "data_sm"),
            "service_type": len(self.service_type) <= 5 and self.service_type.isascii(),
            "latin_data_coding": self.latin_data_coding in (0, 1, 3),
            "cyrillic_data_coding": self.cyrillic_data_coding in (6, 8),
            "source_ton": self.source_ton in {int(t) for t in TON},
            "source_npi": self.source_npi in {int(n) for n in NPI},
        }
        bad = [key for key, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"dialect {self.name!r}: invalid {', '.join(bad)}")


PROFILES: Final[Mapping[str, Dialect]] = MappingProxyType({
    "generic": Dialect("generic"),
    "umr": Dialect("umr", session_id="user_message_reference", end_signal="service_op"),
    "msisdn": Dialect("msisdn", session_id="msisdn_code", end_signal="service_op"),
    "service_type_ussd": Dialect(
        "service_type_ussd", service_type="USSD", first_request_without_op=True
    ),
})


@dataclass(frozen=True, slots=True)
class DialogueIds:
    """The ids a USSD centre stamps on one dialogue (used when acting as the centre)."""

    session_number: int = 0  # octet 1 of its_session_info, 0..255
    sequence: int = 0  # bits 7..1 of octet 2, 0..127
    user_message_reference: int = 0  # 0..65535


def message_text(message: UssdMessage) -> str:
    text: str = message.short_message or message.message_payload
    return text


def is_ussd(message: UssdMessage, ussd: UssdTlvs, dialect: Dialect) -> bool:
    """Whether a request belongs to a USSD dialogue, rather than SMS or a receipt."""
    if isinstance(message, aiosmpplib.DeliverSm) and message.is_receipt():
        return False
    if ussd.service_op is not None:
        return True
    if dialect.service_type:
        return bool(message.service_type.upper() == dialect.service_type.upper())
    return dialect.first_request_without_op or (
        dialect.end_signal == "its_session_info" and ussd.its_session_info is not None
    )


def session_key(connection: str, msisdn: str, ussd: UssdTlvs, dialect: Dialect) -> str:
    """The key of a dialogue, stable across its requests, built per dialect.

    The connection is deliberately not part of the key: a USSD centre may deliver the next
    step of a dialogue on another bind, even to another gateway instance sharing the
    session store. When the dialect's id is missing from a request the next weaker one is
    used, so a request is never dropped for want of a session id.
    """
    del connection  # kept in the signature: a future dialect may scope ids per bind
    if dialect.session_id != "msisdn_code":
        if dialect.session_id == "its_session_info" and ussd.session_number is not None:
            return f"{msisdn}:its:{ussd.session_number}"
        if ussd.user_message_reference is not None:
            return f"{msisdn}:umr:{ussd.user_message_reference}"
        if ussd.session_number is not None:
            return f"{msisdn}:its:{ussd.session_number}"
    return msisdn


def request_from_message(
    connection: str, message: UssdMessage, ussd: UssdTlvs, dialect: Dialect
) -> UssdRequest | None:
    """The USSD request a submit_sm / deliver_sm / data_sm carries; None when not USSD."""
    if not is_ussd(message, ussd, dialect):
        return None
    op = ussd.service_op
    is_abort = op in _ABORT_OPS or ussd.end_of_session
    if op is not None:
        is_begin = op in _BEGIN_OPS
    elif dialect.end_signal == "its_session_info" and ussd.sequence is not None:
        is_begin = ussd.sequence == 0
    else:
        is_begin = True
    is_begin = is_begin and not is_abort
    text = message_text(message)
    if is_begin and dialect.code_field == "destination_addr" and message.destination.number:
        text = message.destination.number
    msisdn: str = message.source.number
    return UssdRequest(
        connection=connection,
        msisdn=msisdn,
        text=text,
        session_key=session_key(connection, msisdn, ussd, dialect),
        is_begin=is_begin,
        is_abort=is_abort,
        service_op=op,
    )


def encoding_for(text: str, dialect: Dialect) -> str:
    """The codec for ``text``: the dialect's Latin coding when it fits, else its Cyrillic
    one, else UCS2, which holds any text (ISO 8859-5 has no «, — or ₽: a screen with
    one would otherwise be lost)."""
    latin = _ENCODINGS[dialect.latin_data_coding]
    fits = (
        aiosmpplib.GSM7BitCodec.is_gsm_text(text)
        if latin == "gsm0338"
        else _encodable(text, latin)
    )
    if fits:
        return latin
    cyrillic = _ENCODINGS[dialect.cyrillic_data_coding]
    ucs2 = _ENCODINGS[8]  # aiosmpplib's codec name, not Python's: it holds any text
    return cyrillic if cyrillic == ucs2 or _encodable(text, cyrillic) else ucs2


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _new_message(
    as_command: AnswerCommand | RequestCommand,
    **fields: object,
) -> SubmitSm | DeliverSm:
    kind: Any = {"submit_sm": SubmitSm, "deliver_sm": DeliverSm, "data_sm": DataSm}[as_command]
    message: SubmitSm | DeliverSm = kind(registered_delivery=0, **fields)
    return message


def reply_message(
    request_message: UssdMessage,
    request_ussd: UssdTlvs,
    reply: UssdReply,
    dialect: Dialect,
    as_command: AnswerCommand,
) -> tuple[SubmitSm | DeliverSm, UssdTlvs]:
    """The PDU that shows ``reply`` to the subscriber who sent ``request_message``.

    Addresses are swapped, its_session_info and user_message_reference echoed; the end of
    the dialogue is marked per ``dialect.end_signal``. sequence_num is left 0 for the
    sender to set.
    """
    marks_op = dialect.end_signal in ("service_op", "both")
    marks_bit = dialect.end_signal in ("its_session_info", "both")
    op: int | None = None
    if marks_op:
        op = UssdServiceOp.PSSR_RESPONSE if reply.final else UssdServiceOp.USSR_REQUEST
    session_info = request_ussd.its_session_info
    if session_info is not None:
        end = reply.final and marks_bit
        session_info = bytes((session_info[0], (session_info[1] & 0xFE) | int(end)))
    if op is None and session_info is None:
        # The dialect's end bit has nowhere to go; the op is the only way left to say it.
        op = UssdServiceOp.PSSR_RESPONSE if reply.final else UssdServiceOp.USSR_REQUEST
    message = _new_message(
        as_command,
        short_message=reply.text,
        source=request_message.destination,
        destination=request_message.source,
        service_type=dialect.service_type,
        encoding=encoding_for(reply.text, dialect),
    )
    return message, UssdTlvs(op, session_info, request_ussd.user_message_reference)


def dial_message(
    msisdn: str,
    text: str,
    session: DialogueIds,
    dialect: Dialect,
    as_command: RequestCommand,
    is_begin: bool,
    is_abort: bool = False,
    service_address: str = "",
) -> tuple[SubmitSm | DeliverSm, UssdTlvs]:
    """What a USSD centre sends for a subscriber: a dialed code, a reply or an abort.

    Op 1 (PSSR indication) begins (no op when the dialect sends its first request
    without one, or signals with its_session_info alone), op 18 (USSR confirm) replies,
    op 17 and/or the end bit aborts. ``service_address`` is the destination_addr
    (the code itself when the dialect puts the code there).
    """
    op: int | None
    if is_abort:
        op = UssdServiceOp.PSSR_RESPONSE
    elif is_begin:
        op = UssdServiceOp.PSSR_INDICATION
    else:
        op = UssdServiceOp.USSR_CONFIRM
    if dialect.end_signal == "its_session_info" and session_info_used(dialect):
        op = None
    if is_begin and dialect.first_request_without_op:
        op = None
    session_info = None
    if session_info_used(dialect):
        session_info = its_session_info(session.session_number, session.sequence,
                                        is_abort and dialect.end_signal != "service_op")
    reference = (
        session.user_message_reference
        if dialect.session_id == "user_message_reference"
        else None
    )
    destination = service_address
    if is_begin and dialect.code_field == "destination_addr":
        destination = text
    message = _new_message(
        as_command,
        short_message=text,
        source=PhoneNumber(msisdn, TON(dialect.source_ton), NPI(dialect.source_npi)),
        destination=PhoneNumber(destination),
        service_type=dialect.service_type,
        encoding=encoding_for(text, dialect),
    )
    return message, UssdTlvs(op, session_info, reference)


def session_info_used(dialect: Dialect) -> bool:
    """Whether a centre of this dialect stamps its_session_info on its requests."""
    return dialect.session_id == "its_session_info" or dialect.end_signal != "service_op"
