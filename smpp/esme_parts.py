"""aiosmpplib's ``ESME`` with narrow overrides, and the parts ``EsmeClient`` plugs into it.

aiosmpplib keeps the bind, the enquire_link keeper, sequence numbers, the broker queue and
the reconnect loop. It falls short in these places (aiosmpplib 0.7.4, file:line), each
overridden as narrowly as possible here (and in :mod:`smpp.client` where noted):

1. USSD TLVs are read as ASCII strings (protocol.py:593 via 496-502): a byte >= 0x80 in
   ussd_service_op / its_session_info makes ``from_pdu`` raise, the deliver_sm gets a
   generic_nack (esme.py:759) and the session is lost. ``_handle_request`` decodes
   deliver_sm with ``smpp.codec.decode_pdu`` (TLVs split off at byte level first); the
   hook re-reads them from the raw PDU; replies append them as raw bytes
   (``RawTlvSubmitSm.pdu``).
2. The hook runs inline in the read loop (esme.py:556) and deliver_sm_resp follows it
   (esme.py:568): every request is served in its own task so a slow handler never holds
   the link. A hook that raises anything but the few types ``_end_task`` swallows
   (esme.py:270) kills the reconnect loop for good, so the hook never raises.
3. A receipt whose text does not parse (esme.py:771, int()/strptime) raises out of the
   read loop; the SMSC redelivers it and the link flaps forever. A bad deliver_sm body gets
   generic_nack (esme.py:759), not deliver_sm_resp with a status, and an unsupported
   request a generic_nack saying ESME_ROK (esme.py:742). Receipts are parsed leniently
   here, bad bodies get deliver_sm_resp with the codec's status, unsupported requests
   generic_nack ESME_RINVCMDID.
4. ``_get_pdu`` trusts command_length (esme.py:314: a huge value waits for gigabytes, a
   value < 16 is a negative read) and maps an unknown command_id or command_status to
   ValueError (protocol.py:108-109) which drops the link. Framing goes through
   ``smpp.codec.parse_header`` with a size cap; an unknown request gets generic_nack.
5. The old socket is never closed after a failed bind or a lost link (esme.py:868/880
   only drop the reference; nothing closes it in the start loop, esme.py:953-960):
   ``connect`` and ``_receive_data`` close it.
6. No response timeout per request, no window, throttled submit_sm are only counted
   (esme.py:665): ``EsmeClient`` keeps a semaphore window, a deadline per submission and
   resends on ESME_RTHROTTLED / ESME_RMSGQFUL with backoff.
7. A message dequeued from the broker is lost if the link breaks before it is written
   (the sender task is cancelled inside ``_send_data``): ``Broker`` keeps it in hand
   and puts it back at the front on the next connect.
8. The retry timer resets on every successful bind (esme.py:943), so an SMSC that accepts
   the bind and drops at once is redialled in a hot loop; ``JitteredBackoff`` only resets
   after a link that stayed up, and adds jitter.
9. Logging: on a send failure the whole message, SMS text included, is logged
   (esme.py:513); ``ForwardingHandler`` keeps only the message line of aiosmpplib's
   records, never their key/value payload, so a password in an SMS never reaches a log.
10. ``SubmitSm.clone`` returns a plain SubmitSm (protocol.py:439) and the splitting branch
    uses an unbound variable (esme.py:465): we never let aiosmpplib split; long SMS go in
    ``message_payload``.
11. ``SimpleThrottleHandler`` (throttle.py:115-130) denies every request once 1 % of 50
    responses were throttled and only re-counts after ``sampling_period`` (180 s): one
    ESME_RTHROTTLED in a busy hour stalls all sending for minutes. ``GentleThrottle``
    pauses briefly (exponential, reset by the next accepted submit) instead.
12. ``SimpleCorrelator`` keeps every accepted submit_sm for receipts for 3 days and scans
    the whole store on every put (correlator.py:367, 459-476): memory and CPU grow with
    traffic. Receipts are matched by the gateway, so ``ResponseOnlyCorrelator`` keeps
    only request/response pairs.
13. ``_send_data`` asserts a writer (esme.py:404); after ``stop`` has dropped it a queued
    reply raised AssertionError, which killed the loop and made ``stop`` hang: it raises
    ConnectionResetError instead, and ``_run`` restarts a loop that died anyway.
14. Writes wait on ``drain()`` without a limit (esme.py:408): an SMSC that stops reading
    but keeps talking (so the keeper sees traffic) stalls every send forever. A write
    that cannot drain within ``response_timeout`` drops the link, which is redialled.
15. The keeper sends enquire_link only when nothing arrives (esme.py:333), so an SMSC that
    keeps talking but answers none of our requests (its reader stuck, our PDUs still
    fitting in the socket buffers) is never found out. When a sent request goes
    unanswered past its deadline, the link is probed with enquire_link; no answer to
    anything within ``response_timeout`` drops the link, which is redialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeAlias

from aiosmpplib import ESME
from aiosmpplib.broker import AbstractBroker
from aiosmpplib.correlator import SimpleCorrelator
from aiosmpplib.hook import AbstractHook
from aiosmpplib.protocol import (
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    SmppMessage,
    SubmitSm,
)
from aiosmpplib.retrytimer import AbstractRetryTimer
from aiosmpplib.state import (
    PduHeader,
    SmppCommand,
    SmppCommandStatus,
    SmppSessionState,
)
from aiosmpplib.throttle import AbstractThrottleHandler

from smpp.codec import HEADER_LENGTH, PduError, decode_pdu, parse_header
from smpp.codec import SubmitSm as LenientSubmitSm
from smpp.tlv import UssdTlvs, append_ussd_tlvs

if TYPE_CHECKING:
    from smpp.client import EsmeClient

# The same logger as the client's: one name for operators to configure.
log = logging.getLogger("smpp.client")

# Back-off after ESME_RTHROTTLED / ESME_RMSGQFUL: doubles from the minimum up to the maximum.
THROTTLE_BACKOFF_MIN = 0.1
THROTTLE_BACKOFF_MAX = 5.0



class LinkLost:
    """Marks a submission whose link went down before the SMSC answered."""


class Unsendable:
    """Marks a submission that could not be encoded: resending would fail the same way."""


LINK_LOST = LinkLost()
UNSENDABLE = Unsendable()
Outcome: TypeAlias = "SmppMessage | LinkLost | Unsendable"


@dataclass
class RawTlvSubmitSm(LenientSubmitSm):
    """A submit_sm whose USSD TLVs are appended as raw bytes (see shortfall 1)."""

    ussd_tlvs: UssdTlvs = field(default_factory=UssdTlvs)

    def pdu(self) -> bytes:
        return append_ussd_tlvs(super().pdu(), self.ussd_tlvs)


def with_raw_tlvs(message: SubmitSm, tlvs: UssdTlvs) -> RawTlvSubmitSm:
    values = {f.name: getattr(message, f.name) for f in fields(SubmitSm) if f.init}
    values["optional_params"] = list(message.optional_params or [])
    return RawTlvSubmitSm(**values, ussd_tlvs=tlvs)


class ForwardingHandler(logging.Handler):
    """Sends aiosmpplib's log lines to our logger without their key/value payload."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self._target = target

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().split(" >>> ", 1)[0]
        self._target.log(record.levelno, "%s", message)


