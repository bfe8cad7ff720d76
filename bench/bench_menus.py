"""Microseconds per menu step, with 10 and with 100,000 live sessions held.

Each step does what the dispatcher does around the engine: load the subscriber's session from
the real in-process ``MemorySessionStore``, advance the engine, save the new state back (or
the menu again when the walk ended). Actions get canned outcomes: this is the engine and the
session store, not the account store. Neither keeps per-session indexes that grow, so the
cost per step should not grow with the sessions held.

Run: .venv/bin/python bench/bench_menus.py [--steps N]; ``python -m bench`` runs it too.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from menus import ActionCall, MenuEngine, SessionState, Step, load_menus  # noqa: E402
from ussd_gateway.sessions import MemorySessionStore  # noqa: E402

OUTCOMES = {
    "balance": ("ok", {"balance": "123.45 RUB"}),
    "password.issue": ("ok", {"expires_minutes": "60"}),
    "numbers.enable": ("enabled", {}),
    "numbers.disable": ("disabled", {}),
    "language.set": ("ok", {}),
}
# A walk a subscriber might make on *111#: into number management, back, and again.
REPLIES = ("828", "*", "9", "*", "00", "828", "**")


def settle(engine: MenuEngine, step: Step) -> Step:
    while isinstance(step, ActionCall):
        outcome, values = OUTCOMES[step.action]
        step = engine.resolve(step.state, outcome, values)
    return step


async def run(engine: MenuEngine, live: int, steps: int) -> tuple[float, float]:
    """(µs per reply step, µs per direct-string dial) with ``live`` sessions held."""
    store = MemorySessionStore(timeout=3600)
    menu: dict[str, Any] = {
        "s": settle(engine, engine.begin("*111#", "ru")).state.to_dict(), "c": "111"}
    keys = [f"7916{n:07d}:its:{n & 0xFF}" for n in range(live)]
    for key in keys:
        await store.save(key, dict(menu))
    rng = random.Random(7)
    picks = [rng.choice(keys) for _ in range(steps)]
    started = time.perf_counter()
    for number, key in enumerate(picks):
        saved = await store.load(key) or menu
        step = settle(engine, engine.advance(SessionState.from_dict(saved["s"]),
                                             REPLIES[number % len(REPLIES)]))
        if getattr(step, "final", True):
            await store.save(key, dict(menu))
        else:
            await store.save(key, {"s": step.state.to_dict(), "c": "111"})
    reply_us = (time.perf_counter() - started) / steps * 1e6
    started = time.perf_counter()
    for key in picks:
        await store.delete(key)
        step = settle(engine, engine.begin("*111*828*1#", "ru"))
        if not getattr(step, "final", True):
            await store.save(key, {"s": step.state.to_dict(), "c": "111"})
    dial_us = (time.perf_counter() - started) / steps * 1e6
    return reply_us, dial_us


async def measure(steps: int = 50_000) -> list[dict[str, float | int]]:
    """The figures for 10 and 100,000 live sessions (after a warm-up)."""
    engine = MenuEngine(load_menus([ROOT / "menus"]))
    await run(engine, 10, 2_000)  # warm caches
    figures: list[dict[str, float | int]] = []
    for live in (10, 100_000):
        reply_us, dial_us = await run(engine, live, steps)
        figures.append({"live_sessions": live, "us_per_reply_step": round(reply_us, 1),
                        "us_per_direct_dial": round(dial_us, 1)})
    return figures


def engine_table(figures: list[dict[str, float | int]]) -> str:
    lines = ["| live sessions | µs per reply step | µs per direct dial |", "|---|---|---|"]
    for entry in figures:
        lines.append(f"| {entry['live_sessions']:,} | {entry['us_per_reply_step']} | "
                     f"{entry['us_per_direct_dial']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    args = parser.parse_args()
    print(engine_table(asyncio.run(measure(args.steps))))


if __name__ == "__main__":
    main()
