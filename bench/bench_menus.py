"""Microseconds per menu-engine step, with 10 and with 100,000 live sessions held.

Run: .venv/bin/python bench/bench_menus.py [--steps N]
The engine keeps no per-session data, so the cost per step should not grow with sessions.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from menus import ActionCall, MenuEngine, SessionState, Step, load_menus  # noqa: E402

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


def run(engine: MenuEngine, live: int, steps: int) -> tuple[float, float]:
    """(µs per reply step, µs per direct-string dial) with ``live`` sessions in a dict."""
    opened = settle(engine, engine.begin("*111#", "ru")).state
    sessions: dict[str, SessionState] = {f"7916{n:07d}": opened for n in range(live)}
    keys = list(sessions)
    rng = random.Random(7)
    picks = [rng.choice(keys) for _ in range(steps)]
    started = time.perf_counter()
    for number, msisdn in enumerate(picks):
        step = settle(engine, engine.advance(sessions[msisdn], REPLIES[number % len(REPLIES)]))
        sessions[msisdn] = step.state if not getattr(step, "final", True) else opened
    reply_us = (time.perf_counter() - started) / steps * 1e6
    started = time.perf_counter()
    for msisdn in picks:
        step = settle(engine, engine.begin("*111*828*1#", "ru"))
        sessions[msisdn] = step.state
    dial_us = (time.perf_counter() - started) / steps * 1e6
    return reply_us, dial_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    args = parser.parse_args()
    engine = MenuEngine(load_menus([ROOT / "menus"]))
    run(engine, 10, 2_000)  # warm caches
    print(f"{'live sessions':>14} {'µs/reply step':>14} {'µs/direct dial':>15}")
    for live in (10, 100_000):
        reply_us, dial_us = run(engine, live, args.steps)
        print(f"{live:>14,} {reply_us:>14.1f} {dial_us:>15.1f}")


if __name__ == "__main__":
    main()
