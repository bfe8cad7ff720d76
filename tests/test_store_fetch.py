"""The hot-path reads (``Database.fetch``): right rows, fresh, isolated failures, on both stores;
on a SQLite file the reads that wait together share one trip to the reader thread."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select

from tests.fixtures_services import _admin_execute
from ussd_gateway.services import SelfCare, ServiceSettings
from ussd_gateway.store.batched_reads import BatchedSqliteReader
from ussd_gateway.store.database import Database, StoreUnavailable
from ussd_gateway.store.models import SubscriberRow
from ussd_gateway.store.read_query import ReadQuery

BASE = 79990000000


async def _subscribers(selfcare: SelfCare, count: int) -> list[str]:
    numbers = [str(BASE + i) for i in range(count)]
    for i, msisdn in enumerate(numbers):
        await selfcare.subscribers.upsert(msisdn, owner=f"Owner {i}", region="r",
                                          channel="operator:test",
                                          language="en" if i % 2 else "ru")
        await selfcare.balance.top_up(msisdn, 100 + i, channel="operator:test")
    return numbers


async def test_concurrent_reads_each_get_their_own_subscriber(selfcare: SelfCare) -> None:
    numbers = await _subscribers(selfcare, 30)
    asked = numbers * 5
    found = await asyncio.gather(*(selfcare.subscribers.with_balance(n) for n in asked))
    for msisdn, result in zip(asked, found, strict=True):
        assert result is not None
        subscriber, balance = result
        i = int(msisdn) - BASE
        assert subscriber.msisdn == msisdn and subscriber.owner == f"Owner {i}"
        assert subscriber.language == ("en" if i % 2 else "ru")
        assert balance is not None and balance.amount_minor == 100 + i
    assert await selfcare.subscribers.with_balance("79990009999") is None


async def test_a_read_sees_the_top_up_committed_just_before(selfcare: SelfCare) -> None:
    [msisdn] = await _subscribers(selfcare, 1)
    before = await selfcare.balance.get(msisdn)
    assert before is not None and before.amount_minor == 100
    await selfcare.balance.top_up(msisdn, 250, channel="operator:test")
    after = await selfcare.balance.get(msisdn)
    assert after is not None and after.amount_minor == 350
    found = await selfcare.subscribers.with_balance(msisdn)
    assert found is not None and found[1] is not None and found[1].amount_minor == 350


async def test_reads_waiting_together_share_one_trip_to_the_thread(
        sqlite_db: Database, service_settings: ServiceSettings) -> None:
    selfcare = SelfCare.create(sqlite_db, service_settings)
    numbers = await _subscribers(selfcare, 10)
    reader = sqlite_db._reader
    assert reader is not None
    hops_before, reads_before = reader.batches, reader.reads
    await asyncio.gather(*(selfcare.balance.get(n) for n in numbers * 20))
    assert reader.reads - reads_before == 200
    assert reader.batches - hops_before < 20  # without batching: 200


async def test_one_failing_read_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "reads.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        setup.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2)])
    reader = BatchedSqliteReader(str(path), busy_timeout=1.0)
    try:
        good = reader.fetch("SELECT v FROM t WHERE k = ?", ["a"])
        bad = reader.fetch("SELECT v FROM missing WHERE k = ?", ["a"])
        write = reader.fetch("DELETE FROM t WHERE k = ?", ["b"])
        other = reader.fetch("SELECT v FROM t WHERE k = ?", ["b"])
        results = await asyncio.gather(good, bad, write, other, return_exceptions=True)
        assert results[0] == [(1,)] and results[3] == [(2,)]
        assert isinstance(results[1], sqlite3.OperationalError)
        assert isinstance(results[2], sqlite3.OperationalError)  # the reader is read-only
        assert await reader.fetch("SELECT count(*) FROM t", []) == [(2,)]
    finally:
        await reader.close()


async def test_a_cancelled_read_leaves_the_others_alone(tmp_path: Path) -> None:
    path = tmp_path / "reads.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        setup.execute("INSERT INTO t VALUES ('a')")
    reader = BatchedSqliteReader(str(path), busy_timeout=1.0)
    try:
        first = asyncio.ensure_future(reader.fetch("SELECT k FROM t", []))
        doomed = asyncio.ensure_future(reader.fetch("SELECT k FROM t", []))
        await asyncio.sleep(0)
        doomed.cancel()
        assert await first == [("a",)]
        assert await reader.fetch("SELECT k FROM t", []) == [("a",)]
    finally:
        await reader.close()


async def test_a_store_that_cannot_be_read_is_unavailable_not_a_crash(
        tmp_path: Path, service_settings: ServiceSettings) -> None:
    db = await Database.connect(f"sqlite+aiosqlite:///{tmp_path}/never-migrated.db")
    try:
        with pytest.raises(StoreUnavailable):
            await SelfCare.create(db, service_settings).subscribers.with_balance("79160000001")
    finally:
        await db.close()


async def test_a_column_the_driver_cannot_return_as_is_is_refused_up_front(
        sqlite_db: Database) -> None:
    query = ReadQuery(select(SubscriberRow.created_at)
                      .where(SubscriberRow.msisdn == bindparam("msisdn")))
    with pytest.raises(ValueError, match="created_at"):
        query.positional(sqlite_db.engine.dialect)


async def test_postgresql_connections_dropped_under_the_pool_cost_no_read_and_one_write_at_most(
        pg_url: str, service_settings: ServiceSettings) -> None:
    db = await Database.connect(pg_url)
    await db.upgrade()
    database = pg_url.rsplit("/", 1)[1]
    kill = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()")
    try:
        selfcare = SelfCare.create(db, service_settings)
        numbers = await _subscribers(selfcare, 3)
        await asyncio.gather(*(selfcare.balance.get(n) for n in numbers * 5))  # fill the pool
        await _admin_execute(kill)
        balance = await selfcare.balance.get(numbers[0])  # retried on a new connection
        assert balance is not None and balance.amount_minor == 100
        assert not isinstance(await selfcare.balance.top_up(numbers[0], 5, channel="operator:t"),
                              StoreUnavailable)

        await asyncio.gather(*(selfcare.balance.get(n) for n in numbers * 5))
        await _admin_execute(kill)
        failures = 0
        for _ in range(3):  # a write finds the dead connection at most once
            try:
                await selfcare.balance.top_up(numbers[1], 10, channel="operator:t")
            except StoreUnavailable:
                failures += 1
        assert failures <= 1
        after = await selfcare.balance.get(numbers[1])
        assert after is not None and after.amount_minor == 101 + 10 * (3 - failures)
    finally:
        await db.close()
