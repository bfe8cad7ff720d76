"""Write transactions on a SQLite file that run whole on one thread: one hop, not one per statement.

Through the async engine each statement of a transaction is a trip to the connection's thread
and back (about 150 µs of CPU each) and the ORM adds more; ``*111*25#`` is ten statements. Here
the hot write paths hand the whole transaction, as a function of a synchronous SQLAlchemy Core
``Connection``, to one writer thread with its own connection: one trip per transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

T = TypeVar("T")


class SqliteWriter:
    """Runs ``body(connection)`` inside BEGIN IMMEDIATE ... COMMIT on a dedicated thread."""

    def __init__(self, path: str, *, busy_timeout_ms: int) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writes")
        self._engine: Engine = create_engine(
            f"sqlite:///{path}",
            poolclass=StaticPool,  # one connection, only ever used on the writer thread
            connect_args={"check_same_thread": False},
        )

        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event sends BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(self._engine, "begin")
        def _on_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    async def run(self, body: Callable[[Connection], T]) -> T:
        """Commit what ``body`` wrote and return its result; roll back if it raises.

        Once started, the transaction finishes on its thread even if the caller is
        cancelled; this returns only after it has (so the caller's write turn covers it)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._transaction, body)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await future
            raise

    def _transaction(self, body: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return body(connection)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=False)
