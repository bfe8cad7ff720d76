"""Adapts an SMPP ESME connection to the SMS outbox's transport protocol."""

from __future__ import annotations

from smpp.client import EsmeClient

from . import services as svc

# The SMSC will never accept these for this message: bad destination/source, bad length...
PERMANENT_STATUSES = frozenset({0x01, 0x0A, 0x0B, 0x10, 0x48, 0x49, 0x50, 0x51})


class SmppSmsTransport:
    """What became of each SMS is counted by the outbox sender, from what this returns."""

    def __init__(self, client: EsmeClient) -> None:
        self._client = client

    async def submit_sms(self, destination: str, text: str) -> svc.SmsSubmitResult:
        result = await self._client.submit_sms(destination, text)
        if result.status == "accepted" and result.message_id is not None:
            return svc.SmsAccepted(message_id=result.message_id)
        if result.status == "throttled":
            return svc.SmsThrottled()
        if result.status == "failed" and result.command_status in PERMANENT_STATUSES:
            return svc.SmsPermanentFailure(reason=f"command_status=0x{result.command_status:02x}")
        return svc.SmsTemporaryFailure(reason=f"{result.status} command_status="
                                              f"{result.command_status}")
