"""What the store says, read by the test itself: committed passwords, unsent SMS, integrity."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from ussd_gateway.security.hashing import TemporaryHasher
from ussd_gateway.security.passwords import LOOK_ALIKE_FREE_ALPHABET
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import CredentialRow, OutboxRow


def passwords_in(text: str, length: int = 8) -> list[str]:
    """Every word of the SMS that looks like a generated password."""
    words = re.findall(r"[^\s.,:;!?()«»\"']+", text)
    alphabet = set(LOOK_ALIKE_FREE_ALPHABET)
    return [w for w in words if len(w) == length and set(w) <= alphabet]


async def committed_passwords(url: str) -> dict[str, str]:
    """msisdn -> the keyed hash of its temporary password, for every committed password."""
    db = await Database.connect(url)
    try:
        async with db.read() as session:
            rows = await session.execute(select(CredentialRow.msisdn,
                                                 CredentialRow.temporary_hash))
            return {msisdn: digest for msisdn, digest in rows if digest}
    finally:
        await db.close()


async def outbox_states(url: str) -> dict[str, int]:
    db = await Database.connect(url)
    try:
        async with db.read() as session:
            states = list(await session.scalars(select(OutboxRow.state)))
    finally:
        await db.close()
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row as the test sees it (never its body)."""

    id: int
    destination: str
    state: str
    attempts: int
    claimed_until: datetime | None
    sent_at: datetime | None


async def outbox_entries(url: str) -> list[OutboxEntry]:
    db = await Database.connect(url)
    try:
        async with db.read() as session:
            rows = await session.execute(
                select(OutboxRow.id, OutboxRow.destination, OutboxRow.state, OutboxRow.attempts,
                       OutboxRow.claimed_until, OutboxRow.sent_at).order_by(OutboxRow.id))
            return [OutboxEntry(*row) for row in rows]
    finally:
        await db.close()


def matches(secret_key: str | bytes, msisdn: str, password: str, digest: str) -> bool:
    return TemporaryHasher(secret_key).verify(msisdn, password, digest)


async def integrity_check(database: Path) -> str:
    def check() -> str:
        with sqlite3.connect(database) as connection:
            return str(connection.execute("PRAGMA integrity_check").fetchone()[0])

    return await asyncio.to_thread(check)
