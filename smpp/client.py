"""ESME role: the gateway binds out to a USSD centre / SMSC, on aiosmpplib's ``ESME``.

aiosmpplib keeps the bind, the enquire_link keeper, sequence numbers, the broker queue and
the reconnect loop. It falls short in these places (aiosmpplib 0.7.4, file:line), each
overridden as narrowly as possible here:

1. USSD TLVs are read as ASCII strings (protocol.py:593 via 496-502): a byte >= 0x80 in
   ussd_service_op / its_session_info makes ``from_pdu`` raise, the deliver_sm gets a
   generic_nack (esme.py:759) and the session is lost. ``_handle_request`` decodes
   deliver_sm with ``smpp.codec.decode_pdu`` (TLVs split off at byte level first); the
   hook re-reads them from the raw PDU; replies append them as raw bytes
   (``_RawTlvSubmitSm.pdu``).
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
   (the sender task is cancelled inside ``_send_data``): ``_Broker`` keeps it in hand
   and puts it back at the front on the next connect.
8. The retry timer resets on every successful bind (esme.py:943), so an SMSC that accepts
   the bind and drops at once is redialled in a hot loop; ``_JitteredBackoff`` only resets
   after a link that stayed up, and adds jitter.
9. Logging: on a send failure the whole message, SMS text included, is logged
   (esme.py:513); ``_ForwardingHandler`` keeps only the message line of aiosmpplib's
   records, never their key/value payload, so a password in an SMS never reaches a log.
10. ``SubmitSm.clone`` returns a plain SubmitSm (protocol.py:439) and the splitting branch
    uses an unbound variable (esme.py:465): we never let aiosmpplib split; long SMS go in
    ``message_payload``.
11. ``SimpleThrottleHandler`` (throttle.py:115-130) denies every request once 1 % of 50
    responses were throttled and only re-counts after ``sampling_period`` (180 s): one
    ESME_RTHROTTLED in a busy hour stalls all sending for minutes. ``_GentleThrottle``
    pauses briefly (exponential, reset by the next accepted submit) instead.
12. ``SimpleCorrelator`` keeps every accepted submit_sm for receipts for 3 days and scans
    the whole store on every put (correlator.py:367, 459-476): memory and CPU grow with
    traffic. Receipts are matched by the gateway, so ``_ResponseOnlyCorrelator`` keeps
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
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeAlias

from aiosmpplib import ESME, PhoneNumber
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
    SubmitSmResp,
)
from aiosmpplib.retrytimer import AbstractRetryTimer
from aiosmpplib.state import (
    NPI,
    RECEIPTED_MESSAGE_ID,
    TON,
    BindMode,
    PduHeader,
    SmppCommand,
    SmppCommandStatus,
    SmppSessionState,
)
from aiosmpplib.throttle import AbstractThrottleHandler
from aiosmpplib.utils import detect_format

from smpp.codec import DEFAULT_MAX_PDU, HEADER_LENGTH, PduError, decode_pdu, parse_header
from smpp.codec import SubmitSm as LenientSubmitSm
from smpp.dialect import Dialect, reply_message, request_from_message
from smpp.redact import redact
from smpp.tlv import UssdTlvs, append_ussd_tlvs, split_ussd_tlvs
from smpp.ussd import UssdHandler, UssdReply, UssdRequest

log = logging.getLogger(__name__)

BindModeName = Literal["transceiver", "transmitter_receiver"]
SubmissionStatus = Literal["accepted", "throttled", "failed", "not_bound", "timeout"]
ReceiptCallback = Callable[[str, str], Awaitable[None]]

# A USSD screen is pointless once the network's guard timer has fired (tens of seconds to
# a few minutes); until then a throttled or link-lost reply is resent.
USSD_REPLY_LIFETIME = 180.0
# Shown when the handler itself fails: the subscriber gets an ending, never a traceback.
HANDLER_FAILURE_TEXT = "Service temporarily unavailable. Please try again later."
_THROTTLE_BACKOFF_MIN = 0.1
_THROTTLE_BACKOFF_MAX = 5.0
_RETRYABLE_STATUSES = (SmppCommandStatus.ESME_RTHROTTLED, SmppCommandStatus.ESME_RMSGQFUL)
_SMS_GSM7_LIMIT = 160
_SMS_UCS2_LIMIT = 70


@dataclass(frozen=True, kw_only=True)
class EsmeSettings:
    """One outbound SMPP connection. ``password`` is never logged or shown in ``repr``."""

    name: str
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    dialect: Dialect
    system_type: str = ""
    address_range: str = ""
    bind_mode: BindModeName = "transceiver"
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    window: int = 50
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    sms_source: str = ""

    def __post_init__(self) -> None:
        limits = {"system_id": 15, "password": 8, "system_type": 12, "address_range": 40}
        for key, limit in limits.items():
            if len(getattr(self, key)) > limit:
                raise ValueError(f"{key}: at most {limit} characters (SMPP 3.4)")
        if self.bind_mode not in ("transceiver", "transmitter_receiver"):
            raise ValueError("bind_mode: must be 'transceiver' or 'transmitter_receiver'")
        if not 0 < self.port < 65536:
            raise ValueError("port: must be 1..65535")
        if self.window < 1:
            raise ValueError("window: must be at least 1")
        positive = ("enquire_link_interval", "response_timeout", "reconnect_min")
        for key in positive:
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be positive")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max: must not be below reconnect_min")


@dataclass(frozen=True)
class SmsSubmission:
    """The outcome of one submit_sm.

    ``not_bound``, ``timeout`` and ``throttled`` are worth retrying later (for ``timeout``
    the SMSC may have received it); ``failed`` means the SMSC refused it
    (``command_status`` says why).
    """

    status: SubmissionStatus
    message_id: str | None = None
    command_status: int | None = None


class _LinkLost:
    """Marks a submission whose link went down before the SMSC answered."""


class _Unsendable:
    """Marks a submission that could not be encoded: resending would fail the same way."""


_LINK_LOST = _LinkLost()
_UNSENDABLE = _Unsendable()
Outcome: TypeAlias = "SmppMessage | _LinkLost | _Unsendable"


@dataclass
class _RawTlvSubmitSm(LenientSubmitSm):
    """A submit_sm whose USSD TLVs are appended as raw bytes (see shortfall 1)."""

    ussd_tlvs: UssdTlvs = field(default_factory=UssdTlvs)

    def pdu(self) -> bytes:
        return append_ussd_tlvs(super().pdu(), self.ussd_tlvs)


def _with_raw_tlvs(message: SubmitSm, tlvs: UssdTlvs) -> _RawTlvSubmitSm:
    values = {f.name: getattr(message, f.name) for f in fields(SubmitSm) if f.init}
    values["optional_params"] = list(message.optional_params or [])
    return _RawTlvSubmitSm(**values, ussd_tlvs=tlvs)


class _ForwardingHandler(logging.Handler):
    """Sends aiosmpplib's log lines to our logger without their key/value payload."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self._target = target

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().split(" >>> ", 1)[0]
        self._target.log(record.levelno, "%s", message)


