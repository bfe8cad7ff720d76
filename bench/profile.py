"""py-spy's collapsed stacks -> where the gateway's CPU goes, by function and by area."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")

# Which part of the system a frame's file belongs to, first match wins.
AREAS = (
    ("menus engine", "menus/"),
    ("SQLite statements (one-hop driver)", "store/sqlite_driver"),
    ("gateway (dispatch, services)", "ussd_gateway/"),
    ("smpp (ours)", "smpp/"),
    ("aiosmpplib", "aiosmpplib"),
    ("sqlalchemy", "sqlalchemy"),
    ("aiosqlite / sqlite3", "aiosqlite"),
    ("logging", "logging/"),
    ("asyncio", "asyncio/"),
)


# Innermost frames that mean "waiting", not working: aiosqlite's worker threads block in
# SimpleQueue.get (in C, so py-spy counts it as busy) and the loop waits in epoll.
IDLE = (re.compile(r"^_connection_worker_thread \(.*aiosqlite/core.py:59\)$"),
        re.compile(r"^EpollSelector.select \(.*selectors.py:\d+\)$"))


def _frame_key(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match["func"], match["file"]


def _area(file: str) -> str:
    for name, needle in AREAS:
        if needle in file:
            return name
    return "other"


def summarise_profile(path: Path, top: int = 20) -> str:
    own: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    areas: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        count = int(match["count"])
        raw = match["stack"].split(";")
        if any(pattern.match(raw[-1].strip()) for pattern in IDLE):
            idle += count
            continue
        frames = [_frame_key(f) for f in raw]
        total += count
        thread = frames[0][0] if frames and frames[0][0].startswith("thread") else "?"
        threads["main thread" if "MainThread" in thread else "other threads"] += count
        frames = [f for f in frames if not f[0].startswith(("thread", "process"))]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        # A sample belongs to the innermost frame that is ours or a named library's.
        for _func, file in reversed(frames):
            if _area(file) != "other":
                areas[_area(file)] += count
                break
        else:
            areas["other"] += count
    if not total:
        return "no samples"

    def pct(count: int) -> str:
        return f"{count * 100 / total:5.1f}%"

    out = [f"{total} busy samples ({idle} idle ones left out: waits in epoll and in"
           " aiosqlite's worker threads)", "", "by area (innermost frame of a known area):"]
    out += [f"  {pct(c)}  {name}" for name, c in areas.most_common()]
    out += ["", "by thread:"] + [f"  {pct(c)}  {name}" for name, c in threads.most_common(5)]
    out += ["", f"top {top} by own time:"]
    out += [f"  {pct(c)}  {func}  ({file})" for (func, file), c in own.most_common(top)]
    out += ["", f"top {top} by inclusive time:"]
    out += [f"  {pct(c)}  {func}  ({file})" for (func, file), c in inclusive.most_common(top)]
    return "\n".join(out)
