"""The one-hop SQLite driver: the same answers as aiosqlite, in fewer trips to its thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ussd_gateway.store import sqlite_driver
from ussd_gateway.store.database import Database


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with db.write() as session:
        await session.execute(text(
            "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    try:
        yield db
    finally:
        await db.close()


async def test_rows_counts_and_ids_come_back(store: Database) -> None:
    async with store.write() as session:
        inserted = await session.execute(
            text("INSERT INTO things (name) VALUES (:n) RETURNING id"), {"n": "a"})
        assert inserted.scalar_one() == 1
        plain = await session.execute(text("INSERT INTO things (name) VALUES ('b')"))
        assert plain.lastrowid == 2  # type: ignore[attr-defined]
        await session.execute(text("INSERT INTO things (name) VALUES (:n)"),
                              [{"n": "c"}, {"n": "d"}])
        renamed = await session.execute(text("UPDATE things SET name = name || '!' WHERE id > 2"))
        assert renamed.rowcount == 2  # type: ignore[attr-defined]
    async with store.read() as session:
        rows = (await session.execute(text("SELECT id, name FROM things ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        first = (await session.execute(text("SELECT name FROM things ORDER BY id"))).first()
        assert first is not None and first[0] == "a"
        assert (await session.execute(text("SELECT 1 WHERE 0"))).first() is None


async def test_a_failed_transaction_leaves_nothing_behind(store: Database) -> None:
    async with store.write() as session:
        await session.execute(text("INSERT INTO things (name) VALUES ('kept')"))
    with pytest.raises(IntegrityError):
        async with store.write() as session:
            await session.execute(text("INSERT INTO things (name) VALUES ('new')"))
            await session.execute(text("INSERT INTO things (name) VALUES ('kept')"))
    async with store.read() as session:
        names = (await session.execute(text("SELECT name FROM things"))).scalars().all()
    assert names == ["kept"]
    async with store.write() as session:  # the connection is usable again
        await session.execute(text("INSERT INTO things (name) VALUES ('after')"))


async def test_a_read_is_two_trips_to_the_sqlite_thread(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: Counter[str] = Counter()
    execute = sqlite_driver.OneHopConnection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips["all"] += 1
        return await execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async with store.read() as session:  # warm the pool
        await session.execute(text("SELECT 1"))
    monkeypatch.setattr(sqlite_driver.OneHopConnection, "_execute", counting)
    async with store.read() as session:
        await session.execute(text("SELECT count(*) FROM things"))
    # the SELECT with its BEGIN and its rows, then COMMIT; no idle ROLLBACK
    assert trips["all"] == 2


async def test_a_transaction_with_no_statement_costs_no_trip_and_breaks_nothing(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: Counter[str] = Counter()
    execute = sqlite_driver.OneHopConnection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips["all"] += 1
        return await execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(sqlite_driver.OneHopConnection, "_execute", counting)
    async with store.write():
        pass
    with pytest.raises(RuntimeError):
        async with store.write():
            raise RuntimeError("changed my mind")
    assert trips["all"] == 0
    async with store.write() as session:  # BEGIN IMMEDIATE went with the INSERT
        await session.execute(text("INSERT INTO things (name) VALUES ('one')"))
    async with store.read() as session:
        names = (await session.execute(text("SELECT name FROM things"))).scalars().all()
    assert names == ["one"]


async def test_concurrent_readers_reuse_connections(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = 0
    connect = sqlite3.connect

    def counting(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        nonlocal opened
        opened += 1
        connection: sqlite3.Connection = connect(*args, **kwargs)
        return connection

    monkeypatch.setattr(sqlite3, "connect", counting)

    async def reader() -> None:
        for _ in range(20):
            async with store.read() as session:
                await session.execute(text("SELECT count(*) FROM things"))

    await asyncio.gather(*(reader() for _ in range(40)))
    await asyncio.gather(*(reader() for _ in range(40)))
    # the pool keeps what it opened: at most its size, not one per burst
    assert opened <= 15
