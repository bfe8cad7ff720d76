"""The stores a bench run measures: SQLite (always) and PostgreSQL + Redis (where reachable).

Each scenario gets a fresh store: a new SQLite file, or a uniquely named PostgreSQL database
and Redis key prefix that are dropped when the scenario ends.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .seed import seed_subscribers

PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/0"
SQLITE = "sqlite+aiosqlite:///"


@dataclass(frozen=True)
class Store:
    backend: str
    url: str
    sessions: dict[str, Any] = field(default_factory=dict)  # the config's [sessions] table


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite" or "postgres+redis"

    async def unavailable(self) -> str | None:
        """Why this backend cannot be measured here, or None."""
        if self.name == "sqlite":
            return None
        try:
            import asyncpg  # type: ignore[import-untyped]
            from redis.asyncio import Redis
        except ImportError as exc:
            return f"missing driver ({exc.name})"
        try:
            conn = await asyncpg.connect(**PG_DSN, timeout=3)
            await conn.close()
        except Exception as exc:  # any failure means: not here
            return f"PostgreSQL at 127.0.0.1:5432 not reachable ({type(exc).__name__})"
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        try:
            await client.ping()
        except Exception as exc:
            return f"Redis at {REDIS_URL} not reachable ({type(exc).__name__})"
        finally:
            await client.aclose()
        return None

    @asynccontextmanager
    async def template(self, workdir: Path, subscribers: int) -> AsyncIterator[Store]:
        """A store with the schema and the bench subscribers, to copy for each scenario
        (seeding through the services costs seconds; a copy costs milliseconds)."""
        async with self._new(workdir, "template") as store:
            await seed_subscribers(store.url, subscribers)
            yield store

    @asynccontextmanager
    async def fresh(self, workdir: Path, template: Store, label: str) -> AsyncIterator[Store]:
        """A copy of ``template`` for one scenario, dropped afterwards."""
        async with self._new(workdir, label, template) as store:
            yield store

    @asynccontextmanager
    async def _new(self, workdir: Path, label: str,
                   template: Store | None = None) -> AsyncIterator[Store]:
        if self.name == "sqlite":
            path = workdir / f"{label}.db"
            if template is not None:
                shutil.copyfile(template.url.removeprefix(SQLITE), path)
            yield Store(self.name, f"{SQLITE}{path}", {"backend": "memory"})
            return
        token = secrets.token_hex(4)
        database = f"ussd_bench_{label}_{token}".replace("-", "_")
        prefix = f"ussd-bench-{label}-{token}:"
        copy = f' TEMPLATE "{template.url.rpartition("/")[2]}"' if template is not None else ""
        await _pg_execute(f'CREATE DATABASE "{database}"{copy}')
        try:
            url = (f"postgresql+asyncpg://{PG_DSN['user']}@{PG_DSN['host']}:{PG_DSN['port']}"
                   f"/{database}")
            yield Store(self.name, url, {"backend": "redis", "redis_url": REDIS_URL,
                                         "key_prefix": prefix})
        finally:
            await _pg_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await _redis_forget(prefix)


BACKENDS = (Backend("sqlite"), Backend("postgres+redis"))


async def _pg_execute(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(**PG_DSN, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _redis_forget(prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start:start + 1000])
    finally:
        await client.aclose()