class JitteredBackoff(AbstractRetryTimer):  # type: ignore[misc]
    """Exponential backoff with jitter that only resets after a link that stayed up."""

    def __init__(self, minimum: float, maximum: float, on_retry: Callable[[], None]) -> None:
        self._minimum = minimum
        self._maximum = maximum
        self._on_retry = on_retry
        self._attempt = 0
        self._bound_at: float | None = None

    def reset(self) -> None:
        self._bound_at = time.monotonic()

    def next_delay(self) -> float:
        return float(min(self._maximum, self._minimum * 2**self._attempt))

    async def wait(self) -> None:
        if self._bound_at is not None and time.monotonic() - self._bound_at >= self._maximum:
            self._attempt = 0
        self._bound_at = None
        ceiling = self.next_delay()
        self._attempt = min(self._attempt + 1, 32)
        self._on_retry()
        await asyncio.sleep(random.uniform(ceiling / 2, ceiling))


class GentleThrottle(AbstractThrottleHandler):  # type: ignore[misc]
    """After ESME_RTHROTTLED pause all sending briefly; the pause doubles while throttled."""

    def __init__(self) -> None:
        self._pause = THROTTLE_BACKOFF_MIN
        self._until = 0.0

    async def throttled(self) -> None:
        self._until = time.monotonic() + self._pause
        self._pause = min(self._pause * 2, THROTTLE_BACKOFF_MAX)

    async def not_throttled(self) -> None:
        self._pause = THROTTLE_BACKOFF_MIN

    async def allow_request(self) -> bool:
        return time.monotonic() >= self._until

    async def throttle_delay(self) -> float:
        return max(0.01, self._until - time.monotonic())


