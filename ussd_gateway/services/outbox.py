"""The SMS outbox: writing messages (in the caller's transaction), receipts, lookups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Update, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_gateway.security.encryption import BodyCipher
from ussd_gateway.services.common import Clock, upsert, utc_now
from ussd_gateway.services.settings import OutboxSettings, ServiceSettings
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import EarlyReceiptRow, OutboxRow

PENDING, SENDING, SENT = "pending", "sending", "sent"
DELIVERED, UNDELIVERABLE = "delivered", "undeliverable"
FAILED, EXPIRED, SUPERSEDED = "failed", "expired", "superseded"

# Final receipt states (SMPP 3.4 appendix B) and what they make of the message.
_RECEIPT_OUTCOME = {
    "DELIVRD": DELIVERED,
    "UNDELIV": UNDELIVERABLE,
    "EXPIRED": UNDELIVERABLE,
    "REJECTD": UNDELIVERABLE,
    "DELETED": UNDELIVERABLE,
}
_RECEIPT_STATES = {*_RECEIPT_OUTCOME, "ENROUTE", "ACCEPTD", "UNKNOWN"}
EARLY_RECEIPT_TTL = timedelta(days=1)


@dataclass(frozen=True)
class OutboxMessage:
    """A message as operators and tests see it: never its body."""

    id: int
    destination: str
    purpose: str
    secret: bool
    state: str
    attempts: int
    created_at: datetime
    smsc_message_id: str | None
    receipt_state: str | None
    has_body: bool
    last_error: str | None


def _view(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        destination=row.destination,
        purpose=row.purpose,
        secret=row.secret,
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at,
        smsc_message_id=row.smsc_message_id,
        receipt_state=row.receipt_state,
        has_body=row.body is not None or row.body_encrypted is not None,
        last_error=row.last_error,
    )


def body_associated_data(destination: str) -> bytes:
    # Binds a ciphertext to its destination, so a row edited to point elsewhere won't decrypt.
    return destination.encode()


async def enqueue_sms(
    session: AsyncSession,
    *,
    destination: str,
    text: str,
    now: datetime,
    purpose: str,
    cipher: BodyCipher | None = None,
    expires_in: timedelta,
) -> OutboxRow:
    """Add an SMS to the outbox inside the caller's transaction. With a ``cipher`` the body
    is a secret and is stored encrypted."""
    row = OutboxRow(**sms_values(destination=destination, text=text, now=now, purpose=purpose,
                                 cipher=cipher, expires_in=expires_in))
    session.add(row)
    await session.flush()
    return row


def sms_values(
    *,
    destination: str,
    text: str,
    now: datetime,
    purpose: str,
    cipher: BodyCipher | None = None,
    expires_in: timedelta,
) -> dict[str, object]:
    """The columns of one new outbox row (for ``INSERT_SMS`` in a Core transaction)."""
    return {
        "destination": destination,
        "body": None if cipher else text,
        "body_encrypted": (
            cipher.encrypt(text, associated=body_associated_data(destination)) if cipher else None
        ),
        "secret": cipher is not None,
        "purpose": purpose,
        "state": PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "expires_at": now + expires_in,
    }


# Drop unsent messages of a purpose to a number (an old password, replaced); parameters
# ``to`` and ``of_purpose``. One being sent right now is marked too: if that attempt
# fails it is not retried (the sender only puts back what is still ``sending``), so the
# stale password can never arrive after the new one.
SUPERSEDE = (
    update(OutboxRow)
    .where(
        OutboxRow.destination == bindparam("to"),
        OutboxRow.purpose == bindparam("of_purpose"),
        OutboxRow.state.in_((PENDING, SENDING)),
    )
    .values(state=SUPERSEDED, body=None, body_encrypted=None)
)
INSERT_SMS = insert(OutboxRow)


def receipt_state(state: str) -> str:
    """A receipt's ``stat:`` as recorded: upper case, UNKNOWN when it is no SMPP state."""
    state = state.strip().upper()
    return state if state in _RECEIPT_STATES else "UNKNOWN"


