"""One scenario on one store: load generator + system under test, each its own process.

The load generator listens; the gateway (or the echo ceiling) binds to it. CPU is read from
/proc for both processes between the load generator's "recording" and "done" lines, so start-up,
warm-up and shutdown are not charged to the steps.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import Store
from .gateway_config import bench_config, write_config
from .procs import ROOT, Child, ChildFailed, clean_env, gateway_argv, python_argv
from .seed import MSISDN_BASE
from .verify import password_rows


@dataclass(frozen=True)
class Load:
    handsets: int = 40
    subscribers: int = 1000
    warmup: float = 2.0
    duration: float = 10.0
    open_fraction: float = 0.5
    open_duration: float = 10.0
    step_timeout: float = 5.0
    source: Path = ROOT  # the checkout whose gateway (and echo) is measured
    uvloop: bool = False  # run the gateway (and echo) on uvloop instead of asyncio's loop


@dataclass(frozen=True)
class Profiler:
    """py-spy attached to the system under test for the closed-loop phase."""

    executable: Path
    output: Path
    rate: int = 200


async def run_scenario(scenario: str, store: Store | None, load: Load, workdir: Path,
                       profiler: Profiler | None = None) -> dict[str, Any]:
    label = f"{scenario}-{store.backend if store else 'echo'}".replace("+", "-")
    env = clean_env()
    loadgen = await Child.start("loadgen", python_argv(
        "bench.loadgen", "--scenario", scenario, "--handsets", str(load.handsets),
        "--subscribers", str(load.subscribers), "--msisdn-base", str(MSISDN_BASE),
        "--warmup", str(load.warmup), "--duration", str(load.duration),
        "--open-fraction", str(load.open_fraction), "--open-duration", str(load.open_duration),
        "--step-timeout", str(load.step_timeout)), workdir / f"{label}.loadgen.log", env)
    sut: Child | None = None
    exit_code: int | None = None
    try:
        port = int((await loadgen.next_json(30))["listening"])
        sut_env = clean_env(load.source)
        if store is None:
            sut = await Child.start("echo", python_argv(
                "bench.echo", "--connect", f"127.0.0.1:{port}", uvloop=load.uvloop),
                workdir / f"{label}.log", sut_env)
        else:
            config = write_config(workdir / f"{label}.toml", bench_config(
                smsc_port=port, store_url=store.url, sessions=store.sessions, workdir=workdir,
                source=load.source))
            sut = await Child.start("gateway", gateway_argv(config, uvloop=load.uvloop),
                                    workdir / f"{label}.log", sut_env)
        figures = await _follow(loadgen, sut, load, profiler)
    finally:
        if sut is not None:
            exit_code = await sut.stop()
        await loadgen.stop()
    figures["sut_exit"] = exit_code
    if store is not None and scenario == "password":
        figures["store_check"] = await _durability(store, figures)
    return figures


async def _follow(loadgen: Child, sut: Child, load: Load,
                  profiler: Profiler | None) -> dict[str, Any]:
    """Read the load generator's lines to its result, sampling CPU around each phase."""
    marks: dict[str, tuple[float, float, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    wrong: list[dict[str, Any]] = []
    spy: asyncio.subprocess.Process | None = None
    patience = 60 + load.warmup + max(load.duration, load.open_duration) + load.step_timeout
    while True:
        line = await _next_line(loadgen, sut, patience)
        phase, mode = line.get("phase"), str(line.get("mode", "closed"))
        if phase == "recording":
            marks[mode] = (time.perf_counter(), sut.cpu_seconds(), loadgen.cpu_seconds())
            if profiler is not None and mode == "closed":
                spy = await _start_profiler(profiler, sut.pid, load.duration)
        elif phase == "done" and mode in marks:
            wall0, sut0, gen0 = marks[mode]
            wall = time.perf_counter() - wall0
            cpu[mode] = {"sut_cpu_s": round(sut.cpu_seconds() - sut0, 3),
                         "loadgen_cpu_s": round(loadgen.cpu_seconds() - gen0, 3),
                         "wall_s": round(wall, 3)}
        elif "wrong" in line:
            wrong.append(line["wrong"])
        elif "result" in line:
            if spy is not None:
                await spy.wait()
            return {"load": line["result"], "cpu": cpu, "wrong_samples": wrong,
                    "sut_peak_rss_kib": sut.peak_rss_kib()}


async def _next_line(loadgen: Child, sut: Child, patience: float) -> dict[str, Any]:
    reading = asyncio.ensure_future(loadgen.next_json(patience))
    exited = asyncio.ensure_future(sut.process.wait())
    try:
        await asyncio.wait({reading, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        exited.cancel()
    if not reading.done():
        reading.cancel()
        raise ChildFailed(f"{sut.name} exited with {sut.process.returncode}{sut.tail()}")
    return reading.result()


async def _start_profiler(profiler: Profiler, pid: int,
                          duration: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(profiler.executable), "record", "--pid", str(pid), "--duration",
        str(max(1, int(duration))), "--rate", str(profiler.rate), "--format", "raw",
        "--nonblocking", "--threads", "--output", str(profiler.output),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def _durability(store: Store, figures: dict[str, Any]) -> dict[str, Any]:
    """Every password a handset was told about is in the store, with its SMS row."""
    rows = await password_rows(store.url)
    answered = int(figures["load"].get("total_dialogues", 0))
    rows["passwords_answered"] = answered
    rows["all_committed"] = (int(str(rows["passwords_issued"])) >= answered
                             and int(str(rows["sms_rows"])) >= answered)
    return rows
