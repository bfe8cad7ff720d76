"""The services catalogue and enabling its services: the connection price is debited once, in
the same transaction, or nothing happens at all. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, text, update

from ussd_gateway.services import (
    NUMBER_MANAGEMENT,
    AlreadyDisabled,
    AlreadyEnabled,
    Balance,
    CannotAfford,
    Disabled,
    Enabled,
    NotSubscriber,
    PriceInOtherCurrency,
    SelfCare,
    UnknownService,
    seed_demo,
)
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import AuditRow, EnabledServiceRow, ServiceRow

ALICE = "79161234567"
NAMES = {"ru": "Гудок", "en": "Ringback tone"}


@pytest.fixture
async def care(selfcare: SelfCare) -> SelfCare:
    await selfcare.subscribers.upsert(ALICE, owner="Alice", region="Moscow", channel="test")
    await selfcare.balance.top_up(ALICE, 10_000, channel="test")
    await selfcare.catalogue.put("ringback", names=NAMES, connection_price_minor=3_000,
                                 monthly_fee_minor=6_000, channel="operator:olga")
    return selfcare


async def _enabled(db: Database, msisdn: str) -> list[str]:
    async with db.read() as session:
        return list(await session.scalars(
            select(EnabledServiceRow.service_code).where(EnabledServiceRow.msisdn == msisdn)
            .order_by(EnabledServiceRow.service_code)))


async def _trail(db: Database, msisdn: str) -> list[tuple[str, str, dict[str, object]]]:
    async with db.read() as session:
        rows = (await session.execute(
            select(AuditRow.action, AuditRow.channel, AuditRow.details)
            .where(AuditRow.msisdn == msisdn,
                   AuditRow.action.in_(["service.enabled", "service.disabled",
                                        "balance.debit"]))
            .order_by(AuditRow.id))).all()
    return [(action, channel, json.loads(details)) for action, channel, details in rows]


async def test_enabling_debits_the_connection_price_once_and_audits_it(
        care: SelfCare, db: Database) -> None:
    assert await care.optional_services.enable(ALICE, "ringback", channel="web") == Enabled()
    assert await care.balance.get(ALICE) == Balance(7_000, "RUB")
    assert await care.optional_services.enable(ALICE, "ringback", channel="ussd") == (
        AlreadyEnabled())
    assert await care.balance.get(ALICE) == Balance(7_000, "RUB"), "charged a second time"
    assert await _enabled(db, ALICE) == ["ringback"]
    assert await _trail(db, ALICE) == [
        ("balance.debit", "web", {"amount_minor": 3_000, "currency": "RUB",
                                  "reference": "service:ringback", "balance_minor": 7_000}),
        ("service.enabled", "web", {"service": "ringback", "connection_price_minor": 3_000,
                                    "currency": "RUB"}),
    ]


async def test_a_short_balance_enables_nothing_and_debits_nothing(
        care: SelfCare, db: Database) -> None:
    await care.catalogue.put("concierge", names={"ru": "Консьерж", "en": "Concierge"},
                             connection_price_minor=10_001, monthly_fee_minor=0, channel="test")
    result = await care.optional_services.enable(ALICE, "concierge", channel="web")
    assert result == CannotAfford(price=Balance(10_001, "RUB"), balance=Balance(10_000, "RUB"))
    assert await care.balance.get(ALICE) == Balance(10_000, "RUB")
    assert await _enabled(db, ALICE) == []
    assert await _trail(db, ALICE) == []


async def test_the_whole_balance_may_pay_for_a_service(care: SelfCare) -> None:
    await care.catalogue.put("concierge", names={"ru": "Консьерж", "en": "Concierge"},
                             connection_price_minor=10_000, monthly_fee_minor=0, channel="test")
    assert await care.optional_services.enable(ALICE, "concierge", channel="web") == Enabled()
    assert await care.balance.get(ALICE) == Balance(0, "RUB")


async def test_a_price_in_another_currency_is_refused(care: SelfCare, db: Database) -> None:
    await care.catalogue.put("roaming_eu", names={"ru": "Роуминг", "en": "Roaming"},
                             connection_price_minor=500, monthly_fee_minor=0, currency="EUR",
                             channel="test")
    result = await care.optional_services.enable(ALICE, "roaming_eu", channel="web")
    assert result == PriceInOtherCurrency(price=Balance(500, "EUR"),
                                          balance=Balance(10_000, "RUB"))
    assert await _enabled(db, ALICE) == []
    assert await care.balance.get(ALICE) == Balance(10_000, "RUB")


async def test_disabling_is_free_and_enabling_again_is_paid_again(
        care: SelfCare, db: Database) -> None:
    await care.optional_services.enable(ALICE, "ringback", channel="web")
    assert await care.optional_services.disable(ALICE, "ringback", channel="web") == Disabled()
    assert await care.optional_services.disable(ALICE, "ringback", channel="web") == (
        AlreadyDisabled())
    assert await care.balance.get(ALICE) == Balance(7_000, "RUB")
    assert await care.optional_services.enable(ALICE, "ringback", channel="web") == Enabled()
    assert await care.balance.get(ALICE) == Balance(4_000, "RUB")
    assert [action for action, _, _ in await _trail(db, ALICE)] == [
        "balance.debit", "service.enabled", "service.disabled", "balance.debit",
        "service.enabled"]


async def test_unknown_services_and_numbers_are_refused(care: SelfCare) -> None:
    services = care.optional_services
    assert await services.enable(ALICE, "roaming", channel="web") == UnknownService("roaming")
    assert await services.disable(ALICE, "roaming", channel="web") == UnknownService("roaming")
    assert await services.enable("79990000000", "ringback", channel="web") == NotSubscriber()
    assert await services.disable("79990000000", "ringback", channel="web") == NotSubscriber()
    await care.subscribers.upsert(ALICE, owner="Alice", region="Moscow", status="blocked",
                                  channel="operator:support")
    assert await services.enable(ALICE, "ringback", channel="web") == NotSubscriber()
    assert await care.balance.get(ALICE) == Balance(10_000, "RUB")


async def test_number_management_stays_free_whatever_the_catalogue_says(
        care: SelfCare, db: Database) -> None:
    async with db.write() as session:  # not possible through the catalogue: it refuses
        await session.execute(update(ServiceRow).where(ServiceRow.code == NUMBER_MANAGEMENT)
                              .values(connection_price_minor=5_000))
    services = care.optional_services
    assert await services.enable(ALICE, NUMBER_MANAGEMENT, channel="web") == Enabled()
    assert await services.enable(ALICE, NUMBER_MANAGEMENT, channel="web") == AlreadyEnabled()
    assert await care.numbers.is_enabled(ALICE)
    assert await care.balance.get(ALICE) == Balance(10_000, "RUB")
    assert await services.disable(ALICE, NUMBER_MANAGEMENT, channel="web") == Disabled()
    assert not await care.numbers.is_enabled(ALICE)


async def test_concurrent_enables_charge_once(care: SelfCare) -> None:
    results = await asyncio.gather(*(
        care.optional_services.enable(ALICE, "ringback", channel="web") for _ in range(8)))
    assert results.count(Enabled()) == 1
    assert results.count(AlreadyEnabled()) == 7
    assert await care.balance.get(ALICE) == Balance(7_000, "RUB")


async def test_two_services_racing_for_one_balance_never_overdraw_it(care: SelfCare) -> None:
    for code in ("first", "second"):
        await care.catalogue.put(code, names={"ru": code, "en": code},
                                 connection_price_minor=6_000, monthly_fee_minor=0,
                                 channel="test")
    results = await asyncio.gather(
        care.optional_services.enable(ALICE, "first", channel="web"),
        care.optional_services.enable(ALICE, "second", channel="web"))
    assert sorted(type(result).__name__ for result in results) == ["CannotAfford", "Enabled"]
    assert await care.balance.get(ALICE) == Balance(4_000, "RUB")


# --- the catalogue itself ---------------------------------------------------------------------
async def test_the_catalogue_names_services_per_language_and_lists_them_by_code(
        care: SelfCare) -> None:
    entries = await care.catalogue.entries()
    assert [entry.code for entry in entries] == [NUMBER_MANAGEMENT, "ringback"]
    ringback = entries[1]
    assert ringback.name_in("ru") == "Гудок" and ringback.name_in("en") == "Ringback tone"
    assert ringback.name_in("kk") == "Гудок", "a language without a name gets the default"
    assert (ringback.connection_price_minor, ringback.monthly_fee_minor) == (3_000, 6_000)
    assert entries[0].name_in("ru") == "Управление номерами"
    await care.optional_services.enable(ALICE, "ringback", channel="web")
    offered = {offer.entry.code: offer.enabled
               for offer in await care.catalogue.offered_to(ALICE)}
    assert offered == {NUMBER_MANAGEMENT: False, "ringback": True}


async def test_changing_an_entry_keeps_who_has_it_and_audits_the_change(
        care: SelfCare, db: Database) -> None:
    await care.optional_services.enable(ALICE, "ringback", channel="web")
    entry, created = await care.catalogue.put(
        "ringback", names={**NAMES, "en": "Ringtone"}, connection_price_minor=100,
        monthly_fee_minor=6_000, channel="operator:olga")
    assert not created
    assert entry.name_in("en") == "Ringtone"
    assert await care.catalogue.get("ringback") == entry
    assert await _enabled(db, ALICE) == ["ringback"]
    async with db.read() as session:
        rows = (await session.execute(
            select(AuditRow.action, AuditRow.channel, AuditRow.details)
            .where(AuditRow.action.like("catalogue.%")).order_by(AuditRow.id))).all()
    assert [(action, channel) for action, channel, _ in rows] == [
        ("catalogue.created", "operator:olga"), ("catalogue.updated", "operator:olga")]
    assert json.loads(rows[1][2]) == {
        "service": "ringback",
        "connection_price_minor": {"from": 3_000, "to": 100},
        "names": {"from": NAMES, "to": {**NAMES, "en": "Ringtone"}}}


@pytest.mark.parametrize(("code", "names", "price", "fee", "currency", "message"), [
    ("Ringback", NAMES, 0, 0, None, "service code"),
    ("x", NAMES, 0, 0, None, "service code"),
    ("ringback", {"ru": "Гудок"}, 0, 0, None, "the name in en is missing"),
    ("ringback", {**NAMES, "de": "Klingelton"}, 0, 0, None, "de is not one of the languages"),
    ("ringback", {**NAMES, "en": "  "}, 0, 0, None, "the name in en is missing"),
    ("ringback", NAMES, -1, 0, None, "connection_price_minor must be"),
    ("ringback", NAMES, 0, 10**13, None, "monthly_fee_minor must be"),
    ("ringback", NAMES, 0, 0, "rub", "ISO 4217"),
    (NUMBER_MANAGEMENT, NAMES, 1, 0, None, "number management is free"),
])
async def test_a_bad_entry_is_refused_saying_what_is_wrong(
        care: SelfCare, code: str, names: dict[str, str], price: int, fee: int,
        currency: str | None, message: str) -> None:
    before = await care.catalogue.entries()
    with pytest.raises(ValueError, match=message):
        await care.catalogue.put(code, names=names, connection_price_minor=price,
                                 monthly_fee_minor=fee, currency=currency, channel="test")
    assert await care.catalogue.entries() == before


async def test_demo_services_are_seeded_once_and_operator_changes_survive(
        db: Database, selfcare: SelfCare) -> None:
    await seed_demo(db)
    ringback = await selfcare.catalogue.get("ringback")
    assert ringback is not None and ringback.connection_price_minor > 0
    caller_id = await selfcare.catalogue.get("caller_id")
    assert caller_id is not None and caller_id.connection_price_minor == 0
    assert caller_id.monthly_fee_minor > 0
    await selfcare.catalogue.put("ringback", names=dict(ringback.names),
                                 connection_price_minor=1, monthly_fee_minor=1, channel="test")
    await seed_demo(db)
    again = await selfcare.catalogue.get("ringback")
    assert again is not None and again.connection_price_minor == 1
    async with db.read() as session:
        count = (await session.execute(text("SELECT count(*) FROM services"))).scalar()
    assert count == 3
