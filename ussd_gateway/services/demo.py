"""Demo subscribers for `ussd-gateway demo` and the simulator."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

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


async def seed_demo(db: Database) -> list[str]:
    """Create the demo subscribers that are missing, with their starting balances.

    Safe to run on every start: existing subscribers, their balances and everything done
    with them survive a restart.
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
    return [row[0] for row in DEMO_SUBSCRIBERS]
