"""Memory session store: what a gateway instance remembers between two screens."""

from __future__ import annotations

from ussd_gateway.sessions import MemorySessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_saved_session_is_loaded_back_until_it_times_out() -> None:
    clock = Clock()
    store = MemorySessionStore(timeout=30, clock=clock)
    await store.save("s1", {"screen": "main", "inputs": ["828"]})
    clock.now += 29
    assert await store.load("s1") == {"screen": "main", "inputs": ["828"]}
    clock.now += 2
    assert await store.load("s1") is None
    assert store.expired == 1


async def test_saving_again_restarts_the_timeout() -> None:
    clock = Clock()
    store = MemorySessionStore(timeout=30, clock=clock)
    await store.save("s1", {"n": 1})
    clock.now += 20
    await store.save("s1", {"n": 2})
    clock.now += 20
    assert await store.load("s1") == {"n": 2}


async def test_abandoned_sessions_are_forgotten_without_being_read() -> None:
    clock = Clock()
    store = MemorySessionStore(timeout=10, clock=clock)
    for index in range(100):
        await store.save(f"abandoned-{index}", {"i": index})
    clock.now += 11
    await store.save("fresh", {"i": -1})
    assert await store.count() == 1
    assert store.expired == 100


async def test_delete_ends_a_session() -> None:
    store = MemorySessionStore(timeout=10)
    await store.save("s1", {"a": 1})
    assert await store.delete("s1") is True
    assert await store.delete("s1") is False
    assert await store.load("s1") is None


async def test_each_timeout_is_reported_once_whoever_finds_it() -> None:
    clock = Clock()
    reported: list[int] = []
    store = MemorySessionStore(timeout=10, clock=clock, on_timed_out=reported.append)
    for key in ("read-late", "dialed-over", "swept"):
        await store.save(key, {"k": key})
    clock.now += 11
    assert await store.load("read-late") is None  # a late reply finds it gone
    assert await store.delete("dialed-over") is False  # not ended by us: it timed out
    assert await store.count() == 0  # the rest go in the sweep
    assert await store.load("swept") is None
    assert sum(reported) == 3 and store.expired == 3


async def test_live_sessions_are_listed_most_recent_first_up_to_the_limit() -> None:
    clock = Clock()
    store = MemorySessionStore(timeout=10, clock=clock)
    await store.save("old", {"n": "old"})
    clock.now += 11
    for name in ("a", "b", "c"):
        await store.save(name, {"n": name})
    await store.save("a", {"n": "a2"})
    assert await store.live(2) == [{"n": "a2"}, {"n": "c"}]
    assert await store.live(100) == [{"n": "a2"}, {"n": "c"}, {"n": "b"}]
