"""Helpers shared by the services: the clock, row locks, audit records."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Insert, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_gateway.store.models import AuditRow, SubscriberRow

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_channel(channel: str) -> None:
    if not channel or not isinstance(channel, str):
        raise ValueError("every change needs a channel for the audit log (ussd, web, operator:x)")


async def lock_subscriber(session: AsyncSession, msisdn: str) -> SubscriberRow | None:
    """Load the subscriber and hold its row lock until the transaction ends.

    On PostgreSQL this is SELECT ... FOR UPDATE; on SQLite the write transaction already
    holds the database write lock (BEGIN IMMEDIATE), so changes to one subscriber are
    serialised on both.
    """
    result = await session.execute(
        select(SubscriberRow).where(SubscriberRow.msisdn == msisdn).with_for_update()
    )
    return result.scalar_one_or_none()


# The same lock for a Core transaction (Database.transact): status and language, FOR UPDATE.
LOCK_SUBSCRIBER = (
    select(SubscriberRow.status, SubscriberRow.language)
    .where(SubscriberRow.msisdn == bindparam("msisdn"))
    .with_for_update()
)


def upsert(dialect: str, model: type[object], key: Sequence[str],
           update: Sequence[str]) -> Insert:
    """INSERT, or on a conflict over ``key`` set the ``update`` columns from the new row.

    Built once per dialect and columns, and reused: building one (its ``excluded`` alias
    with a proxy per column, then its cache key) costs more CPU than executing it.
    """
    cache_key = (dialect, model, tuple(key), tuple(update))
    statement = _UPSERTS.get(cache_key)
    if statement is None:
        insert_into = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
        statement = _UPSERTS[cache_key] = insert_into.on_conflict_do_update(
            index_elements=list(key),
            set_={column: insert_into.excluded[column] for column in update})
    return statement


_UPSERTS: dict[tuple[str, type[object], tuple[str, ...], tuple[str, ...]], Insert] = {}

INSERT_AUDIT = insert(AuditRow)


def audit(
    session: AsyncSession,
    *,
    at: datetime,
    msisdn: str | None,
    channel: str,
    action: str,
    details: Mapping[str, object] | None = None,
) -> None:
    """Add an audit row to the transaction. Callers never pass a password or an SMS body."""
    session.add(AuditRow(**audit_values(at=at, msisdn=msisdn, channel=channel, action=action,
                                        details=details)))


def audit_values(
    *,
    at: datetime,
    msisdn: str | None,
    channel: str,
    action: str,
    details: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The columns of one audit row (for ``INSERT_AUDIT`` in a Core transaction)."""
    return {
        "at": at,
        "msisdn": msisdn,
        "channel": channel,
        "action": action,
        "details": json.dumps(dict(details or {}), default=str, sort_keys=True),
    }
