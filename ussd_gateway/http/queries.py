"""Read-only views the API shows and the services do not (yet) offer.

Only reads live here: every change goes through ``ussd_gateway.services``, so the API and the
USSD menus apply the same rules and write the same audit records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..services.outbox import OutboxMessage
from ..store.database import Database
from ..store.models import (
    AuditRow,
    LinkApplicationNumberRow,
    LinkApplicationRow,
    OutboxRow,
)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    channel: str
    action: str
    details: dict[str, Any]


@dataclass(frozen=True)
class ApplicationSummary:
    id: int
    applicant: str
    region: str
    numbers: tuple[str, ...]
    status: str
    submitted_at: datetime
    review_due_at: datetime
    decision_reason: str | None


async def applications(db: Database, *, applicant: str | None = None,
                       status: str | None = None, limit: int = 100
                       ) -> tuple[ApplicationSummary, ...]:
    """Newest first."""
    query = select(LinkApplicationRow).order_by(LinkApplicationRow.id.desc()).limit(limit)
    if applicant is not None:
        query = query.where(LinkApplicationRow.applicant == applicant)
    if status is not None:
        query = query.where(LinkApplicationRow.status == status)
    async with db.read() as session:
        rows = list(await session.scalars(query))
        numbers: dict[int, list[str]] = {row.id: [] for row in rows}
        if rows:
            pairs = await session.execute(
                select(LinkApplicationNumberRow.application_id, LinkApplicationNumberRow.msisdn)
                .where(LinkApplicationNumberRow.application_id.in_(list(numbers)))
                .order_by(LinkApplicationNumberRow.msisdn))
            for application_id, number in pairs:
                numbers[application_id].append(number)
    return tuple(ApplicationSummary(id=row.id, applicant=row.applicant, region=row.region,
                                    numbers=tuple(numbers[row.id]), status=row.status,
                                    submitted_at=row.submitted_at,
                                    review_due_at=row.review_due_at,
                                    decision_reason=row.decision_reason) for row in rows)


async def audit_trail(db: Database, msisdn: str, *, limit: int = 200) -> tuple[AuditEntry, ...]:
    """Newest first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(AuditRow).where(AuditRow.msisdn == msisdn)
            .order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit))
        return tuple(AuditEntry(at=row.at, channel=row.channel, action=row.action,
                                details=_details(row.details)) for row in rows)


async def recent_outbox(db: Database, *, destination: str | None = None,
                        state: str | None = None, limit: int = 100
                        ) -> tuple[OutboxMessage, ...]:
    """Newest first, never with a body."""
    query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
    if destination is not None:
        query = query.where(OutboxRow.destination == destination)
    if state is not None:
        query = query.where(OutboxRow.state == state)
    async with db.read() as session:
        rows = await session.scalars(query)
        return tuple(OutboxMessage(
            id=row.id, destination=row.destination, purpose=row.purpose, secret=row.secret,
            state=row.state, attempts=row.attempts, created_at=row.created_at,
            smsc_message_id=row.smsc_message_id, receipt_state=row.receipt_state,
            has_body=row.body is not None or row.body_encrypted is not None,
            last_error=row.last_error) for row in rows)


def _details(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
