"""aiosqlite with one thread round trip per statement instead of four.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes the cursor as four
separate calls, and aiosqlite runs each on its worker thread: four hand-offs to the thread and
four wake-ups of the event loop per statement (plus one for the pool's reset-on-return rollback,
even when nothing is open). On a small box those hand-offs, not SQLite, are most of the cost of a
read. Here a statement runs, fetches its rows and closes its cursor in one call on the worker
thread; a rollback with no transaction open is answered without the thread; and a BEGIN goes
to the thread together with the transaction's first statement instead of on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar, cast

import aiosqlite

_Description = tuple[tuple[Any, ...], ...] | None
_T = TypeVar("_T")


class _Outcome:
    __slots__ = ("description", "in_transaction", "lastrowid", "rowcount", "rows")

    def __init__(self, cursor: sqlite3.Cursor | None, connection: sqlite3.Connection | None,
                 fetch: bool) -> None:
        self.description: _Description = cursor.description if cursor is not None else None
        self.rows: list[Any] = (cursor.fetchall()
                                if cursor is not None and fetch and cursor.description else [])
        self.rowcount = cursor.rowcount if cursor is not None else -1
        self.lastrowid = cursor.lastrowid if cursor is not None else None
        self.in_transaction = connection.in_transaction if connection is not None else True


# What a BEGIN held back for the next statement reports (it has no rows and no count).
_DEFERRED_BEGIN = _Outcome(None, None, fetch=False)


class OneHopCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy's adapter uses, one hop per execute."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._outcome: _Outcome | None = None
        self._position = 0

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @property
    def description(self) -> _Description:
        return self._outcome.description if self._outcome is not None else None

    @property
    def rowcount(self) -> int:
        return self._outcome.rowcount if self._outcome is not None else -1

    @property
    def lastrowid(self) -> int | None:
        return self._outcome.lastrowid if self._outcome is not None else None

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        self._outcome = await self._connection.run_statement(sql, parameters, many=False)
        self._position = 0
        return self

    async def executemany(self, sql: str, parameters: Any) -> OneHopCursor:
        self._outcome = await self._connection.run_statement(sql, parameters, many=True)
        self._position = 0
        return self

    async def fetchall(self) -> Sequence[Any]:
        rows = self._rows()[self._position:]
        self._position += len(rows)
        return rows

    async def fetchone(self) -> Any:
        rows = self._rows()
        if self._position >= len(rows):
            return None
        self._position += 1
        return rows[self._position - 1]

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        rows = self._rows()[self._position:self._position + (size or self.arraysize)]
        self._position += len(rows)
        return rows

    async def close(self) -> None:
        return None

    def _rows(self) -> list[Any]:
        return self._outcome.rows if self._outcome is not None else []


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors cost one thread hop per statement."""

    _in_transaction = True  # until the first statement says otherwise: never skip wrongly
    _held_begin: str | None = None  # a BEGIN that goes to the thread with the next statement

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def run_statement(self, sql: str, parameters: Any, *, many: bool) -> _Outcome:
        if not many and not parameters and sql.lstrip()[:5].upper() == "BEGIN":
            # nothing reads a BEGIN's outcome; it fails or succeeds with the next statement
            self._held_begin = sql
            self._in_transaction = True
            return _DEFERRED_BEGIN
        begin, self._held_begin = self._held_begin, None

        def run() -> _Outcome:
            connection = self._conn
            if begin is not None:
                connection.execute(begin)
            if many:
                cursor = connection.executemany(sql, parameters)
            elif parameters is None:
                cursor = connection.execute(sql)
            else:
                cursor = connection.execute(sql, parameters)
            try:
                return _Outcome(cursor, connection, fetch=True)
            finally:
                cursor.close()

        outcome = await self._in_thread(run)
        self._in_transaction = outcome.in_transaction
        return outcome

    async def commit(self) -> None:
        if self._forget_held_begin():
            return  # a transaction without a statement: nothing to commit
        await self._in_thread(partial(self._end_transaction, "commit"))

    async def rollback(self) -> None:
        if self._forget_held_begin() or not self._in_transaction:
            return  # nothing was started, or the pool's reset-on-return after a commit
        await self._in_thread(partial(self._end_transaction, "rollback"))

    def _forget_held_begin(self) -> bool:
        if self._held_begin is None:
            return False
        self._held_begin = None
        self._in_transaction = False
        return True

    async def _in_thread(self, function: Callable[[], _T]) -> _T:
        result = await self._execute(function)  # type: ignore[no-untyped-call]
        return cast(_T, result)

    def _end_transaction(self, how: str) -> None:
        connection = self._conn
        try:
            if how == "commit":
                connection.commit()
            else:
                connection.rollback()
        finally:
            self._in_transaction = connection.in_transaction


def connect(database: str, *, timeout: float, check_same_thread: bool) -> OneHopConnection:
    """Like aiosqlite.connect, with one-hop cursors."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, timeout=timeout, check_same_thread=check_same_thread)

    connection = OneHopConnection(connector, 64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection
