"""Single-statement SQLite reads, batched: one thread hop for every read waiting at once.

Every dialled code starts with a read of the subscriber and the balance. Through SQLAlchemy and
aiosqlite each read is a transaction on a pooled connection (BEGIN, SELECT, COMMIT), every step
a hand-off to that connection's thread and back: about 1 ms of CPU for a primary-key lookup that
SQLite answers in about 10 µs (bench/README.md has the profile). Here the hot-path reads queue on
one read-only connection with its own thread; whatever is queued when the thread comes free runs
there in one go, each statement in its own implicit read transaction (so each sees everything
committed before it started), and the loop is woken once for the whole batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Row = tuple[Any, ...]
# Enough to amortise the hop; small enough that the first read in a batch is not kept waiting.
MAX_BATCH = 256


class _Read:
    __slots__ = ("future", "parameters", "sql")

    def __init__(self, sql: str, parameters: Sequence[Any], future: asyncio.Future[list[Row]]
                 ) -> None:
        self.sql = sql
        self.parameters = parameters
        self.future = future


class BatchedSqliteReader:
    """Reads from the SQLite file at ``path`` on one read-only connection, in batches."""

    def __init__(self, path: str, *, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reads")
        self._connection: sqlite3.Connection | None = None  # used only on the executor thread
        self._queued: list[_Read] = []
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # thread hops made, for tests and the bench
        self.reads = 0

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Row]:
        """The rows of one SELECT; sqlite3's own exception if it fails."""
        if self._closed:
            raise sqlite3.ProgrammingError("the reader is closed")
        loop = asyncio.get_running_loop()
        read = _Read(sql, parameters, loop.create_future())
        self._queued.append(read)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await read.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queued:
                batch = self._queued[:MAX_BATCH]
                del self._queued[:MAX_BATCH]
                self.batches += 1
                self.reads += len(batch)
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._run, batch)
                except BaseException as error:  # the executor itself failed (shut down)
                    for read in batch:
                        if not read.future.done():
                            read.future.set_exception(sqlite3.OperationalError(repr(error)))
                    raise
                for read, outcome in zip(batch, outcomes, strict=True):
                    if read.future.done():  # its caller was cancelled
                        continue
                    if isinstance(outcome, BaseException):
                        read.future.set_exception(outcome)
                    else:
                        read.future.set_result(outcome)
        finally:
            self._drainer = None

    def _run(self, batch: list[_Read]) -> list[list[Row] | sqlite3.Error]:
        """On the reader thread: every statement of the batch, each failing on its own."""
        outcomes: list[list[Row] | sqlite3.Error] = []
        for read in batch:
            try:
                connection = self._connection or self._open()
                outcomes.append(connection.execute(read.sql, read.parameters).fetchall())
            except sqlite3.Error as error:
                outcomes.append(error)
        return outcomes

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, timeout=self._busy_timeout,
                                     isolation_level=None)
        connection.execute("PRAGMA query_only = ON")
        self._connection = connection
        return connection

    async def close(self) -> None:
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=False)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
