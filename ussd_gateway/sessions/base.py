from __future__ import annotations

from typing import Any, Protocol

SessionValue = dict[str, Any]


class SessionStore(Protocol):
    """Session state by session key, forgotten ``timeout`` seconds after the last save."""

    async def load(self, key: str) -> SessionValue | None: ...

    async def save(self, key: str, value: SessionValue) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def count(self) -> int: ...

    @property
    def expired(self) -> int:
        """Sessions forgotten because they timed out (abandoned), since start."""
        ...

    async def close(self) -> None: ...
