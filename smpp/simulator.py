"""A USSD centre / SMSC with virtual handsets, for testers, tests and benchmarks.

By default it listens and the gateway binds to it as an ESME (the gateway's ``esme``
mode); with ``connect=(host, port)`` it binds as an ESME to a gateway in ``smsc`` mode.
Both ways it speaks the configured :class:`~smpp.dialect.Dialect`:

- a dialed code goes out with op 1 (PSSR indication), each reply with op 18 (USSR
  confirm), a cancel with op 17 and/or the its_session_info end bit, all built by
  ``smpp.dialect.dial_message``; listening they go as deliver_sm, connected as the
  dialect's ``request_command``. Every dialogue gets its own session number and
  user_message_reference; the sequence in its_session_info counts the handset's units.
- a screen is an answer addressed to a handset in a dialogue that carries
  ussd_service_op, its_session_info or the dialect's service_type; it is final on op
  16/17 or the end bit. A screen whose session number or reference is not the
  dialogue's fails the dial: the gateway mixed up sessions.
- anything else addressed to a handset is an SMS for its inbox, acknowledged with a
  message id; listening, a delivery receipt follows when ``registered_delivery`` asks
  for one (``id:... stat:DELIVRD ...`` with receipted_message_id and message_state).

The link itself (framing, windows, enquire_link, unbind) is :class:`smpp.peer.Peer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aiosmpplib import (
    BindTransceiver,
    DeliverSmResp,
    PhoneNumber,
    SmppCommand,
    SmppCommandStatus,
    SubmitSmResp,
)
from aiosmpplib.protocol import MESSAGE_TYPE_MAP
from aiosmpplib.state import MESSAGE_STATE, RECEIPTED_MESSAGE_ID, OptionalParam

from smpp.codec import DataSmResp, DecodedPdu, PduError
from smpp.codec import DeliverSm as LenientDeliverSm
from smpp.control import ControlServer, DialResult, InboxSms, Screen, SimulatorError
from smpp.dialect import Dialect, DialogueIds, dial_message, message_text, session_info_used
from smpp.peer import LinkClosed, Peer, PeerSettings, ResponseTimeout
from smpp.states import Role, SessionState
from smpp.tlv import UssdTlvs
from smpp.ussd import UssdServiceOp

__all__ = [
    "DialResult",
    "DialTimeout",
    "InboxSms",
    "NotBound",
    "Screen",
    "Simulator",
    "SimulatorError",
    "SimulatorSettings",
]

log = logging.getLogger(__name__)
C = SmppCommand
Status = SmppCommandStatus

_BINDS = frozenset({C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER})
_SHORT_MESSAGES = frozenset({C.SUBMIT_SM, C.DELIVER_SM, C.DATA_SM})
_FINAL_OPS = frozenset({UssdServiceOp.PSSD_RESPONSE, UssdServiceOp.PSSR_RESPONSE})
_CAN_RECEIVE = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})
_MESSAGE_STATE_DELIVERED = 2
_THROTTLE_PAUSE = 0.05
_EARLIER_KEPT = 8  # earlier dialogues per handset whose late screens are recognised


class DialTimeout(SimulatorError):
    """The gateway did not answer a handset in time."""


class NotBound(SimulatorError):
    """No gateway link to send a handset's request on."""


@dataclass(frozen=True, kw_only=True)
class SimulatorSettings:
    system_id: str
    password: str = field(repr=False)
    dialect: Dialect
    host: str = "127.0.0.1"
    port: int = 0  # 0: an ephemeral port, see Simulator.port
    control_host: str = "127.0.0.1"
    control_port: int = 0
    connect: tuple[str, int] | None = None  # bind to a gateway's SMSC role instead
    delivery_receipts: bool = True
    screen_timeout: float = 10.0  # how long a link request may wait for its response
    service_address: str = ""  # destination_addr of requests (the USSD service's address)
    receipt_delay: float = 0.2  # a real SMSC reports delivery later, never before the resp


