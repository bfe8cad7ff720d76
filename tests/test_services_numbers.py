"""Number management (*111*828*1#): free, idempotent, audited."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from ussd_gateway.services import (
    AlreadyDisabled,
    AlreadyEnabled,
    Balance,
    Disabled,
    Enabled,
    NotSubscriber,
    SelfCare,
)
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import AuditRow

ALICE = "79161234567"


@pytest.fixture
async def care(selfcare: SelfCare) -> SelfCare:
    await selfcare.subscribers.upsert(ALICE, owner="Alice", region="Moscow", channel="test")
    await selfcare.balance.top_up(ALICE, 1_000, channel="test")
    return selfcare


async def test_enable_then_enable_again_then_disable_twice(care: SelfCare, db: Database) -> None:
    assert not await care.numbers.is_enabled(ALICE)
    assert await care.numbers.enable(ALICE, channel="ussd") == Enabled()
    assert await care.numbers.enable(ALICE, channel="web") == AlreadyEnabled()
    assert await care.numbers.is_enabled(ALICE)
    assert await care.numbers.disable(ALICE, channel="web") == Disabled()
    assert await care.numbers.disable(ALICE, channel="web") == AlreadyDisabled()
    assert not await care.numbers.is_enabled(ALICE)
    async with db.read() as session:
        rows = (await session.execute(
            select(AuditRow.action, AuditRow.channel)
            .where(AuditRow.msisdn == ALICE, AuditRow.action.like("service.%"))
            .order_by(AuditRow.id)
        )).all()
    assert [tuple(row) for row in rows] == [("service.enabled", "ussd"),
                                            ("service.disabled", "web")]


async def test_it_is_free(care: SelfCare) -> None:
    await care.numbers.enable(ALICE, channel="ussd")
    assert await care.balance.get(ALICE) == Balance(1_000, "RUB")


async def test_unknown_and_blocked_numbers_cannot_enable_it(care: SelfCare) -> None:
    assert await care.numbers.enable("79990000000", channel="ussd") == NotSubscriber()
    assert await care.numbers.disable("79990000000", channel="ussd") == NotSubscriber()
    await care.subscribers.upsert(ALICE, owner="Alice", region="Moscow", status="blocked",
                                  channel="operator:support")
    assert await care.numbers.enable(ALICE, channel="ussd") == NotSubscriber()


async def test_concurrent_enables_enable_once(care: SelfCare) -> None:
    results = await asyncio.gather(
        *(care.numbers.enable(ALICE, channel="ussd") for _ in range(10))
    )
    assert results.count(Enabled()) == 1
    assert results.count(AlreadyEnabled()) == 9
