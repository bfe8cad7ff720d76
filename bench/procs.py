"""Child processes of a bench run: started, read as JSON lines, measured from /proc, stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


class ChildFailed(RuntimeError):
    """A child process exited or went silent before saying what the bench waited for."""


class Child:
    """A process whose stdout is JSON lines (stderr goes to ``log``)."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, name: str, argv: Sequence[str], log: Path,
                    env: Mapping[str, str] | None = None) -> Child:
        with log.open("ab") as err:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=log.parent, env=dict(env) if env is not None else None,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=err)
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def next_json(self, wait: float) -> dict[str, Any]:
        """The next JSON object on stdout; other lines are ignored."""
        assert self.process.stdout is not None
        while True:
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), wait)
            except TimeoutError:
                raise ChildFailed(f"{self.name}: silent for {wait:.0f}s{self.tail()}") from None
            if not line:
                await self.process.wait()
                raise ChildFailed(
                    f"{self.name}: exited with {self.process.returncode}{self.tail()}")
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value

    def cpu_seconds(self) -> float:
        """user + system CPU of the whole process (all its threads) so far."""
        return cpu_seconds(self.pid)

    def peak_rss_kib(self) -> int | None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    async def stop(self, grace: float = 10.0) -> int | None:
        if self.process.returncode is None:
            try:
                self.process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(self.process.wait(), grace)
            except ProcessLookupError:
                pass
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode

    def tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return ("; log " + str(self.log) + ":\n  " + "\n  ".join(text)) if text else ""


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


_UVLOOP = "import uvloop; uvloop.install(); "


def python_argv(*module_and_args: str, uvloop: bool = False) -> list[str]:
    if not uvloop:
        return [sys.executable, "-m", *module_and_args]
    module, *args = module_and_args
    return [sys.executable, "-c", _UVLOOP + "import runpy; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)", *args]


def gateway_argv(config: Path, *, uvloop: bool = False) -> list[str]:
    script = Path(sys.executable).with_name("ussd-gateway")
    if script.exists() and not uvloop:
        return [str(script), "run", "--config", str(config)]
    return [sys.executable, "-c", (_UVLOOP if uvloop else "") + "import sys; "
            "from ussd_gateway.cli import main; sys.exit(main(sys.argv[1:]))",
            "run", "--config", str(config)]


def clean_env(source: Path = ROOT) -> dict[str, str]:
    """The environment for children: no store URL override from the caller's shell, and the
    code under test from ``source`` (a checkout of another commit, for comparisons)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USSD_GATEWAY_")}
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(source), str(ROOT)]))
    return env
