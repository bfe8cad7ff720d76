"""Subscribers: lookup, language, upsert for imports and operators, the demo seed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ussd_gateway.services import Balance, SelfCare, Subscriber, seed_demo
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import AuditRow

ALICE = "79161234567"


async def test_upsert_creates_then_updates_only_what_changed(
    selfcare: SelfCare, db: Database
) -> None:
    created = await selfcare.subscribers.upsert(
        ALICE, owner="Alice", region="Moscow", channel="operator:import"
    )
    assert created == Subscriber(ALICE, "Alice", "Moscow", "ru", "active")
    assert await selfcare.balance.get(ALICE) == Balance(0, "RUB")
    updated = await selfcare.subscribers.upsert(
        ALICE, owner="Alice", region="Tver", language="en", channel="operator:import"
    )
    assert updated == Subscriber(ALICE, "Alice", "Tver", "en", "active")
    assert await selfcare.subscribers.get(ALICE) == updated
    async with db.read() as session:
        rows = (await session.scalars(
            select(AuditRow).where(AuditRow.msisdn == ALICE).order_by(AuditRow.id)
        )).all()
    assert [row.action for row in rows] == ["subscriber.created", "subscriber.updated"]
    assert "Tver" in rows[1].details and "owner" not in rows[1].details


async def test_unknown_number_is_none(selfcare: SelfCare) -> None:
    assert await selfcare.subscribers.get("79990000000") is None
    assert await selfcare.subscribers.set_language("79990000000", "en", channel="ussd") is False


async def test_set_language(selfcare: SelfCare) -> None:
    await selfcare.subscribers.upsert(ALICE, owner="Alice", region="Moscow", channel="test")
    assert await selfcare.subscribers.set_language(ALICE, "en", channel="ussd") is True
    subscriber = await selfcare.subscribers.get(ALICE)
    assert subscriber is not None and subscriber.language == "en"
    with pytest.raises(ValueError, match="'xx' is not one of ru, en"):
        await selfcare.subscribers.set_language(ALICE, "xx", channel="ussd")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("status", "gone", "status must be"), ("currency", "rub", "ISO 4217"),
     ("owner", " ", "must not be empty")],
)
async def test_upsert_refuses_bad_values(
    selfcare: SelfCare, field: str, value: str, message: str
) -> None:
    values = {"owner": "Alice", "region": "Moscow", field: value}
    with pytest.raises(ValueError, match=message):
        await selfcare.subscribers.upsert(ALICE, channel="test", **values)


async def test_every_change_needs_a_channel(selfcare: SelfCare) -> None:
    with pytest.raises(ValueError, match="channel"):
        await selfcare.subscribers.upsert(ALICE, owner="A", region="B", channel="")


async def test_seed_demo_is_idempotent_and_fits_the_linking_rules(
    db: Database, selfcare: SelfCare
) -> None:
    first = await seed_demo(db)
    await selfcare.balance.top_up(first[0], 1, channel="test")
    assert await seed_demo(db) == first
    assert {"79160000001", "79160000002", "79160000003"} <= set(first)
    people = [await selfcare.subscribers.get(msisdn) for msisdn in first]
    assert all(person is not None for person in people)
    one, two, three = people[:3]
    assert one and two and three
    assert (one.owner, one.region) == (two.owner, two.region)
    assert three.owner != one.owner
    assert "en" in {person.language for person in people if person}
    balances = [await selfcare.balance.get(msisdn) for msisdn in first]
    assert all(balance is not None and balance.amount_minor > 0 for balance in balances)
    assert balances[0] == Balance(15_076, "RUB"), "a second seed leaves existing accounts alone"
    assert balances[1] == Balance(4_200, "RUB")


async def test_concurrent_creation_of_one_number_makes_one_subscriber(
    selfcare: SelfCare, db: Database
) -> None:
    import asyncio

    results = await asyncio.gather(*(
        selfcare.subscribers.upsert(ALICE, owner="Alice", region="Moscow", channel="import")
        for _ in range(6)
    ))
    assert set(results) == {Subscriber(ALICE, "Alice", "Moscow", "ru", "active")}
    async with db.read() as session:
        created = (await session.scalars(
            select(AuditRow).where(AuditRow.action == "subscriber.created")
        )).all()
    assert len(created) == 1


async def test_with_balance_reads_the_subscriber_and_balance_together(
    db: Database, selfcare: SelfCare
) -> None:
    first = (await seed_demo(db))[0]
    found = await selfcare.subscribers.with_balance(first)
    assert found is not None
    subscriber, balance = found
    assert subscriber == await selfcare.subscribers.get(first)
    assert balance == await selfcare.balance.get(first)
    assert await selfcare.subscribers.with_balance("79169999999") is None
