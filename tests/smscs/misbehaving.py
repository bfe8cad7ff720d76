"""SMSCs that break one rule each, for the ESME client's robustness tests."""

from __future__ import annotations

import asyncio
import socket
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


class StopsReading(ScriptedSmsc):
    """On its first link, stops reading at the first submit_sm but keeps sending
    enquire_link, so only a write timeout can tell the link is useless."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = asyncio.Event()
        self._release = asyncio.Event()

    async def after_bind(self, connection: SmscConnection) -> None:
        if self.binds == 1:
            sock = connection.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self._spawn_chatter(connection)

    def _spawn_chatter(self, connection: SmscConnection) -> None:
        async def chatter() -> None:
            while not connection.closed.is_set():
                connection.send(pdus.pack(pdus.ENQUIRE_LINK, connection.next_sequence()))
                await asyncio.sleep(0.05)

        task = asyncio.ensure_future(chatter())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_request(self, connection: SmscConnection, command_id: int, sequence: int,
                         pdu: bytes) -> bytes | None:
        if command_id == pdus.SUBMIT_SM and self.binds == 1:
            self.stuck.set()
            await self._release.wait()  # the read loop of this link is stuck here
        return await super().on_request(connection, command_id, sequence, pdu)

    async def stop(self) -> None:
        self._release.set()
        await super().stop()


class ForgetsFirstSubmit(ScriptedSmsc):
    """Never answers the first submit_sm; answers everything else, enquire_link included."""

    def __init__(self) -> None:
        super().__init__()
        self.forgotten = 0

    async def on_request(self, connection: SmscConnection, command_id: int, sequence: int,
                         pdu: bytes) -> bytes | None:
        if command_id == pdus.SUBMIT_SM and self.forgotten == 0:
            self.forgotten += 1
            return None
        return await super().on_request(connection, command_id, sequence, pdu)


class RefusesSms(ScriptedSmsc):
    """Answers every submit_sm that is an SMS (not a USSD screen) with ``status``."""

    def __init__(self, status: int, *, system_id: str = "gateway",
                 password: str = "secret") -> None:
        super().__init__(system_id, password)
        self.status = status

    def submit_status(self, message: pdus.ShortMessage) -> int:
        if pdus.TAG_USSD_SERVICE_OP in message.tlvs or pdus.TAG_ITS_SESSION_INFO in message.tlvs:
            return pdus.ESME_ROK
        return self.status
