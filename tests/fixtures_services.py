"""Fixtures for real PostgreSQL and Redis servers, and the account store on both backends.

A server that is not reachable skips the tests that need it, with the reason; with
REQUIRE_SERVICES=1 (CI) it fails them instead. Server addresses can be changed with
USSD_TEST_PG_DSN and USSD_TEST_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import NoReturn, TypeVar

import pytest

from ussd_gateway.services import (
    OutboxSettings,
    PasswordSettings,
    SelfCare,
    ServiceSettings,
    SmsAccepted,
    SmsSubmitResult,
)
from ussd_gateway.store.database import Database

PG_DSN = os.environ.get("USSD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("USSD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:8]

T = TypeVar("T")


def _unavailable(what: str, exc: BaseException) -> NoReturn:
    reason = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(reason)


def _run_in_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a private loop in another thread, so sync fixtures can use asyncpg
    without touching the test's own event loop."""
    outcome: dict[str, object] = {}

    def target() -> None:
        async def main() -> T:
            return await make()

        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="fixture-loop")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


async def _admin_execute(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _asyncpg_url(database: str) -> str:
    base, _, _ = PG_DSN.rpartition("/")
    return base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test (asyncpg URL); dropped afterwards."""
    name = f"ussd_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    try:
        _run_in_thread(lambda: _admin_execute(f'CREATE DATABASE "{name}"'))
    except ImportError as exc:
        _unavailable("asyncpg", exc)
    except Exception as exc:  # connection refused, auth, timeout: asyncpg's share no base
        _unavailable(f"PostgreSQL at {PG_DSN}", exc)
    try:
        yield _asyncpg_url(name)
    finally:
        _run_in_thread(lambda: _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> str:
    """The URL of a reachable Redis server."""
    try:
        import redis
    except ImportError as exc:
        _unavailable("the redis client", exc)
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        _unavailable(f"Redis at {REDIS_URL}", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted afterwards."""
    import redis

    prefix = f"ussd-test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The store URL, once for a SQLite file and once for a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store')}/store.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated, empty store on each backend."""
    database = await Database.connect(db_url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def sqlite_db(tmp_path: object) -> AsyncIterator[Database]:
    database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()


class FakeClock:
    """A clock the test moves by hand (services take ``clock=`` for this)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    # A Wednesday, 10:00 UTC.
    return FakeClock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))


@pytest.fixture
def service_settings() -> ServiceSettings:
    """Settings with test keys and a cheap argon2 (the algorithm is the same)."""
    return ServiceSettings(
        passwords=PasswordSettings(
            hash_key="test hash key", argon2_time_cost=1, argon2_memory_kib=1024
        ),
        outbox=OutboxSettings(body_key="test body key"),
    )


@pytest.fixture
def selfcare(db: Database, service_settings: ServiceSettings, clock: FakeClock) -> SelfCare:
    return SelfCare.create(db, service_settings, clock)


class RecordingTransport:
    """An SmsTransport that keeps what it accepted; ``script`` gives the answers to the first
    submissions (a result, or an exception to raise), then it accepts everything."""

    def __init__(self, script: list[SmsSubmitResult | BaseException] | None = None) -> None:
        self.script = list(script or [])
        self.attempts: list[tuple[str, str]] = []
        self.accepted: list[tuple[str, str, str]] = []  # destination, text, message id
        self._changed = asyncio.Event()

    async def submit_sms(self, destination: str, text: str) -> SmsSubmitResult:
        self.attempts.append((destination, text))
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            if not isinstance(answer, SmsAccepted):
                return answer
        message_id = f"smsc-{uuid.uuid4().hex[:12]}"
        self.accepted.append((destination, text, message_id))
        self._changed.set()
        return SmsAccepted(message_id)

    async def wait_for_accepted(self, count: int) -> None:
        """Wait (10 s at most) until ``count`` messages were accepted."""
        async with asyncio.timeout(10):
            while len(self.accepted) < count:
                self._changed.clear()
                await self._changed.wait()

    def texts_to(self, destination: str) -> list[str]:
        return [text for to, text, _ in self.accepted if to == destination]

    def password_sent_to(self, destination: str) -> str:
        """The password in the last SMS accepted for ``destination``."""
        match = re.search(r": (\S+)\.", self.texts_to(destination)[-1])
        assert match is not None
        return match.group(1)
