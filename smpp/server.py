"""The gateway's SMSC role: a USSD centre binds to us as an ESME and sends USSD requests.

::

    server = SmscServer(SmscSettings(name="ussdc", system_id="ussdc", password="..."),
                        handler)                      # handler: smpp.ussd.UssdHandler
    await server.start()                              # server.port is the bound port
    ...
    await server.stop()                               # unbind every session, then close

Binds are accepted only from ``settings.allow`` networks with the configured system_id
and password (ESME_RINVSYSID / ESME_RINVPASWD / ESME_RBINDFAIL otherwise; the link then
closes). Each refused bind from one address delays the next answer to that address
(doubling from ``bind_failure_delay`` up to ``bind_failure_delay_max``).

A USSD request (submit_sm by default; deliver_sm and data_sm are read the same way) is
answered with its ``_resp`` once the handler has decided, and the screen goes back as a
deliver_sm on that session (or, for a transmitter-only bind, on a receiver bind of the
same system_id) with the dialect's TLVs. The handler returning None means "no screen".
A handler that raises is answered ESME_RSYSERR, one that takes longer than
``handler_timeout`` ESME_RX_T_APPN; the link stays up either way. A request that is not
USSD is refused with ESME_RX_R_APPN (this gateway routes no SMS), a delivery receipt
acknowledged.

At most ``max_connections`` connections are open at once (more are dropped at accept,
counted in ``connections_refused``); one that has not bound after ``bind_timeout`` is
closed.

Counters (plain ints, for export): ``binds_ok``, ``binds_refused``, ``requests``,
``answers_sent``, ``answers_failed``, ``handler_errors``, ``connections_refused``,
``generic_nacks_sent`` and ``requests_throttled`` (properties summing every session's, live
and closed), ``screens_throttled`` (screens the peer answered ESME_RTHROTTLED),
``open_connections`` and ``bound_sessions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import aiosmpplib
from aiosmpplib import (
    BindReceiverResp,
    BindTransceiverResp,
    BindTransmitterResp,
    SmppCommandStatus,
    SubmitSmResp,
)

from smpp.codec import DEFAULT_MAX_PDU, DataSmResp, DecodedPdu
from smpp.dialect import PROFILES, Dialect, reply_message, request_from_message
from smpp.peer import Answer, Goodbye, LinkClosed, Peer, PeerSettings, ResponseTimeout
from smpp.redact import redact
from smpp.states import Role, SessionState
from smpp.ussd import UssdHandler, UssdReply, UssdRequest

log = logging.getLogger(__name__)
Status = SmppCommandStatus
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

SUBMIT_SM, DELIVER_SM, DATA_SM = 0x04, 0x05, 0x103
_BIND_RESPONSES: dict[int, Any] = {
    0x01: BindReceiverResp,
    0x02: BindTransmitterResp,
    0x09: BindTransceiverResp,
}
_RESPONSES: dict[int, Any] = {
    SUBMIT_SM: SubmitSmResp,
    DELIVER_SM: aiosmpplib.DeliverSmResp,
    DATA_SM: DataSmResp,
}
_MAX_TRACKED_ADDRESSES = 10_000
_RECEIVING = (SessionState.BOUND_RX, SessionState.BOUND_TRX)
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def networks(specs: Iterable[str]) -> tuple[Network, ...]:
    """Parse ``allow`` entries ("10.0.0.0/8", "192.0.2.7"); ValueError names the bad one."""
    parsed: list[Network] = []
    for spec in specs:
        try:
            parsed.append(ipaddress.ip_network(spec, strict=False))
        except ValueError:
            raise ValueError(f"allow: {spec!r} is not an address or network") from None
    return tuple(parsed)


@dataclass(frozen=True)
class SmscSettings:
    name: str
    system_id: str
    password: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port; SmscServer.port tells which
    allow: tuple[Network, ...] = _LOOPBACK
    dialect: Dialect = PROFILES["generic"]
    max_pdu: int = DEFAULT_MAX_PDU
    window: int = 10
    inbound_window: int = 100
    enquire_link_interval: float = 30.0
    dead_link_timeout: float = 10.0
    response_timeout: float = 10.0
    write_timeout: float = 30.0
    bind_timeout: float = 30.0
    handler_timeout: float = 20.0
    bind_failure_delay: float = 1.0
    bind_failure_delay_max: float = 30.0
    throttled_retries: int = 3
    max_connections: int = 64

    def __post_init__(self) -> None:
        checks = {
            "system_id": 0 < len(self.system_id) <= 15 and self.system_id.isascii(),
            "password": len(self.password) <= 8 and self.password.isascii(),
            "port": 0 <= self.port <= 65535,
            "bind_timeout": self.bind_timeout > 0,
            "handler_timeout": self.handler_timeout > 0,
            "bind_failure_delay": 0 <= self.bind_failure_delay <= self.bind_failure_delay_max,
            "throttled_retries": self.throttled_retries >= 0,
            "max_connections": self.max_connections >= 1,
        }
        bad = [key for key, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"smsc {self.name!r}: invalid {', '.join(bad)}")
        self.peer_settings()  # validates the rest

    def peer_settings(self) -> PeerSettings:
        return PeerSettings(
            name=self.name,
            role=Role.SMSC,
            max_pdu=self.max_pdu,
            window=self.window,
            inbound_window=self.inbound_window,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
            dead_link_timeout=self.dead_link_timeout,
            write_timeout=self.write_timeout,
        )


class SmscServer:
    def __init__(self, settings: SmscSettings, handler: UssdHandler) -> None:
        self.settings = settings
        self.handler = handler
        self.binds_ok = 0
        self.binds_refused = 0
        self.requests = 0
        self.answers_sent = 0
        self.answers_failed = 0
        self.handler_errors = 0
        self.connections_refused = 0
        self.bind_failures: dict[str, int] = {}  # remote address -> refused binds in a row
        self.last_close_reason = ""
        self.screens_throttled = 0
        self._closed_nacks = 0
        self._closed_throttled = 0
        self._peers: set[Peer] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._message_ids = itertools.count(1)
        self._port = settings.port
        # A graceful stop answers what it has taken in: requests in the handler, screens
        # not yet written. New requests meanwhile get ESME_RX_T_APPN (retry later).
        self._bind_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # address -> lock, users
        self._draining = False
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._screens: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return self._port

    @property
    def open_connections(self) -> int:
        return len(self._peers)

    @property
    def bound_sessions(self) -> int:
        return sum(1 for peer in self._peers if peer.is_bound)

    @property
    def generic_nacks_sent(self) -> int:
        return self._closed_nacks + sum(p.counters.generic_nacks_sent for p in self._peers)

    @property
    def requests_throttled(self) -> int:
        """Requests answered ESME_RTHROTTLED because a session's inbound window was full."""
        return self._closed_throttled + sum(p.counters.throttled for p in self._peers)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connected, self.settings.host, self.settings.port
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("%s: SMSC role listening on %s:%d", self.settings.name, self.settings.host,
                 self._port)

    async def stop(self) -> None:
        """Stop listening, answer what is in hand, unbind every session, close them all."""
        if self._server is not None:
            self._server.close()
        self._draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.settings.handler_timeout)
        if self._screens:
            await asyncio.wait(list(self._screens), timeout=self.settings.response_timeout)
        peers = list(self._peers)
        await asyncio.gather(
            *(peer.unbind(response_timeout=self.settings.response_timeout) for peer in peers),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), self.settings.write_timeout)
        log.info("%s: SMSC role stopped", self.settings.name)

    # --- connections ------------------------------------------------------------------

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._peers) >= self.settings.max_connections:
            # Unbound connections cost a task and a buffer each; a flood must not grow them.
            self.connections_refused += 1
            log.warning("%s: connection from %s refused: %d open", self.settings.name,
                        writer.get_extra_info("peername"), len(self._peers))
            writer.transport.abort()
            return
        peer = Peer(reader, writer, self.settings.peer_settings(), self._on_request)
        self._peers.add(peer)
        log.info("%s: connection from %s", self.settings.name, peer.remote_address)
        peer.start()
        self._spawn(self._watch(peer))

    async def _watch(self, peer: Peer) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(peer.wait_closed(), self.settings.bind_timeout)
            if not peer.is_closed and not peer.is_bound:
                await peer.close("no bind in time")
            await peer.wait_closed()
        finally:
            self._peers.discard(peer)
            self._closed_nacks += peer.counters.generic_nacks_sent
            self._closed_throttled += peer.counters.throttled
            self.last_close_reason = peer.close_reason

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _on_request(self, peer: Peer, decoded: DecodedPdu) -> Answer:
        command_id = decoded.header.command_id
        if command_id in _BIND_RESPONSES:
            return await self._bind(peer, decoded)
        if command_id in _RESPONSES:
            return await self._ussd_request(peer, decoded)
        return int(Status.ESME_RINVCMDID)

    # --- binds ------------------------------------------------------------------------

    def _allowed(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
        return any(ip in network for network in self.settings.allow)

    async def _bind(self, peer: Peer, decoded: DecodedPdu) -> Answer:
        # One bind at a time per address: parallel connections must not each get a
        # password guess inside one back-off delay.
        address = peer.remote_address
        lock, users = self._bind_locks.get(address, (asyncio.Lock(), 0))
        self._bind_locks[address] = (lock, users + 1)
        try:
            async with lock:
                return await self._check_bind(peer, decoded)
        finally:
            lock, users = self._bind_locks[address]
            if users == 1:
                del self._bind_locks[address]
            else:
                self._bind_locks[address] = (lock, users - 1)

    async def _check_bind(self, peer: Peer, decoded: DecodedPdu) -> Answer:
        message = decoded.message
        if message is None:
            return int(Status.ESME_RSYSERR)
        response = _BIND_RESPONSES[decoded.header.command_id]
        status = Status.ESME_ROK
        if not self._allowed(peer.remote_address):
            status = Status.ESME_RBINDFAIL
        elif not hmac.compare_digest(message.system_id.encode(),
                                     self.settings.system_id.encode()):
            status = Status.ESME_RINVSYSID
        elif not hmac.compare_digest(message.password.encode(),
                                     self.settings.password.encode()):
            status = Status.ESME_RINVPASWD
        if status == Status.ESME_ROK:
            self.bind_failures.pop(peer.remote_address, None)
            self.binds_ok += 1
            peer.bound_system_id = message.system_id
            log.info("%s: %s bound from %s", self.settings.name, message.system_id,
                     peer.remote_address)
            return response(system_id=self.settings.name[:15])
        failures = self.bind_failures.pop(peer.remote_address, 0) + 1
        if len(self.bind_failures) >= _MAX_TRACKED_ADDRESSES:
            del self.bind_failures[next(iter(self.bind_failures))]  # the longest quiet
        self.bind_failures[peer.remote_address] = failures
        self.binds_refused += 1
        log.warning("%s: bind refused (%s) for system_id %r from %s, %d in a row",
                    self.settings.name, status.name, message.system_id, peer.remote_address,
                    failures)
        delay = min(self.settings.bind_failure_delay * 2 ** (failures - 1),
                    self.settings.bind_failure_delay_max)
        await asyncio.sleep(delay)  # slows password guessing from one address
        return Goodbye(int(status), f"bind refused: {status.name}")

    # --- USSD -------------------------------------------------------------------------

    async def _ussd_request(self, peer: Peer, decoded: DecodedPdu) -> Answer:
        if self._draining:
            return int(Status.ESME_RX_T_APPN)
        self._in_hand += 1
        self._idle.clear()
        try:
            return await self._answer_ussd(peer, decoded)
        finally:
            self._in_hand -= 1
            if self._in_hand == 0:
                self._idle.set()

    async def _answer_ussd(self, peer: Peer, decoded: DecodedPdu) -> Answer:
        self.requests += 1
        command_id = decoded.header.command_id
        message = decoded.message
        request = request_from_message(self.settings.name, message, decoded.ussd,
                                       self.settings.dialect)
        if request is None:
            if isinstance(message, aiosmpplib.DeliverSm) and message.is_receipt():
                return _RESPONSES[command_id]()
            return int(Status.ESME_RX_R_APPN)
        try:
            reply = await asyncio.wait_for(self.handler(request),
                                           self.settings.handler_timeout)
        except TimeoutError:
            self.handler_errors += 1
            log.error("%s: handler took too long for %s", self.settings.name,
                      redact(request.session_key))
            return int(Status.ESME_RX_T_APPN)
        except Exception:
            self.handler_errors += 1
            log.exception("%s: handler failed for %s", self.settings.name,
                          redact(request.session_key))
            return int(Status.ESME_RSYSERR)
        if reply is not None and not request.is_abort:
            # Scheduled now, runs after this answer is written: the peer writes the _resp
            # before yielding, and its write lock is first come, first served.
            screen = self._spawn(self._send_screen(peer, decoded, request, reply))
            self._screens.add(screen)
            screen.add_done_callback(self._screens.discard)
        return _RESPONSES[command_id](message_id=f"{next(self._message_ids):x}")

    def _answer_route(self, peer: Peer) -> Peer | None:
        if peer.state in _RECEIVING:
            return peer
        for other in self._peers:
            if other.bound_system_id == peer.bound_system_id and other.state in _RECEIVING:
                return other
        return None

    async def _send_screen(
        self, peer: Peer, decoded: DecodedPdu, request: UssdRequest, reply: UssdReply
    ) -> None:
        message, ussd = reply_message(decoded.message, decoded.ussd, reply,
                                      self.settings.dialect, "deliver_sm")
        for attempt in range(self.settings.throttled_retries + 1):
            route = self._answer_route(peer)
            if route is None:
                break
            try:
                response = await route.request(message, ussd)
            except (LinkClosed, ResponseTimeout) as error:
                log.warning("%s: screen for %s not delivered: %s", self.settings.name,
                            redact(request.session_key), error)
                break
            status = response.header.command_status
            if status == Status.ESME_ROK:
                self.answers_sent += 1
                return
            if status != Status.ESME_RTHROTTLED:
                log.warning("%s: screen for %s refused with 0x%x", self.settings.name,
                            redact(request.session_key), status)
                break
            self.screens_throttled += 1
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        self.answers_failed += 1

