"""Per-client sliding-window limit (pure decisions over an in-memory table, no I/O).

Stands in for the site's robot check on "request a password by SMS": one address may ask only
``limit`` times per ``window``. Memory is bounded: at most ``max_clients`` addresses are
remembered, the least recently seen forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta


class ClientRateLimiter:
    def __init__(self, limit: int, window: timedelta, max_clients: int = 100_000) -> None:
        if limit < 1:
            raise ValueError("the limit must allow at least one request")
        self._limit = limit
        self._window = window
        self._max_clients = max_clients
        self._hits: OrderedDict[str, deque[datetime]] = OrderedDict()

    def hit(self, client: str, now: datetime) -> timedelta | None:
        """Count a request; None when allowed, else how long until the client may ask again."""
        hits = self._hits.get(client)
        if hits is None:
            hits = self._hits[client] = deque()
            while len(self._hits) > self._max_clients:
                self._hits.popitem(last=False)
        self._hits.move_to_end(client)
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            return hits[0] + self._window - now
        hits.append(now)
        return None
