"""``Database.transact``: a write transaction as one synchronous Core body, on both stores;
on a SQLite file the whole body runs on the writer thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tests.fixtures_services import FakeClock
from ussd_gateway.store.database import Database, StoreUnavailable
from ussd_gateway.store.models import SubscriberRow


def _subscriber(msisdn: str, clock: FakeClock) -> dict[str, object]:
    return {"msisdn": msisdn, "owner": "O", "region": "R", "language": "ru",
            "status": "active", "created_at": clock(), "updated_at": clock()}


async def _numbers(db: Database) -> list[str]:
    async with db.read() as session:
        return list(await session.scalars(select(SubscriberRow.msisdn)
                                          .order_by(SubscriberRow.msisdn)))


async def test_what_the_body_writes_is_committed_and_its_result_returned(
        db: Database, clock: FakeClock) -> None:
    def body(connection: Connection) -> int:
        connection.execute(insert(SubscriberRow), _subscriber("79160000001", clock))
        return len(connection.execute(select(SubscriberRow.msisdn)).all())

    assert await db.transact(body) == 1
    assert await _numbers(db) == ["79160000001"]


async def test_a_body_that_raises_leaves_nothing_behind(db: Database, clock: FakeClock) -> None:
    def body(connection: Connection) -> None:
        connection.execute(insert(SubscriberRow), _subscriber("79160000001", clock))
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await db.transact(body)
    assert await _numbers(db) == []

    def twice(connection: Connection) -> None:
        connection.execute(insert(SubscriberRow), _subscriber("79160000002", clock))
        connection.execute(insert(SubscriberRow), _subscriber("79160000002", clock))

    with pytest.raises(IntegrityError):
        await db.transact(twice)
    assert await _numbers(db) == []


async def test_a_cancelled_caller_neither_undoes_the_transaction_nor_blocks_the_next_writer(
        sqlite_db: Database, clock: FakeClock) -> None:
    started = threading.Event()

    def slow(connection: Connection) -> None:
        started.set()
        time.sleep(0.3)
        connection.execute(insert(SubscriberRow), _subscriber("79160000001", clock))

    caller = asyncio.ensure_future(sqlite_db.transact(slow))
    assert await asyncio.to_thread(started.wait, 5.0)
    caller.cancel()
    async with sqlite_db.write() as session:  # waits for the turn the body still holds
        session.add(SubscriberRow(**_subscriber("79160000002", clock)))
    assert caller.cancelled()
    assert await _numbers(sqlite_db) == ["79160000001", "79160000002"]


async def test_the_body_runs_off_the_event_loop_thread_on_a_sqlite_file(
        sqlite_db: Database) -> None:
    loop_thread = threading.get_ident()
    ran_on = await sqlite_db.transact(lambda connection: threading.get_ident())
    assert ran_on != loop_thread


async def test_a_store_it_cannot_write_is_unavailable(tmp_path: Path, clock: FakeClock) -> None:
    db = await Database.connect(f"sqlite+aiosqlite:///{tmp_path}/never-migrated.db")
    try:
        with pytest.raises(StoreUnavailable):
            await db.transact(lambda connection: connection.execute(
                insert(SubscriberRow), _subscriber("79160000001", clock)))
    finally:
        await db.close()


async def test_transactions_waiting_together_share_a_commit_and_fail_alone(
        sqlite_db: Database, clock: FakeClock) -> None:
    def add(msisdn: str) -> Callable[[Connection], str]:
        def body(connection: Connection) -> str:
            connection.execute(insert(SubscriberRow), _subscriber(msisdn, clock))
            if msisdn.endswith("7"):
                raise RuntimeError(f"no {msisdn}")
            return msisdn
        return body

    writer = sqlite_db._writer
    assert writer is not None
    before = writer.batches
    numbers = [f"7916000{i:04d}" for i in range(40)]
    results = await asyncio.gather(*(sqlite_db.transact(add(n)) for n in numbers),
                                   return_exceptions=True)
    for msisdn, result in zip(numbers, results, strict=True):
        if msisdn.endswith("7"):
            assert isinstance(result, RuntimeError) and str(result) == f"no {msisdn}"
        else:
            assert result == msisdn
    assert await _numbers(sqlite_db) == [n for n in numbers if not n.endswith("7")]
    assert writer.batches - before < len(numbers)  # one commit per transaction: 40
