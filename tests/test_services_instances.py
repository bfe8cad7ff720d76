"""Several gateway instances over one store share the rate limits, lockouts and the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fixtures_services import FakeClock, RecordingTransport
from ussd_gateway.services import (
    InvalidCredentials,
    LockedOut,
    OutboxSender,
    OutboxSettings,
    PasswordIssued,
    RateLimited,
    SelfCare,
    ServiceSettings,
)
from ussd_gateway.store.database import Database

ALICE = "79161234567"


@pytest.fixture
async def second_instance(db: Database, db_url: str) -> AsyncIterator[Database]:
    """Another connection pool on the same store, as a second gateway process would have."""
    other = await Database.connect(db_url)
    try:
        yield other
    finally:
        await other.close()


@pytest.fixture
async def instances(
    selfcare: SelfCare, second_instance: Database, service_settings: ServiceSettings,
    clock: FakeClock,
) -> tuple[SelfCare, SelfCare]:
    await selfcare.subscribers.upsert(ALICE, owner="Alice", region="Moscow", channel="test")
    return selfcare, SelfCare.create(second_instance, service_settings, clock)


async def test_the_rate_limit_holds_across_instances(
    instances: tuple[SelfCare, SelfCare],
) -> None:
    results = await asyncio.gather(*(
        instances[n % 2].passwords.issue_temporary(ALICE, channel="ussd") for n in range(10)
    ))
    assert sum(isinstance(result, PasswordIssued) for result in results) == 3
    assert sum(isinstance(result, RateLimited) for result in results) == 7


async def test_the_lockout_holds_across_instances(
    instances: tuple[SelfCare, SelfCare], service_settings: ServiceSettings,
) -> None:
    await instances[0].passwords.issue_temporary(ALICE, channel="ussd")
    results = await asyncio.gather(*(
        instances[n % 2].passwords.verify_login(ALICE, f"guess-{n}", channel="web")
        for n in range(16)
    ))
    attempts_used = [r for r in results if isinstance(r, InvalidCredentials)]
    assert len(attempts_used) <= service_settings.passwords.max_failed_logins
    assert all(isinstance(r, InvalidCredentials | LockedOut) for r in results)
    after = await instances[1].passwords.verify_login(ALICE, "another", channel="web")
    assert isinstance(after, LockedOut)


async def test_senders_on_two_instances_send_each_sms_once(
    instances: tuple[SelfCare, SelfCare], db: Database, second_instance: Database,
    clock: FakeClock,
) -> None:
    for n in range(30):
        await instances[n % 2].outbox.enqueue(ALICE, f"message {n}")
    sms = RecordingTransport()
    settings = OutboxSettings(body_key="test body key", batch_size=4)
    counts = await asyncio.gather(
        OutboxSender(db, sms, settings, clock).drain_once(),
        OutboxSender(second_instance, sms, settings, clock).drain_once(),
    )
    assert sum(counts) == 30
    assert sorted(text for _, text, _ in sms.accepted) == sorted(f"message {n}" for n in range(30))
