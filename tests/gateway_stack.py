"""A real gateway bound over loopback SMPP to the real simulator, on a real SQLite file."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smpp.dialect import PROFILES
from smpp.simulator import Simulator, SimulatorSettings
from ussd_gateway.config import GatewayConfig, parse_config
from ussd_gateway.gateway import Gateway, Running

REPO = Path(__file__).resolve().parent.parent
SECRET_ENV = {"USSD_GATEWAY_SECRET_KEY": "test-secret-key-0123456789abcdef"}


@dataclass
class Stack:
    simulator: Simulator
    gateway: Gateway
    running: Running
    config: GatewayConfig


def stack_config(tmp_path: Path, simulator_port: int,
                 tweak: Callable[[dict[str, Any]], None] | None = None,
                 environ: dict[str, str] | None = None) -> GatewayConfig:
    raw = tomllib.loads((REPO / "config.toml").read_text())
    raw["store"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    raw["simulator"]["enabled"] = False
    raw["menus"]["paths"] = [str(REPO / "menus")]
    raw["http"]["port"] = 0
    raw["smpp"]["connections"][0]["port"] = simulator_port
    raw["smpp"]["connections"][0]["enquire_link_interval"] = 5
    if tweak is not None:
        tweak(raw)
    return parse_config(raw, base_dir=tmp_path, environ={**SECRET_ENV, **(environ or {})})


def gateway_simulator(port: int = 0) -> Simulator:
    """A simulator the stack's gateway binds to (its credentials, the generic dialect)."""
    return Simulator(SimulatorSettings(
        host="127.0.0.1", port=port, system_id="gateway", password="demo",
        dialect=PROFILES["generic"], control_port=0))


async def started_simulator(port: int = 0) -> Simulator:
    simulator = gateway_simulator(port)
    await simulator.start()
    return simulator


async def restarted(stack: Stack) -> Simulator:
    """A new simulator on the port the gateway keeps redialling."""
    return await started_simulator(stack.simulator.port)


@asynccontextmanager
async def running_stack(tmp_path: Path,
                        tweak: Callable[[dict[str, Any]], None] | None = None,
                        environ: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    simulator = await started_simulator()
    gateway: Gateway | None = None
    try:
        config = stack_config(tmp_path, simulator.port, tweak, environ)
        gateway = Gateway(config)
        running = await gateway.start()
        assert await simulator.wait_bound(15), "the gateway did not bind to the simulator"
        yield Stack(simulator, gateway, running, config)
    finally:
        if gateway is not None:
            await gateway.stop()
        await simulator.stop()
