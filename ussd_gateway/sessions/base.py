from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

SessionValue = dict[str, Any]
# Told how many sessions have just timed out (each one exactly once, across instances).
OnTimedOut = Callable[[int], None]


class SessionStore(Protocol):
    """Session state by session key, forgotten ``timeout`` seconds after the last save."""

    async def load(self, key: str) -> SessionValue | None: ...

    async def save(self, key: str, value: SessionValue) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def count(self) -> int: ...

    async def live(self, limit: int) -> list[SessionValue]:
        """At most ``limit`` live sessions' values (which ones, when there are more, is the
        store's choice)."""
        ...

    @property
    def expired(self) -> int:
        """Sessions that timed out, counted by this instance since it started."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers (for readiness)."""
        ...

    async def close(self) -> None: ...
