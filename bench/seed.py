"""Bench subscribers, created through the services as an operator import would."""

from __future__ import annotations

from ussd_gateway.services import SubscriberService
from ussd_gateway.store.database import Database

MSISDN_BASE = 79990000000


async def seed_subscribers(url: str, count: int, base: int = MSISDN_BASE) -> None:
    """Apply the schema and upsert ``count`` subscribers (``base`` + i) with language "ru"."""
    db = await Database.connect(url)
    try:
        await db.upgrade()
        subscribers = SubscriberService(db)
        for i in range(count):
            await subscribers.upsert(str(base + i), owner=f"Bench {i}", region="bench",
                                     channel="operator:bench", language="ru")
    finally:
        await db.close()
