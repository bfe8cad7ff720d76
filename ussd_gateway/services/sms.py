"""What the outbox needs from whatever carries SMS to the SMSC (the SMPP client, a test)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


@dataclass(frozen=True)
class SmsAccepted:
    message_id: str


@dataclass(frozen=True)
class SmsThrottled:
    """ESME_RTHROTTLED or a full window: try again later."""

    retry_after: timedelta | None = None


@dataclass(frozen=True)
class SmsTemporaryFailure:
    """Link down, timeout, ESME_RX_T_APPN, ESME_RSYSERR...: try again later."""

    reason: str


@dataclass(frozen=True)
class SmsPermanentFailure:
    """The SMSC refused this message for good (bad destination, ...)."""

    reason: str


SmsSubmitResult = SmsAccepted | SmsThrottled | SmsTemporaryFailure | SmsPermanentFailure


class SmsTransport(Protocol):
    async def submit_sms(self, destination: str, text: str) -> SmsSubmitResult:
        """Submit one SMS; returns once the SMSC answered (or it is known it will not)."""
        ...
