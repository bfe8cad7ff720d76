"""Subscriber records: lookup, language, creation and update for imports and operators."""

from __future__ import annotations

import re
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from ussd_gateway.services.common import Clock, audit, check_channel, lock_subscriber, utc_now
from ussd_gateway.services.results import Balance, Subscriber
from ussd_gateway.services.settings import ServiceSettings
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import BalanceRow, SubscriberRow
from ussd_gateway.store.read_query import ReadQuery

STATUSES = ("active", "blocked")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class _Fields(NamedTuple):
    owner: str
    region: str
    language: str | None
    status: str | None
    currency: str


def _view(row: SubscriberRow) -> Subscriber:
    return Subscriber(
        msisdn=row.msisdn,
        owner=row.owner,
        region=row.region,
        language=row.language,
        status=row.status,
    )


# Read when a code is dialled: what the first screen needs, in one statement.
_WITH_BALANCE = ReadQuery(
    select(SubscriberRow.msisdn, SubscriberRow.owner, SubscriberRow.region,
           SubscriberRow.language, SubscriberRow.status,
           BalanceRow.amount_minor, BalanceRow.currency)
    .outerjoin(BalanceRow, BalanceRow.msisdn == SubscriberRow.msisdn)
    .where(SubscriberRow.msisdn == bindparam("msisdn"))
)


class SubscriberService:
    def __init__(
        self, db: Database, settings: ServiceSettings | None = None, clock: Clock = utc_now
    ) -> None:
        self._db = db
        self._settings = settings or ServiceSettings()
        self._clock = clock

    async def get(self, msisdn: str) -> Subscriber | None:
        async with self._db.read() as session:
            row = await session.get(SubscriberRow, msisdn)
            return _view(row) if row is not None else None

    async def with_balance(self, msisdn: str) -> tuple[Subscriber, Balance | None] | None:
        """The subscriber and their balance in one read (what a dialled code needs first)."""
        rows = await self._db.fetch(_WITH_BALANCE, msisdn=msisdn)
        if not rows:
            return None
        number, owner, region, language, status, amount_minor, currency = rows[0]
        subscriber = Subscriber(msisdn=number, owner=owner, region=region, language=language,
                                status=status)
        if amount_minor is None:
            return subscriber, None
        return subscriber, Balance(amount_minor, currency)

    async def set_language(self, msisdn: str, language: str, *, channel: str) -> bool:
        """False when there is no such subscriber."""
        check_channel(channel)
        self._check_language(language)
        now = self._clock()
        async with self._db.write() as session:
            row = await lock_subscriber(session, msisdn)
            if row is None:
                return False
            if row.language != language:
                audit(
                    session,
                    at=now,
                    msisdn=msisdn,
                    channel=channel,
                    action="subscriber.language",
                    details={"from": row.language, "to": language},
                )
                row.language = language
                row.updated_at = now
            return True

    async def upsert(
        self,
        msisdn: str,
        *,
        owner: str,
        region: str,
        channel: str,
        language: str | None = None,
        status: str | None = None,
        currency: str | None = None,
    ) -> Subscriber:
        """Create the subscriber (with a zero balance) or update the given fields.

        ``currency`` only applies when the subscriber is created.
        """
        check_channel(channel)
        if not owner.strip() or not region.strip():
            raise ValueError("owner and region must not be empty")
        if language is not None:
            self._check_language(language)
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        currency = currency or self._settings.default_currency
        if not _CURRENCY.match(currency):
            raise ValueError(f"currency must be an ISO 4217 code, got {currency!r}")
        fields = _Fields(owner, region, language, status, currency)
        try:
            return await self._upsert_once(msisdn, fields, channel)
        except IntegrityError:
            # Created concurrently by another request (PostgreSQL): now it is an update.
            return await self._upsert_once(msisdn, fields, channel)

    async def _upsert_once(self, msisdn: str, fields: _Fields, channel: str) -> Subscriber:
        owner, region, language, status, currency = fields
        now = self._clock()
        async with self._db.write() as session:
            row = await lock_subscriber(session, msisdn)
            if row is None:
                row = SubscriberRow(
                    msisdn=msisdn,
                    owner=owner,
                    region=region,
                    language=language or self._settings.default_language,
                    status=status or "active",
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()  # the balance row refers to it
                session.add(
                    BalanceRow(msisdn=msisdn, amount_minor=0, currency=currency, updated_at=now)
                )
                audit(
                    session,
                    at=now,
                    msisdn=msisdn,
                    channel=channel,
                    action="subscriber.created",
                    details={"owner": owner, "region": region, "language": row.language},
                )
                await session.flush()
                return _view(row)
            wanted = {"owner": owner, "region": region, "language": language, "status": status}
            changes = {
                name: {"from": getattr(row, name), "to": value}
                for name, value in wanted.items()
                if value is not None and getattr(row, name) != value
            }
            for name, change in changes.items():
                setattr(row, name, change["to"])
            if changes:
                row.updated_at = now
                audit(
                    session,
                    at=now,
                    msisdn=msisdn,
                    channel=channel,
                    action="subscriber.updated",
                    details=changes,
                )
            return _view(row)

    async def exists(self, msisdn: str) -> bool:
        async with self._db.read() as session:
            found = await session.scalar(
                select(SubscriberRow.msisdn).where(SubscriberRow.msisdn == msisdn)
            )
            return found is not None

    def _check_language(self, language: str) -> None:
        if language not in self._settings.languages:
            raise ValueError(
                f"language {language!r} is not one of {', '.join(self._settings.languages)}"
            )
