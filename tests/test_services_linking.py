"""Linking numbers: the rules, each refusal, review in working days, the account group."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures_services import FakeClock, RecordingTransport
from ussd_gateway.services import (
    ApplicationAccepted,
    ApplicationAlreadyDecided,
    ApplicationApproved,
    ApplicationNotFound,
    ApplicationRefused,
    ApplicationRejected,
    LinkingService,
    LinkingSettings,
    LoginOk,
    OutboxSender,
    PasswordChanged,
    Refusal,
    RefusalReason,
    SelfCare,
    ServiceSettings,
    WorkingCalendar,
)
from ussd_gateway.store.database import Database

IVAN, IVAN_2, IVAN_3 = "79160000001", "79160000002", "79160000004"
ANNA = "79160000003"
IVAN_TVER = "79160000005"
IVAN_NO_NM = "79160000006"
UNKNOWN = "79990000000"

MSK = timedelta(hours=3)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- the working-day calendar (pure) ---------------------------------------------------------
def test_two_working_days_from_friday_afternoon_is_tuesday_afternoon() -> None:
    calendar = WorkingCalendar()
    friday = utc(2026, 11, 27, 15, 0)
    assert calendar.add_working_days(friday, 2) == utc(2026, 12, 1, 15, 0)


def test_counting_from_a_day_off_starts_at_the_next_working_morning() -> None:
    calendar = WorkingCalendar()
    saturday = utc(2026, 11, 28, 10, 0)
    assert calendar.add_working_days(saturday, 2) == utc(2026, 12, 2, 0, 0)


def test_holidays_are_skipped_and_a_declared_working_saturday_counts() -> None:
    calendar = WorkingCalendar(
        holidays=(date(2026, 12, 31), date(2027, 1, 1)),
        working_weekends=(date(2027, 1, 2),),
    )
    assert calendar.add_working_days(utc(2026, 12, 30, 9, 0), 1) == utc(2027, 1, 2, 9, 0)
    assert calendar.add_working_days(utc(2026, 12, 30, 9, 0), 2) == utc(2027, 1, 4, 9, 0)


def test_the_working_day_is_the_operators_local_day() -> None:
    moscow = WorkingCalendar(utc_offset=MSK)
    # 22:00 UTC on Friday is already Saturday 01:00 in Moscow: counting starts on Monday.
    assert moscow.add_working_days(utc(2026, 11, 27, 22, 0), 2) == utc(2026, 12, 1, 21, 0)


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                 timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=20),
)
def test_the_due_moment_is_never_earlier_and_lands_on_a_working_day(
    start: datetime, days: int
) -> None:
    calendar = WorkingCalendar(holidays=(date(2026, 1, 1), date(2026, 1, 2)), utc_offset=MSK)
    due = calendar.add_working_days(start, days)
    assert due >= start
    assert due - start >= timedelta(days=days) - timedelta(days=1)
    assert calendar.is_working_day(due.astimezone(calendar._zone).date()) or days == 0


# --- the service against the store ----------------------------------------------------------
@pytest.fixture
async def care(selfcare: SelfCare) -> SelfCare:
    people = [
        (IVAN, "Ivan Petrov", "Moscow"),
        (IVAN_2, "Ivan Petrov", "Moscow"),
        (IVAN_3, "Ivan Petrov", "Moscow"),
        (ANNA, "Anna Smirnova", "Moscow"),
        (IVAN_TVER, "Ivan Petrov", "Tver"),
        (IVAN_NO_NM, "Ivan Petrov", "Moscow"),
    ]
    for msisdn, owner, region in people:
        await selfcare.subscribers.upsert(msisdn, owner=owner, region=region, channel="test")
        if msisdn != IVAN_NO_NM:
            await selfcare.numbers.enable(msisdn, channel="test")
    return selfcare


async def test_every_refusal_names_the_number_and_why(care: SelfCare) -> None:
    result = await care.linking.apply(
        IVAN, [IVAN_2, ANNA, IVAN_TVER, IVAN_NO_NM, UNKNOWN, IVAN, IVAN_2], channel="web"
    )
    assert result == ApplicationRefused((
        Refusal(ANNA, RefusalReason.OTHER_OWNER),
        Refusal(IVAN_TVER, RefusalReason.OTHER_REGION),
        Refusal(IVAN_NO_NM, RefusalReason.NUMBER_MANAGEMENT_OFF),
        Refusal(UNKNOWN, RefusalReason.NOT_SUBSCRIBER),
        Refusal(IVAN, RefusalReason.OWN_NUMBER),
        Refusal(IVAN_2, RefusalReason.DUPLICATE),
    ))
    assert str(result.refusals[0]) == f"{ANNA} belongs to another person"


async def test_the_applicant_needs_number_management_and_the_forms_region(
    care: SelfCare,
) -> None:
    assert await care.linking.apply(IVAN_NO_NM, [IVAN_2], channel="web") == ApplicationRefused(
        (Refusal(IVAN_NO_NM, RefusalReason.NUMBER_MANAGEMENT_OFF),)
    )
    assert await care.linking.apply(IVAN, [IVAN_2], channel="web", region="Tver") == (
        ApplicationRefused((Refusal(IVAN, RefusalReason.OTHER_REGION),))
    )
    assert await care.linking.apply(UNKNOWN, [IVAN_2], channel="web") == ApplicationRefused(
        (Refusal(UNKNOWN, RefusalReason.NOT_SUBSCRIBER),)
    )
    assert await care.linking.apply(IVAN, [], channel="web") == ApplicationRefused(
        (Refusal(IVAN, RefusalReason.NO_NUMBERS),)
    )


async def test_an_application_waits_two_working_days_then_is_approved_automatically(
    care: SelfCare, clock: FakeClock
) -> None:
    # The fixture clock is Wednesday 10:00 UTC (13:00 in Moscow).
    accepted = await care.linking.apply(IVAN, [IVAN_2, IVAN_3], channel="web", region="Moscow")
    assert accepted == ApplicationAccepted(1, review_due_at=utc(2026, 11, 27, 10, 0))
    application = await care.linking.get(1)
    assert application is not None and application.status == "pending"
    assert application.numbers == (IVAN_2, IVAN_3)
    clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert await care.linking.approve_due() == ()
    clock.advance(timedelta(seconds=1))
    [approved] = await care.linking.approve_due()
    assert isinstance(approved, ApplicationApproved) and approved.added == (IVAN_2, IVAN_3)
    assert await care.linking.group_numbers(IVAN_3) == (IVAN, IVAN_2, IVAN_3)
    decided = await care.linking.get(1)
    assert decided is not None and decided.status == "approved"
    assert await care.linking.approve_due() == ()


async def test_a_weekend_and_holidays_push_the_automatic_approval(
    db: Database, care: SelfCare, clock: FakeClock
) -> None:
    settings = LinkingSettings(holidays=(date(2026, 11, 30),), utc_offset=MSK)
    linking = LinkingService(db, ServiceSettings(linking=settings), clock)
    clock.now = utc(2026, 11, 27, 9, 0)  # Friday 12:00 in Moscow; Monday is a holiday
    accepted = await linking.apply(IVAN, [IVAN_2], channel="web")
    assert isinstance(accepted, ApplicationAccepted)
    assert accepted.review_due_at == utc(2026, 12, 2, 9, 0)  # Wednesday 12:00 in Moscow
    clock.now = utc(2026, 12, 1, 9, 0)
    assert await linking.approve_due() == ()
    clock.now = utc(2026, 12, 2, 9, 0)
    assert len(await linking.approve_due()) == 1


async def test_an_operator_approves_or_rejects_once(care: SelfCare) -> None:
    first = await care.linking.apply(IVAN, [IVAN_2], channel="web")
    second = await care.linking.apply(IVAN, [IVAN_3], channel="web")
    assert isinstance(first, ApplicationAccepted) and isinstance(second, ApplicationAccepted)
    approved = await care.linking.approve(first.application_id, channel="operator:olga")
    assert isinstance(approved, ApplicationApproved)
    assert await care.linking.approve(first.application_id, channel="operator:olga") == (
        ApplicationAlreadyDecided(first.application_id, "approved")
    )
    assert await care.linking.reject(second.application_id, "documents missing",
                                     channel="operator:olga") == (
        ApplicationRejected(second.application_id, "documents missing")
    )
    rejected = await care.linking.get(second.application_id)
    assert rejected is not None and rejected.decision_reason == "documents missing"
    assert await care.linking.approve(999, channel="operator:olga") == ApplicationNotFound(999)
    assert await care.linking.reject(999, "x", channel="operator:olga") == ApplicationNotFound(999)
    assert await care.linking.group_numbers(IVAN_3) == ()


async def test_a_later_application_adds_to_the_same_group_and_linked_numbers_are_refused(
    care: SelfCare,
) -> None:
    first = await care.linking.apply(IVAN, [IVAN_2], channel="web")
    one = await care.linking.approve(first.application_id, channel="operator:olga")  # type: ignore[union-attr]
    second = await care.linking.apply(IVAN, [IVAN_3], channel="web")
    two = await care.linking.approve(second.application_id, channel="operator:olga")  # type: ignore[union-attr]
    assert isinstance(one, ApplicationApproved) and isinstance(two, ApplicationApproved)
    assert one.group_id == two.group_id
    assert await care.linking.group_numbers(IVAN) == (IVAN, IVAN_2, IVAN_3)
    assert await care.linking.apply(IVAN_2, [IVAN_3], channel="web") == ApplicationRefused(
        (Refusal(IVAN_3, RefusalReason.ALREADY_LINKED),)
    )


async def test_the_rules_are_checked_again_at_approval(care: SelfCare) -> None:
    accepted = await care.linking.apply(IVAN, [IVAN_2], channel="web")
    assert isinstance(accepted, ApplicationAccepted)
    await care.numbers.disable(IVAN_2, channel="ussd")
    outcome = await care.linking.approve(accepted.application_id, channel="operator:olga")
    assert outcome == ApplicationRejected(
        accepted.application_id, f"{IVAN_2} does not have number management enabled"
    )
    assert await care.linking.group_numbers(IVAN) == ()


async def test_each_added_number_must_set_its_own_password(
    care: SelfCare, db: Database, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = RecordingTransport()
    sender = OutboxSender(db, sms, service_settings.outbox, clock)
    await care.passwords.issue_temporary(IVAN_2, channel="ussd")
    await sender.drain_once()
    temporary = sms.password_sent_to(IVAN_2)
    chosen = "Own-Password-77"
    assert await care.passwords.change_password(IVAN_2, temporary, chosen, channel="web") == (
        PasswordChanged()
    )
    assert await care.passwords.verify_login(IVAN_2, chosen, channel="web") == LoginOk(False)
    accepted = await care.linking.apply(IVAN, [IVAN_2], channel="web")
    await care.linking.approve(accepted.application_id, channel="operator:olga")  # type: ignore[union-attr]
    assert await care.passwords.verify_login(IVAN_2, chosen, channel="web") == LoginOk(True)
    assert await care.passwords.change_password(
        IVAN_2, chosen, "Fresh-Password-78", channel="web"
    ) == PasswordChanged()
    assert await care.passwords.verify_login(IVAN_2, "Fresh-Password-78", channel="web") == (
        LoginOk(False)
    )


async def test_the_gateways_auto_approval_task_decides_due_applications(
    care: SelfCare, clock: FakeClock
) -> None:
    accepted = await care.linking.apply(IVAN, [IVAN_2], channel="web")
    assert isinstance(accepted, ApplicationAccepted)
    clock.now = accepted.review_due_at
    decided = asyncio.Event()
    task = asyncio.create_task(care.linking.run_auto_approval(
        every=timedelta(milliseconds=20), on_decided=lambda _: decided.set()
    ))
    try:
        await asyncio.wait_for(decided.wait(), 10)
    finally:
        task.cancel()
    assert await care.linking.group_numbers(IVAN) == (IVAN, IVAN_2)
    application = await care.linking.get(accepted.application_id)
    assert application is not None and application.status == "approved"
