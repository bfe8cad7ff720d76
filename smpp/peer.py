"""One established SMPP connection over asyncio streams, either side (SMSC or ESME).

Used by :mod:`smpp.server` (SMSC role) and by the simulator (either role). The peer reads
and frames PDUs with a size cap, numbers and tracks the requests it sends, answers what
it receives, keeps the link alive and closes it when it is dead::

    peer = Peer(reader, writer, PeerSettings(name="ussdc", role=Role.ESME), on_request)
    peer.start()
    bind = await peer.request(BindTransceiver(system_id="gw", password="..."))
    if bind.header.command_status == 0: ...     # peer.state is now BOUND_TRX
    answer = await peer.request(submit_sm, ussd=UssdTlvs(service_op=1))
    await peer.unbind()                           # unbind, wait for unbind_resp, close
    await peer.wait_closed()

Inbound requests:
- enquire_link and unbind are answered here (unbind_resp, then the link closes);
- a request the session state does not allow (:mod:`smpp.states`) is answered here
  with the status the table gives, and never reaches the callback;
- everything else goes to ``on_request(peer, decoded)``, each in its own task (so a slow
  answer never stalls the reader; binds alone are awaited in order), at most
  ``settings.inbound_window`` at once: beyond that the request is answered
  ESME_RTHROTTLED. The callback returns the response
  message (its ``sequence_num`` is set here) or an ``int`` status for a body-less
  ``_resp``; optionally ``(message, UssdTlvs)``; or :class:`Goodbye` to close the link
  once that answer is written. An exception in the callback is
  logged and answered ESME_RSYSERR: it never reaches the peer, and the link stays up.
  When the callback returns a successful ``bind_*_resp`` the session becomes bound.
- an unknown command id: generic_nack ESME_RINVCMDID; a bad body: the command's
  ``_resp`` with the status from :class:`~smpp.codec.PduError`; an unusable header
  (command_length below 16 or above ``max_pdu``): generic_nack, then the link closes
  without reading (or allocating) the body.

Outbound requests (:meth:`Peer.request`) wait for a slot in a window of
``settings.window`` requests in flight, and return the decoded response (which may be a
generic_nack: check ``header.command_status``). They raise :class:`LinkClosed` when the
link goes, :class:`ResponseTimeout` after ``settings.response_timeout``, and PduError
(``remote=False``) when the session state does not allow the command.

Keep-alive: when nothing has arrived for ``settings.enquire_link_interval`` seconds an
enquire_link goes out; no answer within ``settings.dead_link_timeout`` closes the link.
A peer that stops reading is closed once a write has waited ``settings.write_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiosmpplib import EnquireLink, EnquireLinkResp, SmppCommandStatus, SmppMessage, Unbind

from smpp.codec import (
    DEFAULT_MAX_PDU,
    DecodedPdu,
    PduError,
    PduHeader,
    UssdTlvs,
    command_name,
    decode_pdu,
    encode_pdu,
    is_response,
    read_pdu,
)
from smpp.states import Role, SessionState, after_bind, check_inbound, may_send

log = logging.getLogger(__name__)
Status = SmppCommandStatus

GENERIC_NACK = 0x80000000
ENQUIRE_LINK = 0x00000015
UNBIND = 0x00000006
BIND_COMMANDS = frozenset({0x00000001, 0x00000002, 0x00000009})

# SmppMessage | tuple[SmppMessage, UssdTlvs] | int (a status) | Goodbye
Answer: TypeAlias = Any
RequestCallback: TypeAlias = Callable[["Peer", DecodedPdu], Awaitable[Answer]]


@dataclass(frozen=True)
class Goodbye:
    """An answer after which the link closes (e.g. a refused bind)."""

    answer: Answer
    reason: str


class LinkClosed(ConnectionError):
    """The connection closed before the answer came."""


class ResponseTimeout(TimeoutError):
    """The peer did not answer a request in time."""


@dataclass(frozen=True)
class PeerSettings:
    name: str
    role: Role
    max_pdu: int = DEFAULT_MAX_PDU
    window: int = 10
    inbound_window: int = 100
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    dead_link_timeout: float = 10.0
    write_timeout: float = 30.0
    default_encoding: str = "gsm0338"

    def __post_init__(self) -> None:
        numbers = {
            "max_pdu": self.max_pdu >= 16,
            "window": self.window >= 1,
            "inbound_window": self.inbound_window >= 1,
            "response_timeout": self.response_timeout > 0,
            "enquire_link_interval": self.enquire_link_interval > 0,
            "dead_link_timeout": self.dead_link_timeout > 0,
            "write_timeout": self.write_timeout > 0,
        }
        bad = [key for key, ok in numbers.items() if not ok]
        if bad:
            raise ValueError(f"peer {self.name!r}: invalid {', '.join(bad)}")


@dataclass
class PeerCounters:
    requests_received: int = 0
    requests_sent: int = 0
    generic_nacks_sent: int = 0
    errors_answered: int = 0
    throttled: int = 0
    enquire_links_sent: int = 0


def bare_response(command_id: int, status: int, sequence: int) -> bytes:
    """A body-less response PDU: the ``_resp`` of ``command_id`` (or generic_nack)."""
    response_id = GENERIC_NACK if command_id == GENERIC_NACK else command_id | GENERIC_NACK
    return struct.pack("!IIII", 16, response_id, status, sequence)


class Peer:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        settings: PeerSettings,
        on_request: RequestCallback | None = None,
    ) -> None:
        self.settings = settings
        self.state = SessionState.OPEN
        self.counters = PeerCounters()
        self.close_reason = ""
        self.bound_system_id = ""  # set by whoever accepts or makes the bind
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        peer_name = writer.get_extra_info("peername")
        self.remote_address: str = peer_name[0] if peer_name else ""
        self._sequence = itertools.count(1)
        self._pending: dict[int, asyncio.Future[DecodedPdu]] = {}
        self._window = asyncio.Semaphore(settings.window)
        self._inbound = 0
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader_task: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._last_received = asyncio.get_running_loop().time()

    def __repr__(self) -> str:
        return f"<Peer {self.settings.name} {self.remote_address} {self.state.value}>"

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start reading and keeping the link alive."""
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"{self}-read")
        self._keepalive_task = asyncio.create_task(self._keepalive(), name=f"{self}-alive")

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    @property
    def is_bound(self) -> bool:
        return self.state in (SessionState.BOUND_TX, SessionState.BOUND_RX,
                              SessionState.BOUND_TRX)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self, reason: str = "closed") -> None:
        """Close the connection now; requests still waiting get LinkClosed."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.close_reason = reason
        self.state = SessionState.CLOSED
        log.info("%s: link closed: %s", self.settings.name, reason)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LinkClosed(reason))
        self._pending.clear()
        current = asyncio.current_task()
        for task in [self._reader_task, self._keepalive_task, *self._tasks]:
            if task is not None and task is not current:
                task.cancel()
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), self.settings.write_timeout)
        except TimeoutError:
            # A peer that does not read keeps a closing transport (and its buffer) forever.
            self._writer.transport.abort()
        except (ConnectionError, OSError):
            pass  # the connection is gone either way

    async def unbind(self, response_timeout: float | None = None) -> None:
        """Say goodbye properly: unbind, wait (bounded) for unbind_resp, then close."""
        if self._closed.is_set():
            return
        if self.is_bound:
            with contextlib.suppress(LinkClosed, ResponseTimeout, PduError):
                await self.request(Unbind(), response_timeout=response_timeout)
        await self.close("unbound")

    # --- sending ----------------------------------------------------------------------

    async def request(
        self,
        message: SmppMessage,
        ussd: UssdTlvs | None = None,
        *,
        response_timeout: float | None = None,
    ) -> DecodedPdu:
        """Send a request and return the peer's decoded response."""
        command_id = int(message.smpp_command)
        async with self._window:
            if self._closed.is_set():
                raise LinkClosed(self.close_reason)
            if not may_send(self.settings.role, self.state, command_id):
                raise PduError(f"{self.state.value}: may not send {command_name(command_id)}",
                               Status.ESME_RINVBNDSTS, remote=False)
            sequence = self._next_sequence()
            message.sequence_num = sequence
            raw = encode_pdu(message, ussd)
            future: asyncio.Future[DecodedPdu] = asyncio.get_running_loop().create_future()
            self._pending[sequence] = future
            if command_id == UNBIND:
                self.state = SessionState.UNBOUND
            try:
                await self._send(raw)
                self.counters.requests_sent += 1
                wait = response_timeout or self.settings.response_timeout
                try:
                    response = await asyncio.wait_for(future, wait)
                except TimeoutError:
                    raise ResponseTimeout(
                        f"no answer to {command_name(command_id)} #{sequence} in {wait}s"
                    ) from None
            finally:
                self._pending.pop(sequence, None)
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: the caller got LinkClosed from _send
        return response

    def _next_sequence(self) -> int:
        while True:
            sequence = next(self._sequence)
            if sequence > 0x7FFFFFFF:
                self._sequence = itertools.count(1)
                continue
            if sequence not in self._pending:
                return sequence

    async def _send(self, raw: bytes) -> None:
        if self._closed.is_set():
            raise LinkClosed(self.close_reason)
        async with self._write_lock:
            try:
                self._writer.write(raw)
                await asyncio.wait_for(self._writer.drain(), self.settings.write_timeout)
            except TimeoutError:
                await self._close_soon("the peer stopped reading")
                raise LinkClosed("the peer stopped reading") from None
            except (ConnectionError, RuntimeError) as error:
                await self._close_soon(f"write failed: {error}")
                raise LinkClosed(str(error)) from None

    async def _close_soon(self, reason: str) -> None:
        # Closing waits for the writer; from inside the write lock do it in a task.
        task = asyncio.create_task(self.close(reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, raw: bytes) -> None:
        with contextlib.suppress(LinkClosed):
            await self._send(raw)

    # --- receiving --------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reason = "the peer closed the connection"
        try:
            while True:
                try:
                    raw = await read_pdu(self._reader, self.settings.max_pdu)
                except PduError as error:
                    self.counters.generic_nacks_sent += 1
                    await self._answer(bare_response(GENERIC_NACK, error.command_status,
                                                     error.sequence_number or 0))
                    reason = f"unusable header: {error.reason}"
                    return
                self._last_received = asyncio.get_running_loop().time()
                try:
                    await self._received(raw)
                except Exception:
                    # A bug of ours must not cost the link; the peer may see no answer.
                    log.exception("%s: failed on an inbound PDU", self.settings.name)
                if self.state is SessionState.UNBOUND and not self._pending:
                    reason = "unbound"
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            if not self._closed.is_set():
                await self.close(reason)

    async def _received(self, raw: bytes) -> None:
        try:
            decoded = decode_pdu(raw, self.settings.default_encoding)
        except PduError as error:
            await self._refuse(error)
            return
        header = decoded.header
        if is_response(header.command_id):
            future = self._pending.get(header.sequence_number)
            if future is not None and not future.done():
                request_id = header.command_id & ~GENERIC_NACK
                if request_id in BIND_COMMANDS and header.command_status == 0:
                    # Here, not in request(): the SMSC may deliver right behind bind_resp.
                    self.state = after_bind(request_id)
                future.set_result(decoded)
            elif header.command_id == GENERIC_NACK:
                log.warning("%s: generic_nack 0x%x for #%d", self.settings.name,
                            header.command_status, header.sequence_number)
            return
        self.counters.requests_received += 1
        try:
            check_inbound(self.settings.role, self.state, header.command_id,
                          header.sequence_number)
        except PduError as error:
            await self._refuse(error)
            return
        if header.command_id == ENQUIRE_LINK:
            reply = EnquireLinkResp(sequence_num=header.sequence_number)
            await self._answer(encode_pdu(reply))
            return
        if header.command_id == UNBIND:
            self.state = SessionState.UNBOUND
            await self._answer(bare_response(UNBIND, 0, header.sequence_number))
            return
        if self._inbound >= self.settings.inbound_window:
            self.counters.throttled += 1
            await self._answer(bare_response(header.command_id, Status.ESME_RTHROTTLED,
                                             header.sequence_number))
            return
        self._inbound += 1
        if header.command_id in BIND_COMMANDS:
            # Inline, so the session state it sets holds for the very next PDU (an ESME may
            # pipeline its first request behind the bind), and binds cannot be pipelined.
            await self._handle(decoded)
            return
        task = asyncio.create_task(self._handle(decoded))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refuse(self, error: PduError) -> None:
        if error.close_connection:
            self.counters.generic_nacks_sent += 1
            await self._answer(bare_response(GENERIC_NACK, error.command_status,
                                             error.sequence_number or 0))
            await self._close_soon(error.reason)
            return
        command_id = error.command_id
        if command_id is not None and is_response(command_id):
            # A response we cannot read: fail whoever waits for it; never answer a response.
            future = self._pending.get(error.sequence_number or 0)
            if future is not None and not future.done():
                future.set_exception(error)
            return
        log.info("%s: refused %s #%s: %s", self.settings.name,
                 command_name(command_id or 0), error.sequence_number, error.reason)
        if command_id is None or error.command_status == Status.ESME_RINVCMDID:
            self.counters.generic_nacks_sent += 1
            command_id = GENERIC_NACK
        else:
            self.counters.errors_answered += 1
        await self._answer(bare_response(command_id, error.command_status,
                                         error.sequence_number or 0))

    async def _handle(self, decoded: DecodedPdu) -> None:
        header = decoded.header
        try:
            answer = await self._call(decoded)
            goodbye = answer if isinstance(answer, Goodbye) else None
            raw = self._encode_answer(header, goodbye.answer if goodbye else answer)
            await self._answer(raw)
            if goodbye is not None:
                await self._close_soon(goodbye.reason)
        finally:
            self._inbound -= 1

    def _encode_answer(self, header: PduHeader, answer: Answer) -> bytes:
        if not isinstance(answer, int):
            message, ussd = answer if isinstance(answer, tuple) else (answer, None)
            try:
                message.sequence_num = header.sequence_number
                raw = encode_pdu(message, ussd)
            except (PduError, AttributeError, ValueError):
                log.exception("%s: cannot encode the answer to %s #%d", self.settings.name,
                              command_name(header.command_id), header.sequence_number)
                answer = int(Status.ESME_RSYSERR)
            else:
                if header.command_id in BIND_COMMANDS and message.command_status == 0:
                    self.state = after_bind(header.command_id)
                return raw
        if answer:
            self.counters.errors_answered += 1
        return bare_response(header.command_id, answer, header.sequence_number)

    async def _call(self, decoded: DecodedPdu) -> Answer:
        if self._on_request is None:
            return int(Status.ESME_RINVCMDID)
        try:
            return await self._on_request(self, decoded)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: request handler failed for %s #%d", self.settings.name,
                          command_name(decoded.header.command_id),
                          decoded.header.sequence_number)
            return int(Status.ESME_RSYSERR)

    # --- keep-alive -------------------------------------------------------------------

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.enquire_link_interval
        while not self._closed.is_set():
            idle = loop.time() - self._last_received
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            if not may_send(self.settings.role, self.state, ENQUIRE_LINK):
                await asyncio.sleep(interval)
                continue
            self.counters.enquire_links_sent += 1
            try:
                await self.request(EnquireLink(),
                                   response_timeout=self.settings.dead_link_timeout)
            except ResponseTimeout:
                await self._close_soon("dead link: no answer to enquire_link")
                return
            except (LinkClosed, PduError):
                return
            self._last_received = loop.time()

