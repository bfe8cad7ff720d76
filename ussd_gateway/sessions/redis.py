from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from .base import OnTimedOut, SessionValue

# One sweep of the deadlines set, atomic: a due member whose session key Redis has expired
# is removed and counted, so each timed-out session is counted once, by whichever instance
# sweeps first. A due member whose key still lives (the saver's clock was behind ours) is
# rescheduled by the key's own TTL.
# KEYS[1]: the deadlines set; ARGV: now (ms), session key prefix, batch size, timeout (ms).
_SWEEP = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local timed_out = 0
for _, member in ipairs(due) do
  local left = redis.call('PTTL', ARGV[2] .. member)
  if left == -2 then
    timed_out = timed_out + redis.call('ZREM', KEYS[1], member)
  else
    if left < 0 then left = tonumber(ARGV[4]) end
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + left, member)
  end
end
return {timed_out, #due}
"""
_SWEEP_BATCH = 500
_SWEEP_BATCHES = 20  # per sweep at most; the rest wait for the next one
_SWEEP_EVERY = 1.0  # seconds between the sweeps that saves trigger


class RedisSessionStore:
    """Sessions in Redis, so any gateway instance can continue any session.

    Redis expires keys itself (TTL = the session timeout). A store told ``on_timed_out``
    also keeps each session's deadline in a sorted set (written with the session in one
    transaction, removed with it when a dialogue ends) and sweeps it: a session whose key is
    gone while its deadline is still listed timed out. Sweeps run on ``count`` (every
    scrape) and at most once a second on a save, so a subscriber who simply walked away is
    counted too, not only one whose late reply found nothing.
    """

    def __init__(self, client: Redis, prefix: str, timeout: float,
                 on_timed_out: OnTimedOut | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = max(1, int(timeout * 1000))
        self._on_timed_out = on_timed_out
        self._deadlines = f"{prefix}deadlines"
        self._sweep_script = client.register_script(_SWEEP)
        self._next_sweep = 0.0
        self._expired = 0

    @classmethod
    def from_url(cls, url: str, prefix: str, timeout: float,
                 on_timed_out: OnTimedOut | None = None) -> RedisSessionStore:
        client: Redis = Redis.from_url(url)
        return cls(client, prefix, timeout, on_timed_out)

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
        raw = json.dumps(value, separators=(",", ":"))
        if self._on_timed_out is None:
            await self._client.set(self._key(key), raw, px=self._ttl_ms)
            return
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._key(key), raw, px=self._ttl_ms)
            pipe.zadd(self._deadlines, {key: _now_ms() + self._ttl_ms})
            await pipe.execute()
        if time.monotonic() >= self._next_sweep:
            await self.sweep()

    async def delete(self, key: str) -> bool:
        if self._on_timed_out is None:
            deleted: int = await self._client.delete(self._key(key))
            return deleted > 0
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(key))
            pipe.zrem(self._deadlines, key)
            removed, _ = await pipe.execute()
        return int(removed) > 0

    async def count(self) -> int:
        await self.sweep()
        total = 0
        async for _ in self._client.scan_iter(match=self._pattern, count=1000):
            total += 1
        return total

    async def live(self, limit: int) -> list[SessionValue]:
        """Found by SCAN (never KEYS: it would stall Redis for every other instance)."""
        keys: list[bytes | str] = []
        cursor = 0
        while True:
            cursor, batch = await self._client.scan(cursor, match=self._pattern,
                                                    count=max(100, limit))
            keys.extend(batch)
            if cursor == 0 or len(keys) >= limit:
                break
        if not keys:
            return []
        del keys[limit:]
        found: list[SessionValue] = []
        for raw in await self._client.mget(keys):
            if raw is None:  # timed out since the scan
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
        return found

    async def sweep(self) -> None:
        """Count the sessions that timed out since the last sweep (any instance's)."""
        if self._on_timed_out is None:
            return
        self._next_sweep = time.monotonic() + _SWEEP_EVERY
        for _ in range(_SWEEP_BATCHES):
            timed_out, seen = await self._sweep_script(
                keys=[self._deadlines],
                args=[_now_ms(), self._key(""), _SWEEP_BATCH, self._ttl_ms])
            if timed_out:
                self._expired += int(timed_out)
                self._on_timed_out(int(timed_out))
            if int(seen) < _SWEEP_BATCH:
                return

    @property
    def _pattern(self) -> str:
        return f"{self._prefix}session:*"

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._client.aclose()


def _now_ms() -> int:
    return int(time.time() * 1000)
