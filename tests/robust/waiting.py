"""Waiting on a condition with a generous deadline, never on a fixed sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], object], within: float = 30.0,
                what: str = "the condition") -> None:
    """Poll ``condition`` (plain attributes of real parts, which offer no event to wait on)."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 (counters of the code under test)
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {within:g} s waiting for {what}") from None


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30.0,
                     what: str = "the condition") -> None:
    """Like :func:`until` for a check that has to ask the store."""
    try:
        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110 (a store has no event)
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {within:g} s waiting for {what}") from None
