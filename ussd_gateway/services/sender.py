"""Drains the SMS outbox through an SmsTransport, once per message, surviving restarts.

A message is claimed (state "sending", a lease and a claim token) in one short transaction
with FOR UPDATE SKIP LOCKED on PostgreSQL (BEGIN IMMEDIATE on SQLite), sent outside any
transaction, and its outcome recorded only if the claim is still ours (a batch's outcomes in
one transaction, once the whole batch has been tried). A sender that dies
mid-send leaves a lease that expires; the message is then sent again by whoever is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection

from ussd_gateway.msisdn import mask_msisdn
from ussd_gateway.security.encryption import BodyCipher, DecryptionError
from ussd_gateway.services.common import Clock, utc_now
from ussd_gateway.services.outbox import (
    EXPIRED,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    apply_early_receipt,
    body_associated_data,
)
from ussd_gateway.services.settings import OutboxSettings
from ussd_gateway.services.sms import (
    SmsAccepted,
    SmsPermanentFailure,
    SmsSubmitResult,
    SmsTemporaryFailure,
    SmsThrottled,
    SmsTransport,
)
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import OutboxRow

log = logging.getLogger(__name__)


# The outbox statements, built once (bound parameters by name).
_DUE = or_(
    and_(OutboxRow.state == PENDING, OutboxRow.next_attempt_at <= bindparam("now")),
    and_(OutboxRow.state == SENDING, OutboxRow.claimed_until <= bindparam("now")),
)
_EXPIRE = (
    update(OutboxRow)
    .where(_DUE, OutboxRow.expires_at <= bindparam("now"))
    .values(state=EXPIRED, body=None, body_encrypted=None, claim_token=None)
)
_DUE_IDS = (
    select(OutboxRow.id)
    .where(_DUE)
    .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
_TAKE = (
    update(OutboxRow)
    .where(OutboxRow.id.in_(bindparam("ids", expanding=True)))
    .values(state=SENDING, claim_token=bindparam("token"), claimed_until=bindparam("until"),
            attempts=OutboxRow.attempts + 1)
)
_TAKEN = (
    select(OutboxRow.id, OutboxRow.destination, OutboxRow.body, OutboxRow.body_encrypted,
           OutboxRow.attempts)
    .where(OutboxRow.id.in_(bindparam("ids", expanding=True)))
    .order_by(OutboxRow.id)
)
# An outcome, only if the claim is still ours: the SET columns are the parameters' other keys.
_MARK = update(OutboxRow).where(OutboxRow.id == bindparam("b_id"),
                                OutboxRow.claim_token == bindparam("b_token"))
# A failed attempt goes back to the queue only if nothing superseded it meanwhile.
_MARK_FOR_RETRY = _MARK.where(OutboxRow.state == SENDING)


# Told what became of SMS, for the metrics: ("sent" | "throttled" | "failed" | "expired",
# how many). "sent" and "throttled" are the SMSC's answers; "failed" and "expired" are
# counted once recorded here, so a message another sender took is counted by that one.
OnSmsOutcome = Callable[[str, int], None]


def _ignore(state: str, count: int) -> None:
    pass


@dataclass(frozen=True)
class _Claimed:
    id: int
    destination: str
    body: str | None
    body_encrypted: bytes | None
    attempts: int


class OutboxSender:
    def __init__(
        self,
        db: Database,
        transport: SmsTransport,
        settings: OutboxSettings | None = None,
        clock: Clock = utc_now,
        on_outcome: OnSmsOutcome = _ignore,
    ) -> None:
        self._db = db
        self._transport = transport
        self._on_outcome = on_outcome
        self._settings = settings or OutboxSettings()
        self._clock = clock
        self._cipher = BodyCipher(self._settings.body_key)
        self._token = uuid.uuid4().hex
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._running: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A new SMS was committed: send it now rather than at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Send due messages until :meth:`stop`; a failing store is retried, never fatal."""
        self._running = asyncio.current_task()
        failures = 0
        while not self._stopping:
            self._wakeup.clear()
            try:
                await self.drain_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: keep the loop alive, back off
                failures += 1
                log.warning("outbox: drain failed (%s), retrying", type(exc).__name__)
            if self._stopping:
                break
            delay = self._settings.poll_interval.total_seconds()
            if failures:
                delay = min(delay * failures, self._settings.retry_max.total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)

    async def stop(self) -> None:
        """Finish the message in hand, then return; unsent messages stay in the outbox."""
        self._stopping = True
        self._wakeup.set()
        task = self._running
        if task is not None and task is not asyncio.current_task() and not task.done():
            try:
                await asyncio.wait_for(
                    asyncio.shield(task), timeout=self._settings.send_timeout.total_seconds() + 5
                )
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def drain_once(self) -> int:
        """Send everything due now; returns how many messages were attempted."""
        attempted = 0
        while not self._stopping:
            expired, batch = await self._db.transact(
                functools.partial(self._claim, now=self._clock()))
            if expired:  # counted once committed
                self._on_outcome(EXPIRED, expired)
            if not batch:
                break
            results = await asyncio.gather(*(self._send(message) for message in batch))
            await self._record(list(zip(batch, results, strict=True)))
            attempted += len(batch)
        return attempted

    def _claim(self, connection: Connection, now: datetime) -> tuple[int, list[_Claimed]]:
        """(how many expired unsent, the batch claimed)."""
        expired: int = connection.execute(_EXPIRE, {"now": now}).rowcount
        ids = list(connection.scalars(_DUE_IDS, {"now": now, "batch": self._settings.batch_size}))
        if not ids:
            return expired, []
        connection.execute(_TAKE, {"ids": ids, "token": self._token,
                                   "until": now + self._settings.lease})
        return expired, [_Claimed(*row) for row in connection.execute(_TAKEN, {"ids": ids})]

    async def _send(self, message: _Claimed) -> SmsSubmitResult:
        try:
            text = self._text_of(message)
        except DecryptionError:
            return SmsPermanentFailure("body does not decrypt")
        try:
            return await asyncio.wait_for(
                self._transport.submit_sms(message.destination, text),
                timeout=self._settings.send_timeout.total_seconds(),
            )
        except TimeoutError:
            return SmsTemporaryFailure("timed out waiting for the SMSC")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the transport's own failure: retry, naming only its type
            return SmsTemporaryFailure(f"transport error: {type(exc).__name__}")

    def _text_of(self, message: _Claimed) -> str:
        if message.body_encrypted is not None:
            return self._cipher.decrypt(
                message.body_encrypted, associated=body_associated_data(message.destination)
            )
        if message.body is None:
            raise DecryptionError("the body was wiped")
        return message.body

    async def _record(self, outcomes: list[tuple[_Claimed, SmsSubmitResult]]) -> None:
        """Record a claimed batch's outcomes in one transaction, each only if still ours."""
        now = self._clock()

        def record(connection: Connection) -> list[bool]:
            kept = []
            for message, result in outcomes:
                retry = isinstance(result, SmsThrottled | SmsTemporaryFailure)
                updated = connection.execute(_MARK_FOR_RETRY if retry else _MARK, {
                    "b_id": message.id, "b_token": self._token,
                    **self._outcome_values(message, result, now)})
                kept.append(bool(updated.rowcount))
                if updated.rowcount and isinstance(result, SmsAccepted):
                    apply_early_receipt(connection, result.message_id)
            return kept

        kept = await self._db.transact(record)
        for (message, result), ours in zip(outcomes, kept, strict=True):
            self._count(result, ours)
            masked = mask_msisdn(message.destination)
            if not ours:
                if isinstance(result, SmsAccepted):
                    log.warning("outbox: message %d to %s was accepted, but its lease had run "
                                "out and another sender took it: it may arrive twice",
                                message.id, masked)
                else:
                    log.info("outbox: message %d to %s not retried here: superseded by a "
                             "newer one, or taken by another sender", message.id, masked)
            elif isinstance(result, SmsAccepted):
                log.info("outbox: message %d to %s accepted as %s", message.id, masked,
                         result.message_id)
            else:
                log.info("outbox: message %d to %s not sent: %s", message.id, masked,
                         type(result).__name__)

    def _count(self, result: SmsSubmitResult, ours: bool) -> None:
        if isinstance(result, SmsAccepted):
            self._on_outcome(SENT, 1)
        elif isinstance(result, SmsThrottled):
            self._on_outcome("throttled", 1)
        elif isinstance(result, SmsPermanentFailure) and ours:
            self._on_outcome(FAILED, 1)

    def _outcome_values(self, message: _Claimed, result: SmsSubmitResult,
                        now: datetime) -> dict[str, object]:
        values: dict[str, object]
        match result:
            case SmsAccepted(message_id=smsc_id):
                values = {
                    "state": SENT,
                    "smsc_message_id": smsc_id,
                    "sent_at": now,
                    "body_encrypted": None,
                    "last_error": None,
                }
            case SmsThrottled(retry_after=retry_after):
                delay = max(
                    retry_after or self._backoff(message.attempts), self._settings.retry_initial
                )
                values = {
                    "state": PENDING,
                    "next_attempt_at": now + delay,
                    "last_error": "throttled",
                }
            case SmsTemporaryFailure(reason=reason):
                values = {
                    "state": PENDING,
                    "next_attempt_at": now + self._backoff(message.attempts),
                    "last_error": reason[:300],
                }
            case SmsPermanentFailure(reason=reason):
                values = {
                    "state": FAILED,
                    "body": None,
                    "body_encrypted": None,
                    "last_error": reason[:300],
                }
        values.update(claim_token=None, claimed_until=None)
        return values

    def _backoff(self, attempts: int) -> timedelta:
        initial, ceiling = self._settings.retry_initial, self._settings.retry_max
        return min(initial * (1 << min(max(attempts - 1, 0), 20)), ceiling)