def receipt_statement(smsc_message_id: str, state: str, now: datetime) -> Update:
    """The update that records a receipt on the sent message with that SMSC id."""
    state = receipt_state(state)
    values: dict[str, object] = {"receipt_state": state, "receipt_at": now}
    if state in _RECEIPT_OUTCOME:
        values["state"] = _RECEIPT_OUTCOME[state]
    return (
        update(OutboxRow)
        .where(
            OutboxRow.smsc_message_id == smsc_message_id,
            OutboxRow.state.in_((SENT, DELIVERED, UNDELIVERABLE)),
        )
        .values(**values)
    )


def apply_early_receipt(connection: Connection, smsc_message_id: str) -> None:
    """Apply a receipt that arrived before the message was recorded as sent."""
    early = connection.execute(_EARLY_RECEIPT, {"smsc_id": smsc_message_id}).first()
    if early is not None:
        connection.execute(receipt_statement(smsc_message_id, early.receipt_state,
                                             early.received_at))
        connection.execute(_FORGET_EARLY_RECEIPT, {"smsc_id": smsc_message_id})


_EARLY_RECEIPT = (
    select(EarlyReceiptRow.receipt_state, EarlyReceiptRow.received_at)
    .where(EarlyReceiptRow.smsc_message_id == bindparam("smsc_id"))
)
_FORGET_EARLY_RECEIPT = delete(EarlyReceiptRow).where(
    EarlyReceiptRow.smsc_message_id == bindparam("smsc_id"))


class OutboxService:
    def __init__(
        self,
        db: Database,
        settings: ServiceSettings | None = None,
        clock: Clock = utc_now,
        *,
        on_sms_queued: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._settings: OutboxSettings = (settings or ServiceSettings()).outbox
        self._clock = clock
        self._on_sms_queued = on_sms_queued

    async def enqueue(self, destination: str, text: str, *, purpose: str = "notice") -> int:
        """Queue a plain (non-secret) SMS; returns its outbox id."""
        now = self._clock()
        async with self._db.write() as session:
            row = await enqueue_sms(
                session,
                destination=destination,
                text=text,
                now=now,
                purpose=purpose,
                expires_in=self._settings.max_age,
            )
        if self._on_sms_queued is not None:
            self._on_sms_queued()
        return row.id

    async def record_receipt(self, smsc_message_id: str, state: str) -> bool:
        """Record a delivery receipt (``DELIVRD``, ``UNDELIV``, ...). False when no sent
        message carries that SMSC message id yet; the receipt is then kept for a while and
        applied if that message is recorded as sent (a receipt can overtake our commit)."""
        now = self._clock()

        def record(connection: Connection) -> bool:
            if connection.execute(receipt_statement(smsc_message_id, state, now)).rowcount:
                return True
            connection.execute(
                delete(EarlyReceiptRow).where(EarlyReceiptRow.received_at < now - EARLY_RECEIPT_TTL)
            )
            connection.execute(
                upsert(connection.dialect.name, EarlyReceiptRow, ["smsc_message_id"],
                       ["receipt_state", "received_at"]),
                {"smsc_message_id": smsc_message_id, "receipt_state": receipt_state(state),
                 "received_at": now},
            )
            return False

        return await self._db.transact(record)

    async def get(self, message_id: int) -> OutboxMessage | None:
        async with self._db.read() as session:
            row = await session.get(OutboxRow, message_id)
            return _view(row) if row is not None else None

    async def messages_to(self, destination: str) -> tuple[OutboxMessage, ...]:
        async with self._db.read() as session:
            rows = await session.scalars(
                select(OutboxRow).where(OutboxRow.destination == destination).order_by(OutboxRow.id)
            )
            return tuple(_view(row) for row in rows)

    async def count_unsent(self) -> int:
        async with self._db.read() as session:
            count = await session.scalar(
                select(func.count()).where(OutboxRow.state.in_((PENDING, SENDING)))
            )
            return int(count or 0)
