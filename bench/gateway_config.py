"""The gateway's config for a bench run: the shipped config.toml with the bench's changes."""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .procs import ROOT

SYSTEM_ID = "gateway"
PASSWORD = "bench"


def bench_config(*, smsc_port: int, store_url: str, sessions: Mapping[str, Any],
                 workdir: Path, source: Path = ROOT) -> dict[str, Any]:
    """config.toml, but: no simulator, no HTTP, one ESME connection to the load generator,
    the given store and sessions, quiet logs, and a password rate limit the bench does not hit
    (the bench measures the gateway, not its throttle)."""
    config: dict[str, Any] = tomllib.loads((source / "config.toml").read_text(encoding="utf-8"))
    config.setdefault("gateway", {})["log_level"] = "WARNING"
    # One key for the run, made here: with a PostgreSQL store the gateway will not make one up.
    key_file = workdir / "secret.key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    config["security"] = {"secret_key_file": str(key_file)}
    config["store"] = {**config.get("store", {}), "url": store_url, "demo_data": False,
                       "auto_upgrade": True}
    config["sessions"] = {**config.get("sessions", {}), **sessions}
    menus = config.setdefault("menus", {})
    menus["paths"] = [str(source / p) for p in menus.get("paths", ["menus"])]
    config["http"] = {**config.get("http", {}), "enabled": False}
    config["simulator"] = {**config.get("simulator", {}), "enabled": False}
    shipped = (config.get("smpp", {}).get("connections") or [{}])[0]
    connection = {**shipped, "name": "loadgen", "mode": "esme", "host": "127.0.0.1",
                  "port": smsc_port, "system_id": SYSTEM_ID, "password": PASSWORD,
                  "dialect": "generic"}
    config["smpp"] = {"connections": [connection]}
    config["sms"] = {**config.get("sms", {}), "connection": "loadgen"}
    config["passwords"] = {**config.get("passwords", {}), "rate_limit_count": 1000,
                           "rate_limit_window_minutes": 1}
    return config


def dump_toml(config: Mapping[str, Any]) -> str:
    """TOML for the shapes config.toml uses: tables of scalars and lists, arrays of tables."""
    lines: list[str] = []

    def table(path: str, values: Mapping[str, Any], array: bool = False) -> None:
        lines.append(f"[[{path}]]" if array else f"[{path}]")
        nested: list[tuple[str, Any]] = []
        for key, value in values.items():
            if isinstance(value, Mapping):
                nested.append((key, value))
            elif isinstance(value, list) and value and isinstance(value[0], Mapping):
                nested.extend((key, [item]) for item in value)
            else:
                lines.append(f"{key} = {_scalar(value)}")
        lines.append("")
        for key, value in nested:
            if isinstance(value, list):
                table(f"{path}.{key}", value[0], array=True)
            else:
                table(f"{path}.{key}", value)

    for name, value in config.items():
        if isinstance(value, Mapping):
            table(name, value)
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(dump_toml(config), encoding="utf-8")
    return path
