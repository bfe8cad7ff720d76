"""Memory per idle live USSD session, measured in this process with tracemalloc.

The real MemorySessionStore holds real engine states from the shipped menus, saved exactly as
the dispatcher saves them ({"s": state.to_dict(), "c": code} under "<msisdn>:its:<n>"): a
subscriber who dialed *111# and stopped on the main menu, or went on to 828.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

from menus import Screen
from ussd_gateway.config import load_config
from ussd_gateway.gateway import Gateway
from ussd_gateway.sessions import MemorySessionStore

from .backends import REDIS_URL
from .procs import ROOT
from .seed import MSISDN_BASE


def idle_values() -> list[dict[str, Any]]:
    """Session values as the dispatcher saves them after *111# and after *111# -> 828."""
    # A throwaway key in the environment: loading must not create var/secret.key.
    config = load_config(ROOT / "config.toml", environ={"USSD_GATEWAY_SECRET_KEY": "b" * 32})
    engine = Gateway(config).load_engine()
    main = engine.begin("*111#", "ru")
    assert isinstance(main, Screen) and not main.final
    numbers = engine.advance(main.state, "828")
    assert isinstance(numbers, Screen) and not numbers.final
    return [{"s": screen.state.to_dict(), "c": "111"} for screen in (main, numbers)]


async def _fill(store: MemorySessionStore, count: int, values: list[dict[str, Any]]) -> None:
    for i in range(count):
        # A fresh dict per session, as each request builds its own.
        value = dict(values[i % len(values)])
        await store.save(f"{MSISDN_BASE + i}:its:{i & 0xFF}", value)


async def measure(count: int) -> dict[str, float | int]:
    """Bytes held (and peak bytes allocated) per idle session with ``count`` sessions."""
    values = idle_values()
    store = MemorySessionStore(timeout=3600)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await _fill(store, count, values)
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert await store.count() == count
    return {
        "sessions": count,
        "bytes_per_session": round((after - before) / count, 1),
        "peak_bytes_per_session": round((peak - before) / count, 1),
        "total_mib": round((after - before) / 2**20, 2),
    }


async def measure_redis(count: int, prefix: str) -> dict[str, float | int]:
    """Redis ``used_memory`` per idle session, saved through the real RedisSessionStore under
    a unique ``prefix`` that is deleted afterwards."""
    from redis.asyncio import Redis

    from ussd_gateway.sessions.redis import RedisSessionStore

    values = idle_values()
    admin: Redis = Redis.from_url(REDIS_URL)
    store = RedisSessionStore.from_url(REDIS_URL, prefix, timeout=3600)
    try:
        before = int((await admin.info("memory"))["used_memory"])
        for start in range(0, count, 50):
            await asyncio.gather(*(
                store.save(f"{MSISDN_BASE + i}:its:{i & 0xFF}", dict(values[i % len(values)]))
                for i in range(start, min(count, start + 50))))
        after = int((await admin.info("memory"))["used_memory"])
    finally:
        keys = [key async for key in admin.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await admin.delete(*keys[start:start + 1000])
        await store.close()
        await admin.aclose()
    return {"sessions": count, "bytes_per_session": round((after - before) / count, 1),
            "total_mib": round((after - before) / 2**20, 2)}
