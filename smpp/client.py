"""ESME role: the gateway binds out to a USSD centre / SMSC, on aiosmpplib's ``ESME``.

``EsmeClient`` is one named connection: a transceiver bind (or a transmitter + receiver pair),
USSD requests in (each served in its own task, at most ``window`` at once), replies and SMS out
(a window of submissions in flight, throttling backed off and resent, a lost link resent after
the re-bind), receipts handed to a callback, a graceful stop. aiosmpplib does the binding,
sequence numbers, the keeper and the reconnect loop; where it falls short it is overridden in
:mod:`smpp.esme_parts`, whose docstring lists each shortfall with its file and line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiosmpplib import PhoneNumber
from aiosmpplib.protocol import (
    DeliverSm,
    DeliverSmResp,
    GenericNack,
    SmppMessage,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.state import (
    NPI,
    RECEIPTED_MESSAGE_ID,
    TON,
    BindMode,
    SmppCommandStatus,
)
from aiosmpplib.utils import detect_format

from smpp.codec import DEFAULT_MAX_PDU
from smpp.dialect import Dialect, reply_message, request_from_message
from smpp.esme_parts import (
    LINK_LOST,
    THROTTLE_BACKOFF_MAX,
    THROTTLE_BACKOFF_MIN,
    UNSENDABLE,
    Broker,
    ForwardingHandler,
    GentleThrottle,
    Hook,
    JitteredBackoff,
    LinkLost,
    Outcome,
    ResponseOnlyCorrelator,
    Unsendable,
    UssdEsme,
    with_raw_tlvs,
)
from smpp.redact import redact
from smpp.tlv import UssdTlvs, split_ussd_tlvs
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
    max_pdu: int = DEFAULT_MAX_PDU  # a longer command_length from the SMSC drops the link

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
        self._broker = Broker(self._is_wanted)
        self._idle_broker = Broker(self._is_wanted)
        self._hook = Hook(self)
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

    def _build_esmes(self) -> list[UssdEsme]:
        if self.settings.bind_mode == "transceiver":
            return [self._build_esme(BindMode.TRANSCEIVER, self._broker, "trx")]
        return [
            self._build_esme(BindMode.TRANSMITTER, self._broker, "tx"),
            self._build_esme(BindMode.RECEIVER, self._idle_broker, "rx"),
        ]

    def _build_esme(self, mode: BindMode, broker: Broker, role: str) -> UssdEsme:
        s = self.settings
        target = logging.getLogger(f"{__name__}.aiosmpplib")
        return UssdEsme(
            self,
            s.max_pdu,
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
            log_handler=ForwardingHandler(target),
            log_include_timestamp=False,
            hook=self._hook,
            broker=broker,
            retry_timer=JitteredBackoff(s.reconnect_min, s.reconnect_max, self._count_retry),
            throttle_handler=GentleThrottle(),
            correlator=ResponseOnlyCorrelator(
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

    async def _run(self, esme: UssdEsme) -> None:
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
                future.set_result(LINK_LOST)

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
                future.set_result(LINK_LOST)

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

    async def _submit(self, message: SubmitSm, tlvs: UssdTlvs, lifetime: float, *,
                      screen: bool = False) -> SmsSubmission:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        last: SubmissionStatus = "timeout"
        backoff = THROTTLE_BACKOFF_MIN
        try:
            async with asyncio.timeout_at(deadline):
                async with self._window:
                    while True:
                        outcome = await self._send_once(message, tlvs, screen)
                        if isinstance(outcome, Unsendable):
                            return SmsSubmission("failed")
                        if isinstance(outcome, LinkLost):
                            if self._stopped or self._draining:
                                return SmsSubmission("not_bound")
                            last = "timeout"
                            continue
                        status = outcome.command_status
                        if status in _RETRYABLE_STATUSES:
                            self.throttled += 1
                            last = "throttled"
                            await asyncio.sleep(random.uniform(backoff / 2, backoff))
                            backoff = min(backoff * 2, THROTTLE_BACKOFF_MAX)
                            continue
                        if status == SmppCommandStatus.ESME_ROK and isinstance(
                            outcome, SubmitSmResp
                        ):
                            return SmsSubmission("accepted", outcome.message_id, 0)
                        return SmsSubmission("failed", None, int(status))
        except TimeoutError:
            return SmsSubmission(last)

    async def _send_once(self, template: SubmitSm, tlvs: UssdTlvs, screen: bool) -> Outcome:
        # a fresh object per attempt: an old attempt may still sit in a dead sender task
        message = with_raw_tlvs(template, tlvs)
        log_id = f"{self._log_prefix}{next(self._log_ids)}"
        message.log_id = log_id
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[log_id] = future
        try:
            if screen:
                self._broker.enqueue_screen(message)
            else:
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

    async def _probe(self, esme: UssdEsme) -> None:
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

    def _before_connect(self, esme: UssdEsme) -> None:
        if esme is self._sender:
            self._broker.requeue_in_hand()

    def _on_bound(self, esme: UssdEsme) -> None:
        esme.link_up = True
        self.binds += 1
        log.info("%s: bound to %s:%s", esme.client_id, self.settings.host, self.settings.port)
        self._bound_changed.set()

    def _on_link_lost(self, esme: UssdEsme) -> None:
        esme.link_up = False
        lost = [key for key in self._sent if key[0] == esme.client_id]
        for key in lost:
            self._resolve(self._sent.pop(key), LINK_LOST)
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
                self._resolve(message.log_id, LINK_LOST)

    def _on_send_error(self, message: SmppMessage, error: Exception) -> None:
        log_id = getattr(message, "log_id", "")
        for key in [key for key, value in self._sent.items() if value == log_id]:
            del self._sent[key]
        # upstream: ValueError means the PDU could not be built; anything else is transport
        self._resolve(log_id, UNSENDABLE if isinstance(error, ValueError) else LINK_LOST)

    def _esme(self, client_id: str) -> UssdEsme:
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
            outcome = await self._submit(answer, tlvs, USSD_REPLY_LIFETIME, screen=True)
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


def _stat_from_text(text: str) -> str:
    marker = text.lower().find("stat:")
    if marker < 0:
        return ""
    return text[marker + 5 :].split(" ", 1)[0]
