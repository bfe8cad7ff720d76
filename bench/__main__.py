"""``python -m bench [--quick]``: every scenario against ``ussd-gateway run``, side by side with
the echo ceiling, on SQLite and (where reachable) PostgreSQL + Redis; then memory per idle
session. Writes bench/results/<date>-<scenario>.json and prints Markdown tables."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .backends import BACKENDS, Backend
from .bench_menus import engine_table
from .bench_menus import measure as engine_cost
from .procs import ChildFailed
from .profile import summarise_profile
from .report import RESULTS, derive, machine, memory_table, table, write_results
from .run import Load, Profiler, run_scenario
from .session_memory import measure, measure_redis

GATEWAY_SCENARIOS = ("balance", "password", "walk", "toggle")
QUICK = Load(handsets=40, subscribers=300, warmup=0.5, duration=2.0, open_duration=2.0)
FULL = Load(handsets=40, subscribers=1000, warmup=3.0, duration=15.0, open_duration=15.0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (under 2 minutes)")
    parser.add_argument("--scenarios", nargs="+", choices=GATEWAY_SCENARIOS,
                        help="default: all (with --profile: balance)")
    parser.add_argument("--stores", nargs="+", choices=[b.name for b in BACKENDS],
                        default=[b.name for b in BACKENDS])
    parser.add_argument("--handsets", type=int,
                        help="dialogues in progress at once in the closed loop (default 40)")
    parser.add_argument("--duration", type=float, help="seconds per measured phase")
    parser.add_argument("--no-memory", action="store_true", help="skip the session memory test")
    parser.add_argument("--profile", action="store_true",
                        help="only profile the gateway with py-spy (during the first scenario)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="directory for the JSON results (default bench/results)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--uvloop", action="store_true",
                        help="run the gateway and the echo on uvloop (pip install uvloop)")
    parser.add_argument("--source", type=Path,
                        help="measure the gateway code in this checkout (default: this one)")
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> Load:
    load = QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    if args.handsets:
        changes.update(handsets=args.handsets, subscribers=max(load.subscribers, args.handsets))
    if args.duration:
        changes.update(duration=args.duration, open_duration=args.duration)
    if args.source:
        changes.update(source=args.source.resolve())
    if args.uvloop:
        changes.update(uvloop=True)
    return Load(**{**load.__dict__, **changes})


async def run_all(args: argparse.Namespace, workdir: Path) -> int:
    load = load_settings(args)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in load.__dict__.items()}
    info = {"machine": machine(), "load": settings, "quick": args.quick,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    rows: list[dict[str, Any]] = []
    documents: dict[str, dict[str, Any]] = {}

    def note(scenario: str, store: str, run: dict[str, Any] | None, error: str | None) -> None:
        figures = derive(run) if run is not None else None
        documents.setdefault(scenario, {**info, "scenario": scenario, "stores": {}})
        documents[scenario]["stores"][store] = {"figures": figures, "error": error, "raw": run}
        if figures is not None:
            rows.append({"scenario": scenario, "store": store, "figures": figures})
        print(f"  {scenario:<9} {store:<15} "
              + (error or f"{figures['steps_per_s'] if figures else '-'} steps/s"),
              file=sys.stderr, flush=True)

    echo_rate = None
    try:
        echo = await run_scenario("echo", None, load, workdir)
        note("echo", "none (ceiling)", echo, None)
        echo_rate = derive(echo)["steps_per_s"]
    except ChildFailed as exc:
        note("echo", "none (ceiling)", None, str(exc))

    for backend in (b for b in BACKENDS if b.name in args.stores):
        reason = await backend.unavailable()
        if reason is not None:
            print(f"  {backend.name}: skipped, {reason}", file=sys.stderr)
            for scenario in args.scenarios:
                note(scenario, backend.name, None, f"skipped: {reason}")
            continue
        await _run_backend(backend, args.scenarios, load, workdir, note)

    for row in rows:
        rate = row["figures"]["steps_per_s"]
        row["echo_ratio"] = round(rate / echo_rate, 3) if echo_rate and rate is not None else None
        documents[row["scenario"]]["stores"][row["store"]]["echo_ratio"] = row["echo_ratio"]

    memory: list[dict[str, Any]] = []
    if not args.no_memory:
        for count in (10_000, 100_000):
            memory.append({"store": "memory (tracemalloc)", **await measure(count)})
        redis = next((b for b in BACKENDS if b.name == "postgres+redis"), None)
        if redis is not None and redis.name in args.stores and not await redis.unavailable():
            prefix = f"ussd-bench-memory-{secrets.token_hex(4)}:"
            for count in (10_000,) if args.quick else (10_000, 100_000):
                memory.append({"store": "redis (used_memory)",
                               **await measure_redis(count, prefix)})
        engine = await engine_cost(steps=10_000 if args.quick else 50_000)
        documents["memory"] = {**info, "scenario": "memory", "idle_sessions": memory,
                               "engine_steps": engine}

    for scenario, document in documents.items():
        write_results(date, scenario, document, args.results)
    print(f"\nussd-gateway bench, {date}, {info['machine']['cpu']} x{info['machine']['cores']}, "
          f"Python {info['machine']['python']}{' (quick)' if args.quick else ''}; "
          f"p50/p95/p99 at 50% of saturation; results in {args.results}\n")
    print(table(rows))
    if memory:
        print()
        print(memory_table(memory))
        print()
        print(engine_table(engine))
    return 0 if rows else 1


async def _run_backend(backend: Backend, scenarios: list[str], load: Load, workdir: Path,
                       note: Any) -> None:
    async with backend.template(workdir, load.subscribers) as template:
        for scenario in scenarios:
            async with backend.fresh(workdir, template, scenario) as store:
                try:
                    run = await run_scenario(scenario, store, load, workdir)
                except ChildFailed as exc:
                    note(scenario, backend.name, None, str(exc))
                    continue
                note(scenario, backend.name, run, None)


async def profile(args: argparse.Namespace, workdir: Path) -> int:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    load = load_settings(args)
    scenario = (args.scenarios or ["balance"])[0]
    backend = next(b for b in BACKENDS if b.name == (args.stores[0]))
    output = workdir / f"{scenario}.pyspy.txt"
    async with backend.template(workdir, load.subscribers) as template:
        async with backend.fresh(workdir, template, scenario) as store:
            run = await run_scenario(scenario, store, load, workdir, Profiler(spy, output))
    print(f"{scenario} on {backend.name} under py-spy: {derive(run)['steps_per_s']} steps/s")
    args.results.mkdir(parents=True, exist_ok=True)
    kept = args.results / f"{datetime.now(UTC):%Y-%m-%d}-{scenario}-profile.txt"
    shutil.copyfile(output, kept)
    print(summarise_profile(output))
    print(f"\nraw collapsed stacks: {kept}")
    return 0


def main() -> int:
    args = parse_args(sys.argv[1:])
    if not args.profile:
        args.scenarios = args.scenarios or list(GATEWAY_SCENARIOS)
    workdir = Path(tempfile.mkdtemp(prefix="ussd-bench-"))
    started = time.perf_counter()
    try:
        code = asyncio.run(profile(args, workdir) if args.profile else run_all(args, workdir))
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