class ResponseOnlyCorrelator(SimpleCorrelator):  # type: ignore[misc]
    """Request/response correlation only; receipts are the gateway's business."""

    async def put_delivery(self, smsc_message_id: str, submit_sm: SubmitSm) -> None:
        return None

    async def get_delivery(self, receipt: DeliverSm) -> SubmitSm | None:
        return None


class Broker(AbstractBroker):  # type: ignore[misc]
    """Outgoing messages in two FIFO lanes, USSD screens before SMS (a handset is waiting on
    a screen, an SMS can wait milliseconds); remembers the one in hand so a lost link loses
    nothing."""

    def __init__(self, is_wanted: Callable[[SmppMessage], bool]) -> None:
        self._screens: deque[SmppMessage] = deque()
        self._items: deque[SmppMessage] = deque()
        self._nonempty = asyncio.Event()
        self._is_wanted = is_wanted
        self.in_hand: SmppMessage | None = None
        self._in_hand_is_screen = False

    async def enqueue(self, message: SmppMessage) -> None:
        self._items.append(message)
        self._nonempty.set()

    def enqueue_screen(self, message: SmppMessage) -> None:
        """Queue a USSD screen ahead of every SMS not yet sent."""
        self._screens.append(message)
        self._nonempty.set()

    async def dequeue(self) -> SmppMessage:
        while True:
            while not self._screens and not self._items:
                self._nonempty.clear()
                await self._nonempty.wait()
            is_screen = bool(self._screens)
            message = self._screens.popleft() if is_screen else self._items.popleft()
            if self._is_wanted(message):
                self.in_hand, self._in_hand_is_screen = message, is_screen
                return message

    def sent(self, message: SmppMessage) -> None:
        if message is self.in_hand:
            self.in_hand = None

    def requeue_in_hand(self) -> None:
        if self.in_hand is not None:
            (self._screens if self._in_hand_is_screen else self._items).appendleft(self.in_hand)
            self._nonempty.set()
            self.in_hand = None


class Hook(AbstractHook):  # type: ignore[misc]
    """Routes aiosmpplib's callbacks to the client; never raises (shortfall 2)."""

    def __init__(self, client: EsmeClient) -> None:
        self._client = client

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        with _logged("sending hook"):
            self._client._on_sending(smpp_message, client_id)

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        with _logged("received hook"):
            self._client._on_received(smpp_message, pdu, client_id)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        log.info("%s: could not send %s: %r", client_id, type(smpp_message).__name__, error)
        with _logged("send_error hook"):
            self._client._on_send_error(smpp_message, error)


@contextlib.contextmanager
def _logged(what: str) -> Any:
    try:
        yield
    except Exception:
        log.exception("unexpected error in %s", what)


