"""SMSCs that break one rule each, for the ESME client's robustness tests."""

from __future__ import annotations

import struct

from tests.smscs import pdus
from tests.smscs.base import ScriptedSmsc, SmscConnection


class DropsOnFirstSubmit(ScriptedSmsc):
    """Drops the TCP link (no unbind, no response) when the first submit_sm arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    async def on_request(self, connection: SmscConnection, command_id: int, sequence: int,
                         pdu: bytes) -> bytes | None:
        if command_id == pdus.SUBMIT_SM and self.dropped == 0:
            self.dropped += 1
            connection.abort()
            return None
        return await super().on_request(connection, command_id, sequence, pdu)


class NeverAnswersEnquireLink(ScriptedSmsc):
    """Keeps the socket open but goes silent: enquire_link is never answered."""

    def on_enquire_link(self, sequence: int) -> bytes | None:
        return None


class Throttles(ScriptedSmsc):
    """Answers ``count`` submit_sm with ESME_RTHROTTLED, after accepting ``after`` first."""

    def __init__(self, count: int, after: int = 0) -> None:
        super().__init__()
        self.remaining = count
        self.accept_first = after
        self.throttled = 0

    def submit_status(self, message: pdus.ShortMessage) -> int:
        if self.accept_first > 0:
            self.accept_first -= 1
            return pdus.ESME_ROK
        if self.remaining > 0:
            self.remaining -= 1
            self.throttled += 1
            return pdus.ESME_RTHROTTLED
        return pdus.ESME_ROK


class SendsAfterBind(ScriptedSmsc):
    """Sends ``payload`` right after the first successful bind_resp, then behaves."""

    def __init__(self, payload: bytes) -> None:
        super().__init__()
        self.payload = payload

    async def after_bind(self, connection: SmscConnection) -> None:
        if self.binds == 1:
            connection.send(self.payload)


def huge_command_length() -> bytes:
    """A header claiming a 4 GiB PDU: a naive reader waits for it forever."""
    return struct.pack("!IIII", 0xFFFFFFF0, pdus.DELIVER_SM, 0, 7) + b"\x00" * 32


def short_command_length() -> bytes:
    return struct.pack("!IIII", 8, pdus.DELIVER_SM, 0, 7)


def unknown_command() -> bytes:
    return struct.pack("!IIII", 20, 0x00000777, 0, 7) + b"abcd"


class RefusesBinds(ScriptedSmsc):
    """Refuses the first ``count`` binds with ESME_RBINDFAIL, then accepts."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.remaining = count

    def bind_status(self, system_id: str, password: str) -> int:
        if self.remaining > 0:
            self.remaining -= 1
            return pdus.ESME_RBINDFAIL
        return super().bind_status(system_id, password)
