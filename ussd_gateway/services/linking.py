"""Linking numbers into one personal account: applications, review, account groups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_gateway.services.calendar import WorkingCalendar
from ussd_gateway.services.common import Clock, audit, check_channel, utc_now
from ussd_gateway.services.numbers import NUMBER_MANAGEMENT
from ussd_gateway.services.results import (
    ApplicationAccepted,
    ApplicationAlreadyDecided,
    ApplicationApproved,
    ApplicationNotFound,
    ApplicationRefused,
    ApplicationRejected,
    LinkApplication,
    Refusal,
    RefusalReason,
)
from ussd_gateway.services.settings import ServiceSettings
from ussd_gateway.store.database import Database, StoreUnavailable
from ussd_gateway.store.models import (
    AccountGroupRow,
    CredentialRow,
    EnabledServiceRow,
    GroupMemberRow,
    LinkApplicationNumberRow,
    LinkApplicationRow,
    SubscriberRow,
)

log = logging.getLogger(__name__)

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
AUTO_APPROVAL_CHANNEL = "system:auto-approval"


class LinkingService:
    def __init__(
        self, db: Database, settings: ServiceSettings | None = None, clock: Clock = utc_now
    ) -> None:
        self._db = db
        linking = (settings or ServiceSettings()).linking
        self._review_days = linking.review_working_days
        self.calendar = WorkingCalendar(
            holidays=linking.holidays,
            weekend=linking.weekend,
            working_weekends=linking.working_weekends,
            utc_offset=linking.utc_offset,
        )
        self._clock = clock

    async def apply(
        self,
        applicant: str,
        numbers: Sequence[str],
        *,
        channel: str,
        region: str | None = None,
    ) -> ApplicationAccepted | ApplicationRefused:
        """File an application to add ``numbers`` to ``applicant``'s account.

        Refused, naming each number and why, unless every number exists, has number
        management, and has the applicant's owner and region (``region``, when the form
        names one, must be the applicant's too).
        """
        check_channel(channel)
        now = self._clock()
        async with self._db.write() as session:
            refusals = await _check(session, applicant, list(numbers), region)
            if refusals:
                return ApplicationRefused(tuple(refusals))
            applicant_row = await session.get(SubscriberRow, applicant)
            assert applicant_row is not None
            due = self.calendar.add_working_days(now, self._review_days)
            application = LinkApplicationRow(
                applicant=applicant,
                region=applicant_row.region,
                status=PENDING,
                submitted_at=now,
                review_due_at=due,
                channel=channel,
            )
            session.add(application)
            await session.flush()
            for number in dict.fromkeys(numbers):
                session.add(LinkApplicationNumberRow(application_id=application.id, msisdn=number))
            audit(
                session,
                at=now,
                msisdn=applicant,
                channel=channel,
                action="link.applied",
                details={
                    "application": application.id,
                    "numbers": list(numbers),
                    "review_due_at": due.isoformat(),
                },
            )
            return ApplicationAccepted(application_id=application.id, review_due_at=due)

    async def approve(
        self, application_id: int, *, channel: str
    ) -> (
        ApplicationApproved | ApplicationRejected | ApplicationNotFound | ApplicationAlreadyDecided
    ):
        """Approve (an operator, or the automatic approval when the review is due). The rules
        are checked again: an application that no longer meets them is rejected instead."""
        check_channel(channel)
        now = self._clock()
        async with self._db.write() as session:
            application = await _lock_application(session, application_id)
            if application is None:
                return ApplicationNotFound(application_id)
            if application.status != PENDING:
                return ApplicationAlreadyDecided(application_id, application.status)
            numbers = await _numbers_of(session, application_id)
            refusals = await _check(session, application.applicant, list(numbers), None)
            if refusals:
                reason = "; ".join(str(refusal) for refusal in refusals)
                return _reject(session, application, now, channel, reason)
            group_id = await _group_of(session, application.applicant)
            if group_id is None:
                applicant = await session.get(SubscriberRow, application.applicant)
                assert applicant is not None
                group = AccountGroupRow(
                    owner=applicant.owner, region=applicant.region, created_at=now
                )
                session.add(group)
                await session.flush()
                group_id = group.id
                session.add(
                    GroupMemberRow(
                        msisdn=application.applicant,
                        group_id=group_id,
                        role="primary",
                        joined_at=now,
                    )
                )
            for number in numbers:
                session.add(
                    GroupMemberRow(msisdn=number, group_id=group_id, role="member", joined_at=now)
                )
                credential = await session.get(CredentialRow, number)
                if credential is not None:  # each added number sets its own password
                    credential.must_change = True
                    credential.updated_at = now
                audit(
                    session,
                    at=now,
                    msisdn=number,
                    channel=channel,
                    action="link.joined",
                    details={"application": application_id, "group": group_id},
                )
            _decide(application, APPROVED, now, channel, None)
            audit(
                session,
                at=now,
                msisdn=application.applicant,
                channel=channel,
                action="link.approved",
                details={
                    "application": application_id,
                    "group": group_id,
                    "numbers": list(numbers),
                },
            )
            return ApplicationApproved(application_id, group_id, numbers)

    async def reject(
        self, application_id: int, reason: str, *, channel: str
    ) -> ApplicationRejected | ApplicationNotFound | ApplicationAlreadyDecided:
        check_channel(channel)
        now = self._clock()
        async with self._db.write() as session:
            application = await _lock_application(session, application_id)
            if application is None:
                return ApplicationNotFound(application_id)
            if application.status != PENDING:
                return ApplicationAlreadyDecided(application_id, application.status)
            return _reject(session, application, now, channel, reason)

    async def approve_due(
        self, *, channel: str = AUTO_APPROVAL_CHANNEL
    ) -> tuple[ApplicationApproved | ApplicationRejected, ...]:
        """Decide every pending application whose review period (working days) is over.
        The gateway calls this periodically."""
        now = self._clock()
        async with self._db.read() as session:
            due = list(
                await session.scalars(
                    select(LinkApplicationRow.id)
                    .where(
                        LinkApplicationRow.status == PENDING,
                        LinkApplicationRow.review_due_at <= now,
                    )
                    .order_by(LinkApplicationRow.id)
                )
            )
        decided: list[ApplicationApproved | ApplicationRejected] = []
        for application_id in due:
            outcome = await self.approve(application_id, channel=channel)
            if isinstance(outcome, ApplicationApproved | ApplicationRejected):
                decided.append(outcome)
        return tuple(decided)

    async def run_auto_approval(
        self,
        every: timedelta = timedelta(minutes=5),
        on_decided: Callable[[tuple[ApplicationApproved | ApplicationRejected, ...]], None]
        | None = None,
    ) -> None:
        """Call :meth:`approve_due` every ``every`` until cancelled (the gateway runs this as a
        task); a store that is down is retried at the next round. ``on_decided`` hears about
        every round that decided something (metrics, tests)."""
        while True:
            try:
                decided = await self.approve_due()
            except StoreUnavailable:
                log.warning("link applications: the store is unavailable, retrying later")
            else:
                if decided:
                    log.info("link applications: decided %d due applications", len(decided))
                    if on_decided is not None:
                        on_decided(decided)
            await asyncio.sleep(every.total_seconds())

    async def get(self, application_id: int) -> LinkApplication | None:
        async with self._db.read() as session:
            row = await session.get(LinkApplicationRow, application_id)
            if row is None:
                return None
            return LinkApplication(
                application_id=row.id,
                applicant=row.applicant,
                region=row.region,
                numbers=await _numbers_of(session, row.id),
                status=row.status,
                submitted_at=row.submitted_at,
                review_due_at=row.review_due_at,
                decision_reason=row.decision_reason,
            )

    async def group_numbers(self, msisdn: str) -> tuple[str, ...]:
        """The numbers linked with ``msisdn`` (itself included); empty when not linked."""
        async with self._db.read() as session:
            group_id = await _group_of(session, msisdn)
            if group_id is None:
                return ()
            members = await session.scalars(
                select(GroupMemberRow.msisdn)
                .where(GroupMemberRow.group_id == group_id)
                .order_by(GroupMemberRow.msisdn)
            )
            return tuple(members)


def _decide(
    application: LinkApplicationRow, status: str, now: datetime, channel: str, reason: str | None
) -> None:
    application.status = status
    application.decided_at = now
    application.decided_by = channel
    application.decision_reason = reason


def _reject(
    session: AsyncSession, application: LinkApplicationRow, now: datetime, channel: str,
    reason: str,
) -> ApplicationRejected:
    _decide(application, REJECTED, now, channel, reason)
    audit(
        session,
        at=now,
        msisdn=application.applicant,
        channel=channel,
        action="link.rejected",
        details={"application": application.id, "reason": reason},
    )
    return ApplicationRejected(application.id, reason)


async def _lock_application(
    session: AsyncSession, application_id: int
) -> LinkApplicationRow | None:
    result = await session.execute(
        select(LinkApplicationRow).where(LinkApplicationRow.id == application_id).with_for_update()
    )
    return result.scalar_one_or_none()


async def _numbers_of(session: AsyncSession, application_id: int) -> tuple[str, ...]:
    rows = await session.scalars(
        select(LinkApplicationNumberRow.msisdn)
        .where(LinkApplicationNumberRow.application_id == application_id)
        .order_by(LinkApplicationNumberRow.msisdn)
    )
    return tuple(rows)


async def _group_of(session: AsyncSession, msisdn: str) -> int | None:
    return await session.scalar(
        select(GroupMemberRow.group_id).where(GroupMemberRow.msisdn == msisdn)
    )


async def _check(
    session: AsyncSession, applicant: str, numbers: list[str], region: str | None
) -> list[Refusal]:
    """Every reason the application cannot be granted; empty when it can."""
    everyone = sorted({applicant, *numbers})
    # Lock in one order (sorted) so two applications cannot deadlock on PostgreSQL.
    rows = {
        row.msisdn: row
        for row in await session.scalars(
            select(SubscriberRow)
            .where(SubscriberRow.msisdn.in_(everyone))
            .order_by(SubscriberRow.msisdn)
            .with_for_update()
        )
    }
    managed = set(
        await session.scalars(
            select(EnabledServiceRow.msisdn).where(
                EnabledServiceRow.msisdn.in_(everyone),
                EnabledServiceRow.service_code == NUMBER_MANAGEMENT,
            )
        )
    )
    groups = {
        msisdn: group_id
        for msisdn, group_id in await session.execute(
            select(GroupMemberRow.msisdn, GroupMemberRow.group_id).where(
                GroupMemberRow.msisdn.in_(everyone)
            )
        )
    }
    refusals: list[Refusal] = []
    own = rows.get(applicant)
    if own is None or own.status != "active":
        return [Refusal(applicant, RefusalReason.NOT_SUBSCRIBER)]
    if applicant not in managed:
        refusals.append(Refusal(applicant, RefusalReason.NUMBER_MANAGEMENT_OFF))
    if region is not None and region != own.region:
        refusals.append(Refusal(applicant, RefusalReason.OTHER_REGION))
    if not numbers:
        refusals.append(Refusal(applicant, RefusalReason.NO_NUMBERS))
    seen: set[str] = set()
    for number in numbers:
        if number in seen:
            refusals.append(Refusal(number, RefusalReason.DUPLICATE))
            continue
        seen.add(number)
        if number == applicant:
            refusals.append(Refusal(number, RefusalReason.OWN_NUMBER))
            continue
        row = rows.get(number)
        if row is None or row.status != "active":
            refusals.append(Refusal(number, RefusalReason.NOT_SUBSCRIBER))
            continue
        if number not in managed:
            refusals.append(Refusal(number, RefusalReason.NUMBER_MANAGEMENT_OFF))
        if row.owner != own.owner:
            refusals.append(Refusal(number, RefusalReason.OTHER_OWNER))
        if row.region != own.region:
            refusals.append(Refusal(number, RefusalReason.OTHER_REGION))
        if number in groups:
            refusals.append(Refusal(number, RefusalReason.ALREADY_LINKED))
    return refusals
