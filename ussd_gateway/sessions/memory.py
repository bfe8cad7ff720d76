from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable

from .base import OnTimedOut, SessionValue


class MemorySessionStore:
    """Sessions in this process's memory.

    Entries are kept in save order; since every entry lives for the same ``timeout``, the oldest
    is always the first to expire, so expiry is a cheap sweep from the front on every save (and
    on every count, so a scrape sees the sessions that timed out since the last request).
    Values are kept as compact JSON bytes: smaller than dicts, and the same round trip as Redis,
    so a value that would not survive Redis fails here too.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic,
                 on_timed_out: OnTimedOut | None = None) -> None:
        self._timeout = timeout
        self._clock = clock
        self._on_timed_out = on_timed_out
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._expired = 0

    @property
    def expired(self) -> int:
        return self._expired

    async def load(self, key: str) -> SessionValue | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        deadline, raw = entry
        if deadline <= self._clock():
            del self._entries[key]
            self._timed_out(1)
            return None
        value: SessionValue = json.loads(raw)
        return value

    async def save(self, key: str, value: SessionValue) -> None:
        now = self._clock()
        self._sweep(now)
        raw = json.dumps(value, separators=(",", ":")).encode()
        self._entries[key] = (now + self._timeout, raw)
        self._entries.move_to_end(key)

    async def delete(self, key: str) -> bool:
        """True when a live session was ended; one that had already timed out counts as such."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        if entry[0] <= self._clock():
            self._timed_out(1)
            return False
        return True

    async def count(self) -> int:
        self._sweep(self._clock())
        return len(self._entries)

    async def live(self, limit: int) -> list[SessionValue]:
        """The most recently active first."""
        self._sweep(self._clock())
        found: list[SessionValue] = []
        for _, raw in reversed(self._entries.values()):
            if len(found) >= limit:
                break
            found.append(json.loads(raw))
        return found

    async def ping(self) -> bool:
        return True  # in this process: up as long as the process is

    async def close(self) -> None:
        self._entries.clear()

    def _sweep(self, now: float) -> None:
        swept = 0
        while self._entries:
            key, (deadline, _) = next(iter(self._entries.items()))
            if deadline > now:
                break
            del self._entries[key]
            swept += 1
        if swept:
            self._timed_out(swept)

    def _timed_out(self, count: int) -> None:
        self._expired += count
        if self._on_timed_out is not None:
            self._on_timed_out(count)
