from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from .base import SessionValue


class RedisSessionStore:
    """Sessions in Redis, so any gateway instance can continue any session.

    Redis expires keys itself (TTL = the session timeout); ``expired`` therefore counts only
    what this instance saw disappear, not every abandoned session cluster-wide.
    """

    def __init__(self, client: Redis, prefix: str, timeout: float) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = max(1, int(timeout * 1000))
        self._expired = 0

    @classmethod
    def from_url(cls, url: str, prefix: str, timeout: float) -> RedisSessionStore:
        client: Redis = Redis.from_url(url)
        return cls(client, prefix, timeout)

    @property
    def expired(self) -> int:
        return self._expired

    def _key(self, key: str) -> str:
        return f"{self._prefix}session:{key}"

    async def load(self, key: str) -> SessionValue | None:
        raw: Any = await self._client.get(self._key(key))
        if raw is None:
            return None
        value: SessionValue = json.loads(raw)
        return value

    async def save(self, key: str, value: SessionValue) -> None:
        await self._client.set(self._key(key), json.dumps(value, separators=(",", ":")),
                               px=self._ttl_ms)

    async def delete(self, key: str) -> bool:
        deleted: int = await self._client.delete(self._key(key))
        return deleted > 0

    async def count(self) -> int:
        total = 0
        async for _ in self._client.scan_iter(match=f"{self._prefix}session:*", count=1000):
            total += 1
        return total

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._client.aclose()
