# ruff: noqa: RUF001 (Cyrillic currency names)
"""Balance: formatted per language, the group's numbers, top-up and debit under concurrency."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from ussd_gateway.services import (
    ApplicationApproved,
    Balance,
    InsufficientFunds,
    NotSubscriber,
    NumberBalance,
    SelfCare,
    format_money,
)
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import AuditRow

ALICE, ALICE_2, BORIS = "79161234567", "79161234568", "79169999999"


@pytest.fixture
async def care(selfcare: SelfCare) -> SelfCare:
    for msisdn, owner in ((ALICE, "Alice"), (ALICE_2, "Alice"), (BORIS, "Boris")):
        await selfcare.subscribers.upsert(msisdn, owner=owner, region="Moscow", channel="test")
    return selfcare


@pytest.mark.parametrize(
    ("amount", "currency", "language", "shown"),
    [
        (15075, "RUB", "ru", "150,75 руб."),
        (1234567, "RUB", "ru", "12 345,67 руб."),
        (1234567, "RUB", "en", "12,345.67 RUB"),
        (5, "RUB", "en", "0.05 RUB"),
        (0, "USD", "en", "0.00 USD"),
        (-250, "RUB", "ru", "-2,50 руб."),
        (1500, "JPY", "en", "1,500 JPY"),
    ],
)
def test_money_is_formatted_for_the_language_and_currency(
    amount: int, currency: str, language: str, shown: str
) -> None:
    assert format_money(amount, currency, language) == shown


async def test_a_new_subscriber_has_a_zero_balance_and_unknown_has_none(care: SelfCare) -> None:
    assert await care.balance.get(ALICE) == Balance(0, "RUB")
    assert await care.balance.get("79990000000") is None


async def test_top_up_and_debit_move_money_and_are_audited(
    care: SelfCare, db: Database
) -> None:
    assert await care.balance.top_up(ALICE, 10_000, channel="operator:billing",
                                     reference="pay-1") == Balance(10_000, "RUB")
    assert await care.balance.debit(ALICE, 2_550, channel="operator:billing") == Balance(
        7_450, "RUB"
    )
    assert await care.balance.get(ALICE) == Balance(7_450, "RUB")
    async with db.read() as session:
        rows = (await session.scalars(
            select(AuditRow).where(AuditRow.msisdn == ALICE).order_by(AuditRow.id)
        )).all()
    money_rows = [row for row in rows if row.action.startswith("balance.")]
    assert [(row.action, row.channel) for row in money_rows] == [
        ("balance.top_up", "operator:billing"), ("balance.debit", "operator:billing")
    ]
    assert "pay-1" in money_rows[0].details


async def test_a_debit_larger_than_the_balance_is_refused_and_changes_nothing(
    care: SelfCare,
) -> None:
    await care.balance.top_up(ALICE, 1_000, channel="web")
    assert await care.balance.debit(ALICE, 1_001, channel="web") == InsufficientFunds(
        Balance(1_000, "RUB")
    )
    assert await care.balance.debit(ALICE, 1_000, channel="web") == Balance(0, "RUB")
    assert await care.balance.get(ALICE) == Balance(0, "RUB")


@pytest.mark.parametrize("amount", [0, -5, True])
async def test_amounts_must_be_positive_whole_minor_units(care: SelfCare, amount: int) -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        await care.balance.top_up(ALICE, amount, channel="web")
    with pytest.raises(ValueError, match="positive whole number"):
        await care.balance.debit(ALICE, amount, channel="web")


async def test_money_for_an_unknown_number_is_refused(care: SelfCare) -> None:
    assert await care.balance.top_up("79990000000", 100, channel="web") == NotSubscriber()
    assert await care.balance.debit("79990000000", 100, channel="web") == NotSubscriber()


async def test_concurrent_top_ups_all_count(care: SelfCare) -> None:
    await asyncio.gather(*(care.balance.top_up(ALICE, 100, channel="web") for _ in range(40)))
    assert await care.balance.get(ALICE) == Balance(4_000, "RUB")


async def test_concurrent_debits_never_go_negative(care: SelfCare) -> None:
    await care.balance.top_up(ALICE, 1_000, channel="web")
    results = await asyncio.gather(
        *(care.balance.debit(ALICE, 300, channel="web") for _ in range(10)),
        *(care.balance.top_up(ALICE, 1, channel="web") for _ in range(5)),
    )
    debits = results[:10]
    assert sum(isinstance(result, Balance) for result in debits) == 3
    assert all(isinstance(result, Balance | InsufficientFunds) for result in debits)
    assert await care.balance.get(ALICE) == Balance(1_000 - 900 + 5, "RUB")


async def test_a_linked_number_sees_the_groups_numbers_and_balances(care: SelfCare) -> None:
    await care.balance.top_up(ALICE, 500, channel="web")
    await care.balance.top_up(ALICE_2, 700, channel="web")
    assert await care.balance.group_balances(ALICE_2) == (
        NumberBalance(ALICE_2, Balance(700, "RUB")),
    )
    for msisdn in (ALICE, ALICE_2):
        await care.numbers.enable(msisdn, channel="ussd")
    accepted = await care.linking.apply(ALICE, [ALICE_2], channel="web")
    approved = await care.linking.approve(accepted.application_id,  # type: ignore[union-attr]
                                          channel="operator:alice-admin")
    assert isinstance(approved, ApplicationApproved)
    assert await care.balance.group_balances(ALICE_2) == (
        NumberBalance(ALICE_2, Balance(700, "RUB")),
        NumberBalance(ALICE, Balance(500, "RUB")),
    )
    assert [line.msisdn for line in await care.balance.group_balances(ALICE)] == [ALICE, ALICE_2]
    assert await care.balance.group_balances(BORIS) == (NumberBalance(BORIS, Balance(0, "RUB")),)
    assert await care.balance.group_balances("79990000000") == ()