class UssdEsme(ESME):  # type: ignore[misc]
    """aiosmpplib's ESME with the narrow overrides listed in the module docstring."""

    _writer: asyncio.StreamWriter | None

    def __init__(self, client: EsmeClient, max_pdu: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client = client
        self._max_pdu = max_pdu
        self._refused: set[int] = set()
        self.link_up = False  # between our bind and the read loop's end
        self.probing = False
        self._answered = asyncio.Event()  # set by any response to a request of ours

    def note_answer(self) -> None:
        self._answered.set()

    async def probe(self, within: float) -> bool:
        """Send enquire_link; True if the SMSC answers anything of ours ``within`` seconds."""
        self._answered.clear()
        try:
            async with asyncio.timeout(within):
                await self._send_data(EnquireLink())
                await self._answered.wait()
        except (OSError, TimeoutError):
            return False
        return True

    def drop_link(self) -> None:
        """Abort the TCP link; the read loop ends and the connection is redialled."""
        writer = self._writer
        if writer is not None:
            writer.transport.abort()

    async def connect(self) -> None:
        self._close_writer()
        self._client._before_connect(self)
        try:
            await super().connect()
        except BaseException:
            self._close_writer()
            raise
        self._client._on_bound(self)

    def _close_writer(self) -> None:
        writer: asyncio.StreamWriter | None = self._writer
        if writer is not None:
            writer.close()
            self._writer = None

    async def _get_pdu(self) -> tuple[bytes, PduHeader]:
        assert self._reader is not None
        while True:
            header_bytes = await self._reader.readexactly(HEADER_LENGTH)
            try:
                header = parse_header(header_bytes, self._max_pdu)
            except PduError as error:
                raise ValueError(f"unusable PDU header from SMSC: {error}") from error
            body = await self._reader.readexactly(header.length - HEADER_LENGTH)
            try:
                command = SmppCommand(header.command_id)
            except ValueError:
                if not self._bound.is_set():
                    raise ValueError(f"unknown command_id {header.command_id:#x}") from None
                log.warning("%s: unknown command_id %#x", self.client_id, header.command_id)
                if not header.command_id & 0x80000000:  # never answer a response
                    await self._nack(header.sequence_number)
                continue
            try:
                status = SmppCommandStatus(header.command_status)
            except ValueError:
                status = SmppCommandStatus.ESME_RUNKNOWNERR
            parsed = PduHeader(
                pdu_length=header.length,
                smpp_command=command,
                command_status=status,
                sequence_num=header.sequence_number,
            )
            return header_bytes + body, parsed

    async def _receive_data(self) -> bytes | None:
        writer: asyncio.StreamWriter | None = self._writer
        try:
            result: bytes | None = await super()._receive_data()
            return result
        finally:
            self._client._on_link_lost(self)
            if writer is not None:
                writer.close()

    async def _nack(self, sequence_number: int) -> None:
        nack = GenericNack(
            sequence_num=sequence_number, command_status=SmppCommandStatus.ESME_RINVCMDID
        )
        await self._send_data(nack)

    async def _handle_request(self, pdu: bytes, header: PduHeader) -> SmppMessage | None:
        if header.smpp_command in (SmppCommand.UNBIND, SmppCommand.ENQUIRE_LINK):
            return await super()._handle_request(pdu, header)
        if header.smpp_command != SmppCommand.DELIVER_SM:
            # upstream answers these with a generic_nack saying ESME_ROK (esme.py:742)
            await self._nack(header.sequence_num)
            return None
        # shortfalls 1 and 3: decode with the byte-exact codec, skip upstream's receipt parse
        try:
            message: SmppMessage | None = decode_pdu(pdu, self.default_encoding).message
        except PduError as error:
            log.warning("%s: refused a deliver_sm: %s", self.client_id, error.reason)
            response = DeliverSmResp(sequence_num=header.sequence_num,
                                     command_status=command_status(error.command_status))
            await self._send_data(response)
            return None
        return message

    async def _send_data(self, smpp_message: SmppMessage) -> None:
        if self._writer is None:
            # upstream asserts here (esme.py:404); an AssertionError would end its loop
            raise ConnectionResetError("not connected")
        if isinstance(smpp_message, DeliverSmResp) and smpp_message.sequence_num in self._refused:
            self._refused.discard(smpp_message.sequence_num)
            smpp_message.command_status = SmppCommandStatus.ESME_RTHROTTLED
        # shortfall 14: an SMSC that stopped reading would hold drain() forever
        # (a timeout scope, not wait_for: no extra task for every PDU written)
        async with asyncio.timeout(self.socket_timeout):
            await super()._send_data(smpp_message)

    def refuse(self, sequence_num: int) -> None:
        """Answer this deliver_sm with ESME_RTHROTTLED: the request window is full."""
        self._refused.add(sequence_num)

    @property
    def is_bound(self) -> bool:
        return bool(self._session_state == self.bind_mode.session_state)

    def reset_after_crash(self) -> None:
        """Make ``start`` callable again after an exception escaped its loop."""
        self._close_writer()
        self._bound.clear()
        self._session_state = SmppSessionState.CLOSED
        self.link_up = False


def command_status(value: int) -> SmppCommandStatus:
    try:
        return SmppCommandStatus(value)
    except ValueError:
        return SmppCommandStatus.ESME_RSYSERR