class _JitteredBackoff(AbstractRetryTimer):  # type: ignore[misc]
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


class _GentleThrottle(AbstractThrottleHandler):  # type: ignore[misc]
    """After ESME_RTHROTTLED pause all sending briefly; the pause doubles while throttled."""

    def __init__(self) -> None:
        self._pause = _THROTTLE_BACKOFF_MIN
        self._until = 0.0

    async def throttled(self) -> None:
        self._until = time.monotonic() + self._pause
        self._pause = min(self._pause * 2, _THROTTLE_BACKOFF_MAX)

    async def not_throttled(self) -> None:
        self._pause = _THROTTLE_BACKOFF_MIN

    async def allow_request(self) -> bool:
        return time.monotonic() >= self._until

    async def throttle_delay(self) -> float:
        return max(0.01, self._until - time.monotonic())


class _ResponseOnlyCorrelator(SimpleCorrelator):  # type: ignore[misc]
    """Request/response correlation only; receipts are the gateway's business."""

    async def put_delivery(self, smsc_message_id: str, submit_sm: SubmitSm) -> None:
        return None

    async def get_delivery(self, receipt: DeliverSm) -> SubmitSm | None:
        return None


class _Broker(AbstractBroker):  # type: ignore[misc]
    """FIFO of outgoing messages; remembers the one in hand so a lost link loses nothing."""

    def __init__(self, is_wanted: Callable[[SmppMessage], bool]) -> None:
        self._items: deque[SmppMessage] = deque()
        self._nonempty = asyncio.Event()
        self._is_wanted = is_wanted
        self.in_hand: SmppMessage | None = None

    async def enqueue(self, message: SmppMessage) -> None:
        self._items.append(message)
        self._nonempty.set()

    async def dequeue(self) -> SmppMessage:
        while True:
            while not self._items:
                self._nonempty.clear()
                await self._nonempty.wait()
            message = self._items.popleft()
            if self._is_wanted(message):
                self.in_hand = message
                return message

    def sent(self, message: SmppMessage) -> None:
        if message is self.in_hand:
            self.in_hand = None

    def requeue_in_hand(self) -> None:
        if self.in_hand is not None:
            self._items.appendleft(self.in_hand)
            self._nonempty.set()
            self.in_hand = None