@dataclass
class _Dialogue:
    msisdn: str
    ids: DialogueIds
    screens: asyncio.Queue[Screen | SimulatorError] = field(default_factory=asyncio.Queue)
    ended: bool = False


class Simulator:
    """Virtual handsets behind a simulated USSD centre / SMSC."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.port = 0
        self.control_port = 0
        self.stray_screens = 0  # screens for a handset with no dialogue open
        self.refused_binds = 0
        self._peers: list[Peer] = []
        self._dialogues: dict[str, _Dialogue] = {}
        # the ids of each handset's earlier dialogues: a late screen for one of them is stray
        self._earlier: defaultdict[str, deque[DialogueIds]] = defaultdict(
            lambda: deque(maxlen=_EARLIER_KEPT))
        self._inboxes: defaultdict[str, list[InboxSms]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self._session_numbers = itertools.count(1)
        self._references = itertools.count(1)
        self._message_ids = itertools.count(1)
        # ids stay unique across simulator restarts, as a gateway's outbox keys on them
        self._id_prefix = f"{secrets.randbelow(1 << 16):04x}"
        self._server: asyncio.Server | None = None
        self._control = ControlServer(self)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        if s.connect is None:
            self._server = await asyncio.start_server(self._accept, s.host, s.port)
            self.port = int(self._server.sockets[0].getsockname()[1])
        else:
            self._spawn(self._connect_forever(*s.connect))
        try:
            self.control_port = await self._control.start(s.control_host, s.control_port)
        except OSError:
            await self.stop()  # e.g. the control port is taken: release the SMPP side too
            raise

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        await self._control.stop()
        if self._server is not None:
            self._server.close()
        for peer in list(self._peers):
            with contextlib.suppress(Exception):
                await peer.unbind(response_timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def is_bound(self) -> bool:
        return self._request_peer() is not None

    async def wait_bound(self, timeout: float) -> bool:  # noqa: ASYNC109 (pinned API)
        with contextlib.suppress(TimeoutError):
            await self._wait_until(lambda: self.is_bound, timeout)
        return self.is_bound

    # --- handsets -----------------------------------------------------------------------

    async def dial(
        self,
        msisdn: str,
        code: str,
        replies: Sequence[str] = (),
        timeout: float = 5.0,  # noqa: ASYNC109 (per screen)
        *,
        sms_wait: float = 0.0,
    ) -> DialResult:
        """Dial ``code``, answer each screen with the next reply, hang up at the end.

        ``sms`` holds the SMS that arrived during the dialogue, or, when none did, the
        first ones within ``sms_wait`` seconds after it. Raises DialTimeout when the
        gateway does not answer a screen within ``timeout`` seconds.
        """
        before = len(self._inboxes[msisdn])
        screen = await self.begin(msisdn, code, timeout)
        screens = [screen.text]
        for text in replies:
            if screen.final:
                break
            screen = await self.reply(msisdn, text, timeout)
            screens.append(screen.text)
        if not screen.final:
            await self.cancel(msisdn)
        if sms_wait > 0:
            with contextlib.suppress(TimeoutError):
                await self._wait_until(lambda: len(self._inboxes[msisdn]) > before, sms_wait)
        return DialResult(screens, screen.final, list(self._inboxes[msisdn][before:]))

    async def begin(self, msisdn: str, code: str, timeout: float = 5.0) -> Screen:  # noqa: ASYNC109
        """Dial ``code`` (hanging up any dialogue still open) and return the first screen."""
        await self.cancel(msisdn)
        ids = DialogueIds(
            session_number=next(self._session_numbers) % 256,
            sequence=0,
            user_message_reference=next(self._references) % 65536,
        )
        dialogue = _Dialogue(msisdn, ids)
        earlier = self._dialogues.get(msisdn)
        if earlier is not None:
            self._earlier[msisdn].append(earlier.ids)
        self._dialogues[msisdn] = dialogue
        return await self._exchange(dialogue, code, timeout, is_begin=True)

    async def reply(self, msisdn: str, text: str, timeout: float = 5.0) -> Screen:  # noqa: ASYNC109
        """Answer the open dialogue's screen with ``text``; return the next screen."""
        dialogue = self._dialogues.get(msisdn)
        if dialogue is None or dialogue.ended:
            raise SimulatorError(f"{msisdn} has no dialogue open: dial a code first")
        dialogue.ids = replace(dialogue.ids, sequence=(dialogue.ids.sequence + 1) % 128)
        return await self._exchange(dialogue, text, timeout, is_begin=False)

    async def cancel(self, msisdn: str) -> None:
        """Hang up: the centre tells the gateway the subscriber left (best effort)."""
        dialogue = self._dialogues.get(msisdn)
        if dialogue is None or dialogue.ended:
            return
        dialogue.ended = True
        dialogue.ids = replace(dialogue.ids, sequence=(dialogue.ids.sequence + 1) % 128)
        with contextlib.suppress(SimulatorError):
            await self._send_request(dialogue, "", is_begin=False, is_abort=True)

    def inbox(self, msisdn: str) -> list[InboxSms]:
        return list(self._inboxes.get(msisdn, []))

    async def wait_for_sms(self, msisdn: str, count: int, timeout: float) -> list[InboxSms]:  # noqa: ASYNC109
        """The inbox once it holds at least ``count`` SMS; SimulatorError after timeout."""
        try:
            await self._wait_until(lambda: len(self._inboxes[msisdn]) >= count, timeout)
        except TimeoutError:
            have = len(self._inboxes[msisdn])
            raise SimulatorError(
                f"{msisdn} received {have} of {count} SMS within {timeout:g} s"
            ) from None
        return self.inbox(msisdn)

    # --- one request and its screen -----------------------------------------------------

    async def _exchange(self, dialogue: _Dialogue, text: str, wait: float,
                        is_begin: bool) -> Screen:
        await self._send_request(dialogue, text, is_begin=is_begin)
        try:
            item = await asyncio.wait_for(dialogue.screens.get(), wait)
        except TimeoutError:
            await self.cancel(dialogue.msisdn)
            raise DialTimeout(
                f"no answer from the gateway to {text!r} from {dialogue.msisdn} "
                f"within {wait:g} s"
            ) from None
        if isinstance(item, SimulatorError):
            await self.cancel(dialogue.msisdn)
            raise item
        if item.final:
            dialogue.ended = True
        return item

    async def _send_request(self, dialogue: _Dialogue, text: str, *, is_begin: bool,
                            is_abort: bool = False) -> None:
        command = self.settings.dialect.request_command if self._connected else "deliver_sm"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.screen_timeout
        while True:
            peer = self._request_peer()
            if peer is None:
                raise NotBound("no gateway is bound to the simulator")
            message, ussd = dial_message(
                dialogue.msisdn, text, dialogue.ids, self.settings.dialect, command,
                is_begin=is_begin, is_abort=is_abort,
                service_address=self.settings.service_address,
            )
            try:
                response = await peer.request(message, ussd)
            except (LinkClosed, ResponseTimeout, PduError) as error:
                raise SimulatorError(f"the gateway link failed: {error}") from None
            status = response.header.command_status
            if status == Status.ESME_RTHROTTLED and loop.time() < deadline:
                await asyncio.sleep(_THROTTLE_PAUSE)
                continue
            if status != Status.ESME_ROK:
                raise SimulatorError(f"the gateway refused the request: {_status_name(status)}")
            return

    def _request_peer(self) -> Peer | None:
        for peer in reversed(self._peers):
            if peer.is_closed:
                continue
            if self.settings.connect is not None and peer.is_bound:
                return peer
            if peer.state in _CAN_RECEIVE:
                return peer
        return None

    # --- what the gateway sends -----------------------------------------------------------

    async def _on_request(self, peer: Peer, decoded: DecodedPdu) -> object:
        command = decoded.header.command_id
        if command in _BINDS:
            return self._answer_bind(peer, decoded)
        if command in _SHORT_MESSAGES and decoded.message is not None:
            return self._on_short_message(peer, decoded)
        return int(Status.ESME_RINVCMDID)

    def _answer_bind(self, peer: Peer, decoded: DecodedPdu) -> object:
        bind = decoded.message
        if self.settings.connect is not None or bind is None:
            return int(Status.ESME_RINVBNDSTS)
        if bind.system_id != self.settings.system_id:
            self.refused_binds += 1
            return int(Status.ESME_RINVSYSID)
        if bind.password != self.settings.password:
            self.refused_binds += 1
            return int(Status.ESME_RINVPASWD)
        peer.bound_system_id = bind.system_id
        response_class = MESSAGE_TYPE_MAP[SmppCommand(decoded.header.command_id | 0x80000000)]
        self._spawn(self._notify())  # runs once the peer has marked itself bound
        return response_class(system_id="ussdsim")

    def _on_short_message(self, peer: Peer, decoded: DecodedPdu) -> object:
        message = decoded.message
        assert message is not None
        msisdn = message.destination.number
        dialogue = self._dialogues.get(msisdn)
        message_id = f"{self._id_prefix}{next(self._message_ids):06x}"
        if self._is_screen(message, decoded.ussd):
            if dialogue is None or dialogue.ended:
                self.stray_screens += 1
                log.info("a screen for %s, who has no dialogue open", msisdn)
            elif self._for_earlier_dialogue(dialogue, decoded.ussd):
                self.stray_screens += 1
                log.info("a late screen for an earlier dialogue of %s", msisdn)
            else:
                dialogue.screens.put_nowait(self._screen(dialogue, message, decoded.ussd))
        else:
            sms = InboxSms(sender=message.source.number, text=message_text(message))
            self._inboxes[msisdn].append(sms)
            self._spawn(self._notify())
            wants_receipt = message.registered_delivery & 0x03 == 1
            if wants_receipt and self.settings.delivery_receipts and not self._connected:
                self._spawn(self._send_receipt(message, message_id, sms))
        command = decoded.header.command_id
        if command == C.DELIVER_SM:
            return DeliverSmResp()
        if command == C.DATA_SM:
            return DataSmResp(message_id=message_id)
        return SubmitSmResp(message_id=message_id)

    def _for_earlier_dialogue(self, dialogue: _Dialogue, ussd: UssdTlvs) -> bool:
        """A screen carrying an earlier dialogue's id, not the open one's (ids wrap, so
        the open dialogue may share a number with a much older one: it wins)."""
        dialect = self.settings.dialect
        by_session = session_info_used(dialect) and ussd.session_number is not None
        by_reference = (dialect.session_id == "user_message_reference"
                        and ussd.user_message_reference is not None)
        if by_session and ussd.session_number == dialogue.ids.session_number:
            return False
        if by_reference and ussd.user_message_reference == dialogue.ids.user_message_reference:
            return False
        for ids in self._earlier.get(dialogue.msisdn, ()):
            if by_session and ussd.session_number == ids.session_number:
                return True
            if by_reference and ussd.user_message_reference == ids.user_message_reference:
                return True
        return False

    def _is_screen(self, message: Any, ussd: UssdTlvs) -> bool:
        if ussd.service_op is not None or ussd.its_session_info is not None:
            return True
        service_type = self.settings.dialect.service_type
        return bool(service_type) and str(message.service_type).upper() == service_type.upper()

    def _screen(self, dialogue: _Dialogue, message: Any,
                ussd: UssdTlvs) -> Screen | SimulatorError:
        dialect = self.settings.dialect
        ids = dialogue.ids
        if (
            session_info_used(dialect)
            and ussd.session_number is not None
            and ussd.session_number != ids.session_number
        ):
            return SimulatorError(
                f"the gateway answered {dialogue.msisdn} with session {ussd.session_number}, "
                f"not {ids.session_number}"
            )
        reference = ussd.user_message_reference
        if (
            dialect.session_id == "user_message_reference"
            and reference is not None
            and reference != ids.user_message_reference
        ):
            return SimulatorError(
                f"the gateway answered {dialogue.msisdn} with reference {reference}, "
                f"not {ids.user_message_reference}"
            )
        final = ussd.service_op in _FINAL_OPS or ussd.end_of_session
        return Screen(message_text(message), final)

    async def _send_receipt(self, message: Any, message_id: str, sms: InboxSms) -> None:
        await asyncio.sleep(self.settings.receipt_delay)
        peer = self._request_peer()
        if peer is None:
            return
        now = datetime.now()
        text = sms.text[:20] if sms.text.isascii() else ""
        receipt_text = LenientDeliverSm.encode_receipt({
            "id": message_id, "sub": 1, "dlvrd": 1, "submit date": now, "done date": now,
            "stat": "DELIVRD", "err": 0, "text": text,
        })
        source = message.destination
        destination = message.source
        receipt = LenientDeliverSm(
            short_message=receipt_text,
            source=PhoneNumber(source.number, source.ton, source.npi),
            destination=PhoneNumber(destination.number, destination.ton, destination.npi),
            esm_class=0x04,
            registered_delivery=0,
            optional_params=[
                OptionalParam(RECEIPTED_MESSAGE_ID, message_id),
                OptionalParam(MESSAGE_STATE, _MESSAGE_STATE_DELIVERED),
            ],
        )
        try:
            await peer.request(receipt)
        except (LinkClosed, ResponseTimeout, PduError) as error:
            log.info("could not send the receipt for %s: %s", message_id, error)

    # --- links ----------------------------------------------------------------------------

    @property
    def _connected(self) -> bool:
        return self.settings.connect is not None

    def _peer_settings(self, name: str, role: Role) -> PeerSettings:
        return PeerSettings(name=name, role=role, response_timeout=self.settings.screen_timeout)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer, self._peer_settings("simulator", Role.SMSC), self._on_request)
        peer.start()
        await self._run_peer(peer)

    async def _run_peer(self, peer: Peer) -> None:
        """Keep a started peer in the list until its link closes."""
        self._peers.append(peer)
        try:
            await peer.wait_closed()
        finally:
            self._peers.remove(peer)
            await self._notify()

    async def _connect_forever(self, host: str, port: int) -> None:
        delay = 0.1
        while not self._stopping:
            peer = await self._connect_once(host, port)
            if peer is not None:
                delay = 0.1
                await self._notify()
                await self._run_peer(peer)
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _connect_once(self, host: str, port: int) -> Peer | None:
        s = self.settings
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            log.info("cannot reach the gateway at %s:%s: %s", host, port, error)
            return None
        peer = Peer(reader, writer, self._peer_settings("simulator", Role.ESME), self._on_request)
        peer.start()
        try:
            response = await peer.request(BindTransceiver(system_id=s.system_id,
                                                          password=s.password))
        except (LinkClosed, ResponseTimeout, PduError) as error:
            log.info("bind to the gateway failed: %s", error)
            await peer.close("bind failed")
            return None
        status = response.header.command_status
        if status != Status.ESME_ROK:
            log.warning("the gateway refused the bind: %s", _status_name(status))
            await peer.close("bind refused")
            return None
        return peer

    # --- plumbing -------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait_until(self, predicate: Callable[[], bool], within: float) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)


def _status_name(status: int) -> str:
    try:
        return f"{Status(status).name} (0x{status:02x})"
    except ValueError:
        return f"0x{status:08x}"
