"""Engine setup for SQLite (aiosqlite) and PostgreSQL (asyncpg), sessions, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    InternalError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from . import sqlite_driver
from .batched_reads import BatchedSqliteReader, Row
from .read_query import ReadQuery
from .sync_writer import SqliteWriter

T = TypeVar("T")

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any fixed number; only gateway instances migrating the same PostgreSQL database share it.
_PG_MIGRATION_LOCK = 0x55_55_44_00


# What "the store is down or too busy" looks like from SQLAlchemy, aiosqlite and asyncpg
# (asyncpg reports a connection whose server went away mid-operation as an InternalError).
_UNAVAILABLE = (OperationalError, InterfaceError, InternalError, PoolTimeout, OSError,
                TimeoutError)


class StoreUnavailable(Exception):
    """The store cannot be reached or stayed locked; callers say "try again later"."""


def _raise_if_unavailable(exc: Exception) -> None:
    """Raise StoreUnavailable from ``exc`` when it means the store is down, locked or gone
    (including any driver error on a connection SQLAlchemy found dead and invalidated)."""
    if isinstance(exc, (*_UNAVAILABLE, sqlite3.OperationalError)) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        raise StoreUnavailable(f"the store is unavailable ({type(exc).__name__})") from exc


class Database:
    """One store. ``write()`` gives a transaction that serialises conflicting writers on
    both backends; ``read()`` a consistent read-only view."""

    def __init__(self, engine: AsyncEngine, *, single_connection: bool = False,
                 sqlite_file: str | None = None) -> None:
        self._engine = engine
        # One-statement reads (see fetch): batched on their own connection for a SQLite file;
        # without a transaction on a pooled connection for PostgreSQL.
        self._reader = (
            BatchedSqliteReader(sqlite_file, busy_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            if sqlite_file is not None else None)
        self._autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite allows one writer. Queue this process's writers on an asyncio lock: waiting
        # inside SQLite's busy handler is a sleep-and-retry that wastes most of the time.
        self._write_turn: asyncio.Lock | None = None
        if engine.dialect.name == "sqlite":
            # BEGIN IMMEDIATE takes SQLite's write lock up front, so a read-check-write in
            # one transaction cannot interleave with another writer (rate limits, balances).
            self._write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
            self._write_turn = asyncio.Lock()
        else:
            self._write_engine = engine
        # An in-memory SQLite database lives in one connection: readers queue up as well.
        self._read_turn = self._write_turn if single_connection else None
        self._writer = (
            SqliteWriter(sqlite_file, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS,
                         turn=self._write_turn)
            if sqlite_file is not None and self._write_turn is not None else None)

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            database = parsed.database
            in_memory = not database or database == ":memory:"
            engine = await _sqlite_engine(url, in_memory)
            if in_memory:  # one connection holds the whole database: no second reader
                return cls(engine, single_connection=True)
            return cls(engine, sqlite_file=database)
        if backend == "postgresql":
            # No pre-ping (a round trip before every transaction): a connection found dead
            # invalidates the whole pool, and fetch retries its read once on a fresh one.
            engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=600
            )
            return cls(engine)
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A read-write transaction, committed when the block ends without an exception.

        A store that is down or stays locked raises :class:`StoreUnavailable`."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self._write_turn is not None:
                    await stack.enter_async_context(self._write_turn)
                session = await stack.enter_async_context(
                    AsyncSession(self._write_engine, expire_on_commit=False)
                )
                await stack.enter_async_context(session.begin())
                yield session
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self._read_turn is not None:
                    await stack.enter_async_context(self._read_turn)
                session = await stack.enter_async_context(
                    AsyncSession(self._engine, expire_on_commit=False)
                )
                await stack.enter_async_context(session.begin())
                yield session
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise

    async def transact(self, body: Callable[[Connection], T]) -> T:
        """Run ``body`` (synchronous SQLAlchemy Core on ``connection``) as one write
        transaction, committed when it returns, and return its result.

        For the write paths on every USSD request. On a SQLite file the whole transaction is
        one trip to a writer thread (instead of one per statement), sharing a commit with the
        others queued meanwhile (see :mod:`.sync_writer`); elsewhere it runs on the async
        engine through ``run_sync``. Serialised with :meth:`write` like any writer."""
        try:
            if self._writer is not None:  # takes the write turn itself, batch by batch
                return await self._writer.run(body)
            async with contextlib.AsyncExitStack() as stack:
                if self._write_turn is not None:
                    await stack.enter_async_context(self._write_turn)
                connection = await stack.enter_async_context(self._write_engine.begin())
                return await connection.run_sync(body)
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise

    async def fetch(self, query: ReadQuery, **parameters: Any) -> list[Row]:
        """The rows of one read-only statement, outside any transaction.

        For the reads on every USSD request: no BEGIN/COMMIT, and on a SQLite file the reads
        that arrive together share one trip to the reader thread."""
        try:
            if self._reader is not None:
                sql, order = query.positional(self._engine.dialect)
                return await self._reader.fetch(sql, [parameters[name] for name in order])
            if self.dialect == "sqlite":  # in memory: the one connection, in turn
                async with self.read() as session:
                    result = await session.execute(query.statement, parameters)
                    return [tuple(row) for row in result]
            try:
                return await self._fetch_autocommit(query, parameters)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                log.info("store connection lost; retrying the read once on a new one")
                return await self._fetch_autocommit(query, parameters)
        except Exception as exc:
            _raise_if_unavailable(exc)
            raise

    async def _fetch_autocommit(self, query: ReadQuery, parameters: dict[str, Any]
                                ) -> list[Row]:
        async with self._autocommit_engine.connect() as connection:
            result = await connection.execute(query.statement, parameters)
            return [tuple(row) for row in result]

    async def upgrade(self) -> None:
        """Apply the Alembic migrations up to head (the same scripts for both backends)."""
        async with self._write_engine.connect() as conn:
            if self.dialect == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            await conn.run_sync(_upgrade_sync)
            await conn.commit()

    async def ping(self) -> bool:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("database ping failed: %s", type(exc).__name__)
            return False
        return True

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        if self._writer is not None:
            await self._writer.close()
        await self._engine.dispose()


def _upgrade_sync(connection: Connection) -> None:
    from alembic import command

    from ussd_gateway.migrations import alembic_config

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def _sqlite_engine(url: str, in_memory: bool) -> AsyncEngine:
    database = make_url(url).database
    if not in_memory:
        assert database is not None
        await asyncio.to_thread(_make_parent_directory, database)
    # A fixed pool (the default's 5 + 10 overflow, without closing and reopening the overflow
    # connections, each a new thread with a cold page cache, under every burst).
    kwargs: dict[str, Any] = (
        {"poolclass": StaticPool} if in_memory else {"pool_size": 15, "max_overflow": 0}
    )
    location = database if not in_memory and database else ":memory:"
    engine = create_async_engine(
        url,
        async_creator=lambda: sqlite_driver.connect(
            location, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        ),
        **kwargs,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _make_parent_directory(database: str) -> None:
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
