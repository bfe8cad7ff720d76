"""Adapts an SMPP ESME connection to the SMS outbox's transport protocol."""

from __future__ import annotations

from smpp.client import EsmeClient

from . import services as svc
from .metrics import Metrics


class SmppSmsTransport:
    def __init__(self, client: EsmeClient, metrics: Metrics) -> None:
        self._client = client
        self._metrics = metrics

    async def submit_sms(self, destination: str, text: str) -> svc.SmsSubmitResult:
        result = await self._client.submit_sms(destination, text)
        if result.status == "accepted":
            self._metrics.sms.labels("sent").inc()
            return svc.SmsAccepted(message_id=result.message_id)
        if result.status == "throttled":
            return svc.SmsThrottled()
        if result.status == "failed":
            self._metrics.sms.labels("rejected").inc()
            return svc.SmsFailed(reason=f"command_status={result.command_status}", permanent=False)
        return svc.SmsFailed(reason=result.status, permanent=False)
