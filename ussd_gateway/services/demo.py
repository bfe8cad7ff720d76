"""Demo subscribers and catalogue services for `ussd-gateway demo` and the simulator."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from ussd_gateway.services.catalogue import CatalogueService
from ussd_gateway.services.subscribers import SubscriberService
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import BalanceRow

# msisdn, owner, region, language, balance in kopecks
DEMO_SUBSCRIBERS: tuple[tuple[str, str, str, str, int], ...] = (
    ("79160000001", "Ivan Petrov", "Moscow", "ru", 15_075),
    ("79160000002", "Ivan Petrov", "Moscow", "en", 4_200),
    ("79160000003", "Anna Smirnova", "Moscow", "ru", 99_900),
    # Ivan's too, but another region: the linking refusal for regions, on demo data.
    ("79160000004", "Ivan Petrov", "Tver", "ru", 1_000),
)

# code, (ru name, en name), connection price and monthly fee in kopecks. The ringback tone
# costs more to connect than 79160000004 has: the refusal for a short balance, on demo data.
DEMO_SERVICES: tuple[tuple[str, tuple[str, str], int, int], ...] = (
    ("ringback", ("Гудок", "Ringback tone"), 3_000, 6_000),
    ("caller_id", ("Определитель номера", "Caller ID"), 0, 1_500),
)


async def seed_demo(db: Database) -> list[str]:
    """Create the demo subscribers and catalogue services that are missing, with their
    starting balances and prices.

    Safe to run on every start: existing subscribers, their balances, catalogue entries an
    operator has changed, and everything done with them survive a restart.
    """
    subscribers = SubscriberService(db)
    now = datetime.now(UTC)
    for msisdn, owner, region, language, amount in DEMO_SUBSCRIBERS:
        if await subscribers.exists(msisdn):
            continue
        await subscribers.upsert(
            msisdn,
            owner=owner,
            region=region,
            language=language,
            currency="RUB",
            channel="demo",
        )
        async with db.write() as session:
            await session.execute(
                update(BalanceRow)
                .where(BalanceRow.msisdn == msisdn)
                .values(amount_minor=amount, updated_at=now)
            )
    catalogue = CatalogueService(db)
    for code, (russian, english), connection_price, monthly_fee in DEMO_SERVICES:
        if await catalogue.get(code) is None:
            await catalogue.put(code, names={"ru": russian, "en": english},
                                connection_price_minor=connection_price,
                                monthly_fee_minor=monthly_fee, currency="RUB", channel="demo")
    return [row[0] for row in DEMO_SUBSCRIBERS]
