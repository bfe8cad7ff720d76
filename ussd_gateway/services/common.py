"""Helpers shared by the services: the clock, row locks, audit records."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, bindparam, select
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


def upsert(dialect: str, model: type[Any], key: Sequence[str], update: Sequence[str]) -> Insert:
    """INSERT, or on a conflict over ``key`` set the ``update`` columns from the new row."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
    return statement.on_conflict_do_update(
        index_elements=list(key), set_={column: statement.excluded[column] for column in update})


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
    """The columns of one audit row (for ``insert(AuditRow)`` in a Core transaction)."""
    return {
        "at": at,
        "msisdn": msisdn,
        "channel": channel,
        "action": action,
        "details": json.dumps(dict(details or {}), default=str, sort_keys=True),
    }
