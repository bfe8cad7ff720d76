from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable

from .base import SessionValue


class MemorySessionStore:
    """Sessions in this process's memory.

    Entries are kept in save order; since every entry lives for the same ``timeout``, the oldest
    is always the first to expire, so expiry is a cheap sweep from the front on every save.
    Values are kept as compact JSON bytes: smaller than dicts, and the same round trip as Redis,
    so a value that would not survive Redis fails here too.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._timeout = timeout
        self._clock = clock
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
            self._expired += 1
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
        return self._entries.pop(key, None) is not None

    async def count(self) -> int:
        self._sweep(self._clock())
        return len(self._entries)

    async def close(self) -> None:
        self._entries.clear()

    def _sweep(self, now: float) -> None:
        while self._entries:
            key, (deadline, _) = next(iter(self._entries.items()))
            if deadline > now:
                return
            del self._entries[key]
            self._expired += 1
