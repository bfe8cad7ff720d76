"""Redis session store: the state any gateway instance can pick up, with the session timeout."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from menus import MenuEngine, SessionState, load_menus
from tests.gateway_stack import REPO
from tests.robust.waiting import eventually
from ussd_gateway.actions import MENU_CONTRACT
from ussd_gateway.sessions.redis import RedisSessionStore


async def test_a_session_saved_by_one_instance_is_loaded_by_another(
        redis_url: str, redis_prefix: str) -> None:
    engine = MenuEngine(load_menus([REPO / "menus"], MENU_CONTRACT))
    screen = engine.begin("*111#", "ru")
    first = RedisSessionStore.from_url(redis_url, redis_prefix, timeout=120)
    second = RedisSessionStore.from_url(redis_url, redis_prefix, timeout=120)
    try:
        await first.save("79160000001:its:7", {"s": screen.state.to_dict(), "c": "111"})
        loaded = await second.load("79160000001:its:7")
        assert loaded is not None
        state = SessionState.from_dict(loaded["s"])
        assert state == screen.state
        assert await second.count() == 1
        assert await second.delete("79160000001:its:7") is True
        assert await first.load("79160000001:its:7") is None
    finally:
        await first.close()
        await second.close()


async def test_sessions_expire_with_the_session_timeout(redis_url: str, redis_prefix: str) -> None:
    store = RedisSessionStore.from_url(redis_url, redis_prefix, timeout=90)
    raw = Redis.from_url(redis_url)
    try:
        await store.save("k", {"a": 1})
        ttl_ms = await raw.pttl(f"{redis_prefix}session:k")
        assert 80_000 < ttl_ms <= 90_000
        await store.save("k", {"a": 2})
        assert await raw.pttl(f"{redis_prefix}session:k") > 80_000
    finally:
        await store.close()
        await raw.aclose()


async def test_prefixes_keep_deployments_apart(redis_url: str, redis_prefix: str) -> None:
    ours = RedisSessionStore.from_url(redis_url, redis_prefix + "a:", timeout=60)
    theirs = RedisSessionStore.from_url(redis_url, redis_prefix + "b:", timeout=60)
    try:
        await ours.save("same-key", {"who": "ours"})
        assert await theirs.load("same-key") is None
        assert await theirs.count() == 0
    finally:
        await ours.close()
        await theirs.close()


async def test_a_timeout_is_counted_once_by_whichever_instance_sweeps_first(
        redis_url: str, redis_prefix: str) -> None:
    counted = {"first": 0, "second": 0}

    def counter(name: str) -> Callable[[int], None]:
        def add(count: int) -> None:
            counted[name] += count
        return add

    first = RedisSessionStore.from_url(redis_url, redis_prefix, timeout=0.2,
                                       on_timed_out=counter("first"))
    second = RedisSessionStore.from_url(redis_url, redis_prefix, timeout=0.2,
                                        on_timed_out=counter("second"))
    try:
        await first.save("walked-away", {"a": 1})
        await first.save("finished", {"a": 2})
        await second.save("hung-up", {"a": 3})
        assert await first.delete("finished") and await second.delete("hung-up")

        async def timed_out() -> bool:
            await first.count()
            await second.count()
            return sum(counted.values()) > 0

        await eventually(timed_out, what="the session to time out")
        await first.count()
        await second.count()
        assert sum(counted.values()) == 1  # neither the finished nor the hung-up one
        assert first.expired + second.expired == 1
    finally:
        await first.close()
        await second.close()


async def test_live_sessions_are_found_by_scan_within_the_limit_and_prefix(
        redis_url: str, redis_prefix: str) -> None:
    ours = RedisSessionStore.from_url(redis_url, redis_prefix + "a:", timeout=60)
    theirs = RedisSessionStore.from_url(redis_url, redis_prefix + "b:", timeout=60)
    try:
        for index in range(30):
            await ours.save(f"7916000{index:04d}", {"i": index})
        await theirs.save("other-deployment", {"i": -1})
        listed = await ours.live(25)
        assert len(listed) == 25
        assert {value["i"] for value in await ours.live(1000)} == set(range(30))
        assert await theirs.live(1000) == [{"i": -1}]
    finally:
        await ours.close()
        await theirs.close()
