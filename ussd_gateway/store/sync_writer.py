"""Write transactions on a SQLite file that run whole on one thread, several to a commit.

Through the async engine each statement of a transaction is a trip to the connection's thread
and back (about 150 µs of CPU each) and the ORM adds more; ``*111*25#`` is ten statements. Here
the hot write paths hand the whole transaction, as a function of a synchronous SQLAlchemy Core
``Connection``, to one writer thread with its own connection: one trip per transaction. The
transactions that queue up while the thread is busy go together: each in its own SAVEPOINT (one
that fails is rolled back alone), all under one BEGIN IMMEDIATE ... COMMIT, so the pages they
share are written to the WAL once per batch instead of once per transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

T = TypeVar("T")
# Enough to share the commit; few enough that no caller waits long behind the others.
MAX_BATCH = 64


class _Job:
    __slots__ = ("body", "future")

    def __init__(self, body: Callable[[Connection], Any], future: asyncio.Future[Any]) -> None:
        self.body = body
        self.future = future


class SqliteWriter:
    """Runs ``body(connection)`` in a transaction on a dedicated thread, batched."""

    def __init__(self, path: str, *, busy_timeout_ms: int, turn: asyncio.Lock) -> None:
        self._turn = turn  # held while a batch runs: the async engine's writers wait for it
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writes")
        self._queued: list[_Job] = []
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0  # for tests and the bench
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
        """Commit what ``body`` wrote and return its result; roll it back if it raises.

        A caller cancelled before its batch starts is left out; once started, the batch
        finishes and commits even if the caller is cancelled meanwhile."""
        loop = asyncio.get_running_loop()
        job = _Job(body, loop.create_future())
        self._queued.append(job)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        result: T = await job.future
        return result

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queued:
                async with self._turn:
                    batch = [job for job in self._queued[:MAX_BATCH] if not job.future.done()]
                    del self._queued[:MAX_BATCH]
                    if not batch:
                        continue
                    self.batches += 1
                    work = loop.run_in_executor(self._executor, self._transaction, batch)
                    try:
                        outcomes = await asyncio.shield(work)
                    except asyncio.CancelledError:  # the loop is closing: let the batch end
                        await asyncio.wait([work])
                        for job in batch:
                            job.future.cancel()
                        raise
                    except Exception as error:  # BEGIN or COMMIT failed: all of it did
                        for job in batch:
                            if not job.future.done():
                                job.future.set_exception(error)
                        continue
                for job, (ok, value) in zip(batch, outcomes, strict=True):
                    if job.future.done():
                        continue
                    if ok:
                        job.future.set_result(value)
                    else:
                        job.future.set_exception(value)
        finally:
            self._drainer = None

    def _transaction(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self._engine.begin() as connection:
            if len(batch) == 1:  # no savepoint needed: its failure rolls back the whole
                return [(True, batch[0].body(connection))]
            for job in batch:
                try:
                    with connection.begin_nested():
                        outcomes.append((True, job.body(connection)))
                except Exception as error:
                    outcomes.append((False, error))
        return outcomes

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=False)
