"""More than one box: two gateway processes, one PostgreSQL, one Redis, one USSD centre.

The USSD centre (the simulator, in this process) sends each request on the newest bind, so a
dialogue started while only instance A was bound continues on instance B once B binds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from smpp.dialect import PROFILES
from smpp.simulator import Simulator, SimulatorSettings
from tests.gateway_stack import REPO, SECRET_ENV
from ussd_gateway import services as svc
from ussd_gateway.store.database import Database

EXTRA = [f"7926000{i:04d}" for i in range(12)]


@dataclass
class Instance:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def text(self) -> str:
        return self.log.read_text()

    def count(self, needle: str) -> int:
        return self.text().count(needle)


def write_config(directory: Path, simulator_port: int, redis_url: str, prefix: str) -> Path:
    raw = (REPO / "config.toml").read_text()
    raw = raw.replace("enabled = true\nhost = \"127.0.0.1\"\nport = 2775",
                      "enabled = false\nhost = \"127.0.0.1\"\nport = 2775")
    raw = raw.replace("port = 2775\nsystem_id = \"gateway\"\npassword = \"demo\"\ndialect",
                      f"port = {simulator_port}\nsystem_id = \"gateway\"\npassword = \"demo\"\n"
                      "dialect", 1)
    raw = raw.replace('backend = "memory"', 'backend = "redis"')
    raw = raw.replace('redis_url = "redis://127.0.0.1:6379/0"', f'redis_url = "{redis_url}"')
    raw = raw.replace('key_prefix = "ussd-gateway:"', f'key_prefix = "{prefix}"')
    raw = raw.replace("demo_data = true", "demo_data = false")
    raw = raw.replace("port = 8080", "port = 0")
    raw = raw.replace('paths = ["menus"]', f'paths = ["{REPO / "menus"}"]')
    for key, value in (("lease_seconds", "1"), ("send_timeout_seconds", "0.5"),
                       ("poll_interval_seconds", "0.2"), ("retry_initial_seconds", "0.2")):
        raw = "\n".join(f"{key} = {value}" if line.startswith(f"{key} =") else line
                        for line in raw.splitlines())
    parsed = tomllib.loads(raw)
    assert parsed["simulator"]["enabled"] is False
    assert parsed["smpp"]["connections"][0]["port"] == simulator_port
    path = directory / "config.toml"
    path.write_text(raw)
    return path


async def wait_until(condition: Callable[[], bool], what: str, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


Starter = Callable[[str], Awaitable[Instance]]


@asynccontextmanager
async def cluster(tmp_path: Path, pg_url: str, redis_url: str,
                  redis_prefix: str) -> AsyncIterator[tuple[Simulator, Starter]]:
    db = await Database.connect(pg_url)
    await db.upgrade()
    await svc.seed_demo(db)
    subscribers = svc.SubscriberService(db)
    for msisdn in EXTRA:
        await subscribers.upsert(msisdn, owner="Bench", region="Moscow", channel="test")
    await db.close()
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="demo",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    config = write_config(tmp_path, simulator.port, redis_url, redis_prefix)
    env = {**os.environ, **SECRET_ENV, "USSD_GATEWAY_DATABASE_URL": pg_url}
    instances: list[Instance] = []

    async def start(name: str) -> Instance:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ussd_gateway.cli", "run", "--config", str(config),
                stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=REPO, env=env)
        instance = Instance(name, process, log)
        instances.append(instance)
        await wait_until(
            lambda: "bound to" in instance.text() or process.returncode is not None,
            f"instance {name} to bind")
        assert process.returncode is None, instance.text()
        return instance

    try:
        yield simulator, start
    finally:
        for instance in instances:
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in instances:
            await asyncio.wait_for(instance.process.wait(), 30)
        await simulator.stop()


async def test_a_session_started_on_one_instance_continues_on_another(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    async with cluster(tmp_path, pg_url, redis_url, redis_prefix) as (simulator, start):
        a = await start("a")
        menu = await simulator.begin("79160000001", "*111#")
        assert "828" in menu.text and not menu.final
        b = await start("b")
        numbers = await simulator.reply("79160000001", "828")
        assert not numbers.final
        assert b.count(" reply outcome=screen") == 1 and a.count(" reply ") == 0
        a.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(a.process.wait(), 10)
        done = await simulator.reply("79160000001", "1")
        assert done.final
        assert b.count(" reply outcome=final") == 1
        same = await simulator.dial("79160000003", "*111*828*1#")
        assert same.screens[-1] == done.text


async def test_two_instances_send_each_sms_exactly_once(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    async with cluster(tmp_path, pg_url, redis_url, redis_prefix) as (simulator, start):
        await start("a")
        first, second = EXTRA[:6], EXTRA[6:]
        for msisdn in first:
            assert (await simulator.dial(msisdn, "*111*25#")).session_ended
        await start("b")
        for msisdn in second:
            assert (await simulator.dial(msisdn, "*111*25#")).session_ended
        for msisdn in EXTRA:
            await simulator.wait_for_sms(msisdn, 1, timeout=20)
        # both senders keep polling the one outbox; nothing may go out a second time
        await asyncio.sleep(1.5)
        assert {msisdn: len(simulator.inbox(msisdn)) for msisdn in EXTRA} == dict.fromkeys(
            EXTRA, 1)


async def test_killing_an_instance_loses_no_sms(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    async with cluster(tmp_path, pg_url, redis_url, redis_prefix) as (simulator, start):
        a = await start("a")
        issued = EXTRA[:8]
        for msisdn in issued:
            assert (await simulator.dial(msisdn, "*111*25#")).session_ended
        a.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(a.process.wait(), 10)
        await start("b")
        for msisdn in issued:
            await simulator.wait_for_sms(msisdn, 1, timeout=20)
        duplicates = sum(len(simulator.inbox(m)) - 1 for m in issued)
        # at-least-once: a kill between the SMSC's accept and the commit may repeat one
        assert duplicates <= 1, f"{duplicates} duplicate SMS after one kill"


pytestmark = pytest.mark.timeout(180)
