"""USSD values that cross the boundary between the SMPP layer and the gateway.

The SMPP layer turns PDUs into :class:`UssdRequest` and :class:`UssdReply` into PDUs,
per dialect; the gateway only ever sees these frozen values.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class UssdServiceOp(IntEnum):
    """``ussd_service_op`` TLV (0x0501) values, SMPP 3.4 section 5.3.2.44."""

    PSSD_INDICATION = 0
    PSSR_INDICATION = 1
    USSR_REQUEST = 2
    USSN_REQUEST = 3
    PSSD_RESPONSE = 16
    PSSR_RESPONSE = 17
    USSR_CONFIRM = 18
    USSN_CONFIRM = 19


@dataclass(frozen=True, slots=True)
class UssdRequest:
    """One dialogue unit from a subscriber, as the USSD centre delivered it.

    ``msisdn`` is the source address exactly as received (not yet normalised);
    ``text`` is what the subscriber dialed (``*111*25#``) or typed as a reply (``1``);
    ``session_key`` identifies the dialogue across requests (built per dialect);
    ``is_begin`` is true when this request opens a new dialogue (a dialed code);
    ``is_abort`` is true when the centre signals that the subscriber cancelled.
    """

    connection: str
    msisdn: str
    text: str
    session_key: str
    is_begin: bool
    is_abort: bool = False
    service_op: int | None = None


@dataclass(frozen=True, slots=True)
class UssdReply:
    """One screen for the subscriber; ``final`` ends the dialogue."""

    text: str
    final: bool


class UssdHandler(Protocol):
    """What the SMPP layer calls for every USSD request; the gateway implements it."""

    def __call__(self, request: UssdRequest) -> Awaitable[UssdReply | None]: ...