class _Hook(AbstractHook):  # type: ignore[misc]
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


class _UssdEsme(ESME):  # type: ignore[misc]
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
            response = DeliverSmResp(
                sequence_num=header.sequence_num, command_status=_status(error.command_status)
            )
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


class EsmeClient:
    """One named ESME connection: USSD requests in, replies and SMS out.

    Counters: ``binds`` (successful binds), ``reconnects`` (retries after a failure or
    lost link), ``throttled`` (our submit_sm answered ESME_RTHROTTLED/RMSGQFUL),
    ``requests`` (USSD requests handed to the handler), ``refused`` (requests answered
    ESME_RTHROTTLED because ``window`` requests were already being served).
    """

    def __init__(
        self,
        settings: EsmeSettings,
        handler: UssdHandler | None,
        on_receipt: ReceiptCallback | None = None,
    ) -> None:
        self.settings = settings
        self._handler = handler
        self._on_receipt = on_receipt
        self.binds = 0
        self.reconnects = 0
        self.throttled = 0
        self.requests = 0
        self.refused = 0
        self._abandoned: set[str] = set()
        self._log_prefix = f"{id(self):x}-"  # log ids: unique per client, cheaper than uuid4
        self._log_ids = itertools.count(1)
        self._broker = _Broker(self._is_wanted)
        self._idle_broker = _Broker(self._is_wanted)
        self._hook = _Hook(self)
        self._window = asyncio.Semaphore(settings.window)
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._sent: dict[tuple[str, int], str] = {}
        self._serving = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._answering: set[asyncio.Task[None]] = set()  # requests taken in, not yet answered
        self._draining = False
        self._runners: list[asyncio.Task[None]] = []
        self._bound_changed = asyncio.Event()
        self._started = False
        self._stopped = False
        self._esmes = self._build_esmes()
        self._sender = self._esmes[0]

    def _build_esmes(self) -> list[_UssdEsme]:
        if self.settings.bind_mode == "transceiver":
            return [self._build_esme(BindMode.TRANSCEIVER, self._broker, "trx")]
        return [
            self._build_esme(BindMode.TRANSMITTER, self._broker, "tx"),
            self._build_esme(BindMode.RECEIVER, self._idle_broker, "rx"),
        ]

    def _build_esme(self, mode: BindMode, broker: _Broker, role: str) -> _UssdEsme:
        s = self.settings
        target = logging.getLogger(f"{__name__}.aiosmpplib")
        return _UssdEsme(
            self,
            DEFAULT_MAX_PDU,
            smsc_host=s.host,
            smsc_port=s.port,
            system_id=s.system_id,
            password=s.password,
            system_type=s.system_type,
            address_range=s.address_range,
            bind_mode=mode,
            client_id=f"{s.name}:{role}",
            enquire_link_interval=float(s.enquire_link_interval),
            log_level=logging.WARNING,
            log_metadata={},
            log_handler=_ForwardingHandler(target),
            log_include_timestamp=False,
            hook=self._hook,
            broker=broker,
            retry_timer=_JitteredBackoff(s.reconnect_min, s.reconnect_max, self._count_retry),
            throttle_handler=_GentleThrottle(),
            correlator=_ResponseOnlyCorrelator(
                f"{s.name}:{role}", max_ttl_response=max(15.0, 3 * s.response_timeout)
            ),
            socket_timeout=float(s.response_timeout),
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and bind in the background; reconnect forever until ``stop``."""
        if self._started:
            return
        self._started = True
        for esme in self._esmes:
            self._runners.append(asyncio.create_task(self._run(esme), name=esme.client_id))

    async def _run(self, esme: _UssdEsme) -> None:
        while not self._stopped:
            try:
                await esme.start()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                # shortfall 2: only a few exception types are survivable upstream
                log.exception("%s: the connection loop failed; restarting", esme.client_id)
                esme.reset_after_crash()
                self._on_link_lost(esme)
                await asyncio.sleep(self.settings.reconnect_min)

    async def wait_bound(self, timeout: float) -> bool:  # noqa: ASYNC109 (pinned API)
        """True once every bind of this connection is up; False after ``timeout``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self.is_bound:
                    self._bound_changed.clear()
                    await self._bound_changed.wait()
        return self.is_bound

    async def stop(self) -> None:
        """Finish the requests in hand, then unbind, close, cancel. Safe to call twice.

        A request already acknowledged with deliver_sm_resp is a handset waiting for its
        screen: new requests are refused (ESME_RTHROTTLED, so the centre retries elsewhere
        or later) while those in hand are answered, for at most ``response_timeout``.
        """
        if self._stopped:
            return
        self.begin_stop()
        if self._answering and self._links_up():
            # no point waiting once the link is gone: those answers cannot go out any more
            answered = asyncio.ensure_future(
                asyncio.wait(list(self._answering), timeout=self.settings.response_timeout))
            unbound = asyncio.ensure_future(self._wait_unbound())
            await asyncio.wait({answered, unbound}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (answered, unbound):
                waiter.cancel()
        self._stopped = True
        for esme in self._esmes:
            try:
                await asyncio.wait_for(esme.stop(), self.settings.response_timeout)
            except Exception as error:
                log.info("%s: no clean unbind (%r), closing", esme.client_id, error)
        for task in [*self._runners, *self._tasks]:
            task.cancel()
        for task in [*self._runners, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for esme in self._esmes:
            esme._close_writer()
        for future in self._waiting.values():
            if not future.done():
                future.set_result(_LINK_LOST)

    def begin_stop(self) -> None:
        """From now on: refuse new requests, and do not wait for a re-bind to send what is
        in hand (a submission whose link is lost ends ``not_bound`` at once). Called by
        ``stop``, and earlier by the gateway so the SMS sender can finish quickly."""
        self._draining = True
        if not self._links_up():
            self._release_queued()

    def _release_queued(self) -> None:
        """End every submission still queued for a link that is down (never sent later)."""
        sent = set(self._sent.values())
        for log_id, future in self._waiting.items():
            if log_id not in sent and not future.done():
                self._abandoned.add(log_id)
                future.set_result(_LINK_LOST)

    @property
    def is_bound(self) -> bool:
        return not self._stopped and all(esme.is_bound for esme in self._esmes)

    def _links_up(self) -> bool:
        return all(esme.link_up for esme in self._esmes)

    async def _wait_unbound(self) -> None:
        while self._links_up():
            self._bound_changed.clear()
            await self._bound_changed.wait()

    # -- outgoing ----------------------------------------------------------------------

    async def submit_sms(self, destination: str, text: str) -> SmsSubmission:
        """Send one SMS with a delivery receipt requested; waits for submit_sm_resp."""
        if not text:
            raise ValueError("text: an SMS needs some text")
        if self._stopped or not self._sender.is_bound:
            return SmsSubmission("not_bound")
        message = self._sms_message(destination, text)
        return await self._submit(message, UssdTlvs(), self.settings.response_timeout)

    def _sms_message(self, destination: str, text: str) -> SubmitSm:
        source = self.settings.sms_source
        if source and not source.isdigit():
            source_address = PhoneNumber(source[:11], TON.ALPHANUMERIC, NPI.UNKNOWN)
        else:
            source_address = PhoneNumber(source, TON.UNKNOWN, NPI.ISDN)
        gsm7 = detect_format(text) == "gsm0338"
        fits = len(text) <= (_SMS_GSM7_LIMIT if gsm7 else _SMS_UCS2_LIMIT)
        return SubmitSm(
            short_message=text if fits else "",
            message_payload="" if fits else text,
            source=source_address,
            destination=PhoneNumber(destination, TON.INTERNATIONAL, NPI.ISDN),
            registered_delivery=1,
            encoding=None if gsm7 else "ucs2",
        )

    async def _submit(self, message: SubmitSm, tlvs: UssdTlvs, lifetime: float) -> SmsSubmission:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        last: SubmissionStatus = "timeout"
        backoff = _THROTTLE_BACKOFF_MIN
        try:
            async with asyncio.timeout_at(deadline):
                async with self._window:
                    while True:
                        outcome = await self._send_once(message, tlvs)
                        if isinstance(outcome, _Unsendable):
                            return SmsSubmission("failed")
                        if isinstance(outcome, _LinkLost):
                            if self._stopped or self._draining:
                                return SmsSubmission("not_bound")
                            last = "timeout"
                            continue
                        status = outcome.command_status
                        if status in _RETRYABLE_STATUSES:
                            self.throttled += 1
                            last = "throttled"
                            await asyncio.sleep(random.uniform(backoff / 2, backoff))
                            backoff = min(backoff * 2, _THROTTLE_BACKOFF_MAX)
                            continue
                        if status == SmppCommandStatus.ESME_ROK and isinstance(
                            outcome, SubmitSmResp
                        ):
                            return SmsSubmission("accepted", outcome.message_id, 0)
                        return SmsSubmission("failed", None, int(status))
        except TimeoutError:
            return SmsSubmission(last)

    async def _send_once(self, template: SubmitSm, tlvs: UssdTlvs) -> Outcome:
        # a fresh object per attempt: an old attempt may still sit in a dead sender task
        message = _with_raw_tlvs(template, tlvs)
        log_id = f"{self._log_prefix}{next(self._log_ids)}"
        message.log_id = log_id
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[log_id] = future
        try:
            await self._broker.enqueue(message)
            return await future
        finally:
            del self._waiting[log_id]
            if future.cancelled():  # our deadline passed while waiting (it cancels the await)
                self._given_up(log_id)

    def _given_up(self, log_id: str) -> None:
        sent_on = next((key[0] for key, value in self._sent.items() if value == log_id), None)
        if sent_on is None:
            self._abandoned.add(log_id)  # still queued: the broker drops it
            return
        esme = self._esme(sent_on)
        if esme.link_up and not esme.probing and not self._stopped:
            # shortfall 15: a link that answers none of our requests looks alive upstream
            esme.probing = True
            self._spawn(self._probe(esme))

    async def _probe(self, esme: _UssdEsme) -> None:
        try:
            if not await esme.probe(self.settings.response_timeout) and esme.link_up:
                log.warning("%s: the SMSC answers none of our requests; redialling",
                            esme.client_id)
                esme.drop_link()
        finally:
            esme.probing = False

    def _is_wanted(self, message: SmppMessage) -> bool:
        log_id = getattr(message, "log_id", "")
        if log_id in self._abandoned:
            self._abandoned.discard(log_id)
            return False
        return True

    # -- callbacks from the ESME and the hook ------------------------------------------

    def _count_retry(self) -> None:
        self.reconnects += 1

    def _before_connect(self, esme: _UssdEsme) -> None:
        if esme is self._sender:
            self._broker.requeue_in_hand()

    def _on_bound(self, esme: _UssdEsme) -> None:
        esme.link_up = True
        self.binds += 1
        log.info("%s: bound to %s:%s", esme.client_id, self.settings.host, self.settings.port)
        self._bound_changed.set()

    def _on_link_lost(self, esme: _UssdEsme) -> None:
        esme.link_up = False
        lost = [key for key in self._sent if key[0] == esme.client_id]
        for key in lost:
            self._resolve(self._sent.pop(key), _LINK_LOST)
        if self._draining:
            self._release_queued()
        self._bound_changed.set()

    def _resolve(self, log_id: str, outcome: Outcome) -> None:
        future = self._waiting.get(log_id)
        if future is not None and not future.done():
            future.set_result(outcome)

    def _on_sending(self, message: SmppMessage, client_id: str) -> None:
        if isinstance(message, SubmitSm) and not isinstance(message, DeliverSm):
            self._broker.sent(message)
            if message.log_id not in self._waiting:
                return
            if self._esme(client_id).link_up:
                self._sent[(client_id, message.sequence_num)] = message.log_id
            else:
                # the old sender task wrote it to a link already lost: send it again
                self._resolve(message.log_id, _LINK_LOST)

    def _on_send_error(self, message: SmppMessage, error: Exception) -> None:
        log_id = getattr(message, "log_id", "")
        for key in [key for key, value in self._sent.items() if value == log_id]:
            del self._sent[key]
        # upstream: ValueError means the PDU could not be built; anything else is transport
        self._resolve(log_id, _UNSENDABLE if isinstance(error, ValueError) else _LINK_LOST)

    def _esme(self, client_id: str) -> _UssdEsme:
        return next(esme for esme in self._esmes if esme.client_id == client_id)

    def _on_received(self, message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        if len(pdu) > 4 and pdu[4] & 0x80:  # command_id of a response
            self._esme(client_id).note_answer()
        if isinstance(message, SubmitSmResp | GenericNack) and not isinstance(
            message, DeliverSmResp
        ):
            log_id = self._sent.pop((client_id, message.sequence_num), None)
            if log_id is not None:
                self._resolve(log_id, message)
        elif isinstance(message, DeliverSm):
            self._on_deliver_sm(message, pdu, client_id)

    def _on_deliver_sm(self, message: DeliverSm, pdu: bytes, client_id: str) -> None:
        if message.is_receipt():
            self._spawn(self._deliver_receipt(message))
            return
        _, ussd = split_ussd_tlvs(pdu)
        request = request_from_message(self.settings.name, message, ussd, self.settings.dialect)
        if request is None:
            log.info("%s: ignored a deliver_sm that is neither USSD nor a receipt", client_id)
            return
        if self._serving >= self.settings.window or self._draining:
            self.refused += 1
            self._esme(client_id).refuse(message.sequence_num)
            return
        self.requests += 1
        self._serving += 1
        task = asyncio.ensure_future(self._serve(message, ussd, request))
        self._tasks.add(task)
        self._answering.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._answering.discard)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, message: DeliverSm, ussd: UssdTlvs, request: UssdRequest) -> None:
        try:
            reply = await self._reply_for(request)
            if reply is None:
                return
            answer, tlvs = reply_message(
                message, ussd, reply, self.settings.dialect, as_command="submit_sm"
            )
            outcome = await self._submit(answer, tlvs, USSD_REPLY_LIFETIME)
            if outcome.status != "accepted":
                log.warning(
                    "%s: reply to %s not accepted: %s %s",
                    self.settings.name,
                    redact(request.session_key),
                    outcome.status,
                    outcome.command_status,
                )
        except Exception:
            log.exception("%s: could not answer a USSD request", self.settings.name)
        finally:
            self._serving -= 1

    async def _reply_for(self, request: UssdRequest) -> UssdReply | None:
        if self._handler is None:
            return None
        try:
            return await self._handler(request)
        except Exception:
            log.exception("%s: the USSD handler failed", self.settings.name)
            if request.is_abort:
                return None
            return UssdReply(HANDLER_FAILURE_TEXT, final=True)

    async def _deliver_receipt(self, message: DeliverSm) -> None:
        if self._on_receipt is None:
            return
        message_id = ""
        for param in message.optional_params or []:
            if param.tag == RECEIPTED_MESSAGE_ID:
                message_id = str(param.value)
        stat = ""
        try:
            receipt = message.parse_receipt()
            message_id = message_id or str(receipt.get("id", ""))
            stat = str(receipt.get("stat", ""))
        except (ValueError, KeyError, IndexError):
            stat = _stat_from_text(message.short_message or message.message_payload)
        if not message_id:
            log.warning("%s: a delivery receipt without a message id", self.settings.name)
            return
        try:
            await self._on_receipt(message_id, stat)
        except Exception:
            log.exception("%s: the receipt callback failed", self.settings.name)


def _status(value: int) -> SmppCommandStatus:
    try:
        return SmppCommandStatus(value)
    except ValueError:
        return SmppCommandStatus.ESME_RSYSERR


def _stat_from_text(text: str) -> str:
    marker = text.lower().find("stat:")
    if marker < 0:
        return ""
    return text[marker + 5 :].split(" ", 1)[0]
