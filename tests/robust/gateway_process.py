"""The real gateway (`python -m ussd_gateway.cli run`) as a subprocess, and its config file.

The simulator lives in the test process, so its handsets and SMS inbox outlive the gateway
being killed and restarted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "robust-secret-key-0123456789abcdef"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(config: dict[str, dict[str, Any]]) -> str:
    """Two levels of tables; a list of dicts under [smpp] becomes [[smpp.connections]]."""
    lines: list[str] = []
    for section, table in config.items():
        arrays = {k: v for k, v in table.items() if isinstance(v, list) and v
                  and isinstance(v[0], dict)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if k not in arrays]
        for key, entries in arrays.items():
            for entry in entries:
                lines.append(f"[[{section}.{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def gateway_config(directory: Path, smsc_port: int, **overrides: dict[str, Any]) -> dict[
        str, dict[str, Any]]:
    """A gateway bound as an ESME to ``smsc_port``, no embedded simulator, no HTTP."""
    config: dict[str, dict[str, Any]] = {
        "gateway": {"log_level": "INFO"},
        "security": {"secret_key_env": "USSD_GATEWAY_SECRET_KEY"},
        "store": {"url": f"sqlite+aiosqlite:///{directory / 'store.db'}",
                  "auto_upgrade": True, "demo_data": False},
        "sessions": {"timeout_seconds": 60},
        "menus": {"paths": [str(REPO / "menus")]},
        "http": {"enabled": False},
        "simulator": {"enabled": False},
        "smpp": {"connections": [{
            "name": "ussdc", "mode": "esme", "host": "127.0.0.1", "port": smsc_port,
            "system_id": "gateway", "password": "demo", "dialect": "generic",
            "enquire_link_interval": 5, "reconnect_min": 0.05, "reconnect_max": 0.5,
        }]},
        "sms": {"connection": "ussdc", "source": "Operator", "lease_seconds": 3,
                "send_timeout_seconds": 2, "retry_initial_seconds": 0.1,
                "retry_max_seconds": 1, "poll_interval_seconds": 0.5},
    }
    for section, values in overrides.items():
        config.setdefault(section, {}).update(values)
    return config


def write_config(directory: Path, config: dict[str, dict[str, Any]]) -> Path:
    path = directory / "gateway.toml"
    path.write_text(to_toml(config))
    return path


class GatewayProcess:
    """One run of the gateway CLI; its output goes to ``log`` (appended across runs)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "USSD_GATEWAY_SECRET_KEY": SECRET_KEY, "PYTHONUNBUFFERED": "1"}
        with self.log.open("a") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ussd_gateway.cli", "run", "--config", str(self.config),
                stdout=out, stderr=out, cwd=REPO, env=env)

    async def kill(self) -> int:
        """kill -9: no unbind, no flush, no cleanup of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return await self.process.wait()

    async def terminate(self, within: float = 30) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

