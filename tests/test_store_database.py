"""The store: connecting, migrating, SQLite pragmas, the same schema on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from ussd_gateway.store.database import Database
from ussd_gateway.store.models import Base


async def test_sqlite_creates_the_parent_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    db = await Database.connect(f"sqlite+aiosqlite:///{path}")
    try:
        await db.upgrade()
        assert path.exists()
        async with db.read() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert ((await session.execute(text("PRAGMA busy_timeout"))).scalar() or 0) >= 1000
    finally:
        await db.close()


async def test_upgrade_creates_every_table_and_is_idempotent(db: Database) -> None:
    await db.upgrade()  # the fixture already ran it once
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    async with db.read() as session:
        version = (await session.execute(text("SELECT version_num FROM alembic_version"))).all()
        catalogue = (await session.execute(text("SELECT code FROM services"))).scalars().all()
    assert len(version) == 1
    assert "number_management" in catalogue


async def test_migrations_match_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(sync_conn: object) -> list[object]:
        context = MigrationContext.configure(sync_conn)  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_ping_says_whether_the_store_answers(tmp_path: Path) -> None:
    db = await Database.connect(f"sqlite+aiosqlite:///{tmp_path}/ok.db")
    assert await db.ping() is True
    await db.close()
    unreachable = await Database.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert await unreachable.ping() is False
    finally:
        await unreachable.close()


async def test_an_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        await Database.connect("mysql+aiomysql://x@localhost/db")


async def test_a_failed_write_transaction_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await session.execute(
                text("INSERT INTO services (code, name, connection_price_minor,"
                     " monthly_fee_minor, currency) VALUES ('x', 'X', 0, 0, 'RUB')")
            )
            raise RuntimeError("boom")
    async with db.read() as session:
        assert (
            await session.execute(text("SELECT count(*) FROM services WHERE code = 'x'"))
        ).scalar() == 0


async def test_a_store_that_is_down_raises_store_unavailable_for_callers_to_answer() -> None:
    from ussd_gateway.store import StoreUnavailable

    down = await Database.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(StoreUnavailable, match="unavailable"):
            async with down.write() as session:
                await session.execute(text("SELECT 1"))
        with pytest.raises(StoreUnavailable):
            async with down.read() as session:
                await session.execute(text("SELECT 1"))
    finally:
        await down.close()


async def test_an_in_memory_store_serves_concurrent_readers_and_writers() -> None:
    import asyncio

    from ussd_gateway.services import Balance, BalanceService, SubscriberService

    db = await Database.connect("sqlite+aiosqlite://")
    try:
        await db.upgrade()
        balance = BalanceService(db)
        await SubscriberService(db).upsert("79161234567", owner="A", region="B", channel="test")
        await asyncio.gather(
            *(balance.top_up("79161234567", 10, channel="test") for _ in range(20)),
            *(balance.get("79161234567") for _ in range(20)),
        )
        assert await balance.get("79161234567") == Balance(200, "RUB")
    finally:
        await db.close()
