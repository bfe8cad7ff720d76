"""More than one box: two gateway processes, one PostgreSQL, one Redis, one USSD centre.

The USSD centre (the simulator, in this process) sends each request on the newest bind, so a
dialogue started while only instance A was bound continues on instance B once B binds.

Each instance has two links to the simulator: ``ussdc`` straight to it, and ``sms`` (the
one its outbox sends on) through a proxy, so a test can take the SMS side down, slow it, or
hold SMS (never the USSD screens) on their way while dialogues go on.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smpp.dialect import PROFILES
from smpp.simulator import Simulator, SimulatorSettings
from tests.robust.gateway_process import (
    SECRET_KEY,
    GatewayProcess,
    gateway_config,
    write_config,
)
from tests.robust.proxy import CuttingProxy
from tests.robust.store_checks import (
    committed_passwords,
    matches,
    outbox_entries,
    outbox_states,
    passwords_in,
)
from tests.robust.waiting import eventually
from tests.smscs import pdus
from ussd_gateway import services as svc
from ussd_gateway.config import load_config
from ussd_gateway.store.database import Database

EXTRA = [f"7926000{i:04d}" for i in range(12)]
ACCEPTED = re.compile(r"outbox: message (\d+) to \S+ accepted as ")


def is_sms(pdu: bytes) -> bool:
    """A submit_sm that is an SMS, not a USSD screen (the generic dialect marks screens
    with ussd_service_op / its_session_info)."""
    if pdus.header(pdu)[1] != pdus.SUBMIT_SM:
        return False
    tlvs = pdus.parse_short_message(pdu).tlvs
    return pdus.TAG_USSD_SERVICE_OP not in tlvs and pdus.TAG_ITS_SESSION_INFO not in tlvs


@dataclass
class Instance:
    gateway: GatewayProcess

    def count(self, needle: str) -> int:
        return self.gateway.output().count(needle)

    def accepted(self) -> set[int]:
        """Outbox ids of the SMS this instance sent and recorded as sent."""
        return {int(found) for found in ACCEPTED.findall(self.gateway.output())}

    async def kill(self) -> None:
        await asyncio.wait_for(self.gateway.kill(), 10)


async def wait_until(condition: Callable[[], bool], what: str, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@dataclass
class Cluster:
    simulator: Simulator
    sms_link: CuttingProxy  # every instance's SMS connection runs through it
    store_url: str
    secret_key: str | bytes
    start: Callable[..., Awaitable[Instance]]


@asynccontextmanager
async def cluster(tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str, *,
                  subscribers: list[str] = EXTRA,
                  sms: dict[str, Any] | None = None) -> AsyncIterator[Cluster]:
    db = await Database.connect(pg_url)
    await db.upgrade()
    await svc.seed_demo(db)
    accounts = svc.SubscriberService(db)
    for msisdn in subscribers:
        await accounts.upsert(msisdn, owner="Bench", region="Moscow", channel="test")
    await db.close()
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="demo",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    sms_link = CuttingProxy(simulator.port)
    await sms_link.start()
    config = gateway_config(
        tmp_path, simulator.port,
        store={"url": pg_url},
        sessions={"backend": "redis", "redis_url": redis_url, "key_prefix": redis_prefix},
        sms={"connection": "sms", "lease_seconds": 1, "send_timeout_seconds": 0.5,
             "poll_interval_seconds": 0.2, "retry_initial_seconds": 0.2, **(sms or {})})
    ussdc = config["smpp"]["connections"][0]
    config["smpp"]["connections"].append({**ussdc, "name": "sms", "port": sms_link.port})
    config_path = write_config(tmp_path, config)
    loaded = load_config(config_path, environ={"USSD_GATEWAY_SECRET_KEY": SECRET_KEY})
    instances: list[GatewayProcess] = []

    async def start(name: str, links: int = 2) -> Instance:
        """Start an instance and wait until ``links`` of its links are bound."""
        gateway = GatewayProcess(config_path, tmp_path / f"{name}.log")
        instances.append(gateway)
        await gateway.start()
        await wait_until(lambda: gateway.output().count("bound to") >= links
                         or not gateway.alive, f"instance {name} to bind")
        assert gateway.alive, gateway.output()
        return Instance(gateway)

    try:
        yield Cluster(simulator, sms_link, pg_url, loaded.secret_key, start)
    finally:
        for gateway in instances:
            await gateway.terminate()
        await sms_link.stop()
        await simulator.stop()


async def all_sent(url: str) -> bool:
    """Every SMS in the outbox is in a final state, and that state is sent or delivered."""
    return set(await outbox_states(url)) <= {"sent", "delivered"}


async def test_a_session_started_on_one_instance_continues_on_another(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    async with cluster(tmp_path, pg_url, redis_url, redis_prefix) as c:
        simulator = c.simulator
        a = await c.start("a")
        menu = await simulator.begin("79160000001", "*111#")
        assert "828" in menu.text and not menu.final
        b = await c.start("b")
        numbers = await simulator.reply("79160000001", "828")
        assert not numbers.final
        assert b.count(" reply outcome=screen") == 1 and a.count(" reply ") == 0
        await a.kill()
        done = await simulator.reply("79160000001", "1")
        assert done.final
        assert b.count(" reply outcome=final") == 1
        same = await simulator.dial("79160000003", "*111*828*1#")
        assert same.screens[-1] == done.text


COMPETING = [f"7926100{i:04d}" for i in range(40)]
NOTICES = 5  # plain SMS per number besides its password, so the two claim often


async def queue_notices(url: str, numbers: list[str]) -> dict[str, list[str]]:
    """Queue NOTICES plain SMS to each number, as an operator's notices would be."""
    db = await Database.connect(url)
    try:
        outbox = svc.OutboxService(db)
        texts = {m: [f"Notice {i} for {m}" for i in range(NOTICES)] for m in numbers}
        for msisdn, notices in texts.items():
            for text in notices:
                await outbox.enqueue(msisdn, text)
        return texts
    finally:
        await db.close()


async def test_two_instances_send_each_sms_exactly_once(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    """Forty password SMS and two hundred notices wait in the outbox while the SMS side is
    down; then both instances drain it at once, a few messages a claim: every SMS arrives
    once, and each instance sent some of them."""
    async with cluster(tmp_path, pg_url, redis_url, redis_prefix, subscribers=COMPETING,
                       sms={"batch_size": 3, "send_timeout_seconds": 3,
                            "lease_seconds": 5}) as c:
        simulator, sms_link = c.simulator, c.sms_link
        sms_link.refusing = True
        a = await c.start("a", links=1)
        b = await c.start("b", links=1)
        dials = await asyncio.gather(*(simulator.dial(m, "*111*25#", timeout=20)
                                       for m in COMPETING))
        assert all(d.session_ended for d in dials)
        assert len({d.screens[-1] for d in dials}) == 1 and "SMS" in dials[0].screens[-1]
        notices = await queue_notices(c.store_url, COMPETING)
        assert not any(simulator.inbox(m) for m in COMPETING)
        assert set(await outbox_states(c.store_url)) <= {"pending", "sending"}

        sms_link.delay_if, sms_link.delay = is_sms, 0.005
        sms_link.refusing = False
        await eventually(lambda: all_sent(c.store_url), 60, "every SMS to be recorded as sent")

        # a second copy would have reached the SMSC before its message was recorded
        committed = await committed_passwords(c.store_url)
        assert set(committed) == set(COMPETING)
        for msisdn in COMPETING:
            texts = [sms.text for sms in simulator.inbox(msisdn)]
            [password_sms] = [t for t in texts if passwords_in(t)]
            assert sorted(texts) == sorted([password_sms, *notices[msisdn]]), msisdn
            [password] = passwords_in(password_sms)
            assert matches(c.secret_key, msisdn, password, committed[msisdn])
        entries = await outbox_entries(c.store_url)
        assert len(entries) == len(COMPETING) * (1 + NOTICES)
        by_a, by_b = a.accepted(), b.accepted()
        assert by_a and by_b, f"one instance sent them all: A {len(by_a)}, B {len(by_b)}"
        assert not by_a & by_b
        assert by_a | by_b == {e.id for e in entries}


async def test_killing_an_instance_loses_no_sms(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str,
        record_property: Callable[[str, object], None]) -> None:
    """Instance A claims eight password SMS in one batch and dies (kill -9) with all of them
    in hand: four the SMSC never saw, four it accepted but whose answer never reached A.
    Once A's lease runs out, B sends all eight: four arrive once, four twice."""
    plug, issued = EXTRA[8], EXTRA[:8]
    async with cluster(tmp_path, pg_url, redis_url, redis_prefix,
                       sms={"send_timeout_seconds": 6, "lease_seconds": 7}) as c:
        simulator, sms_link = c.simulator, c.sms_link
        sms_link.hold_if = is_sms
        a = await c.start("a")
        # A's outbox is busy with the plug's SMS while the eight are queued, so that it
        # claims all eight at once when the plug goes through
        assert (await simulator.dial(plug, "*111*25#")).session_ended
        await wait_until(lambda: len(sms_link.held) == 1, "A to submit the first SMS")
        for msisdn in issued:
            assert (await simulator.dial(msisdn, "*111*25#")).session_ended
        assert sms_link.release(1) == 1
        await simulator.wait_for_sms(plug, 1, timeout=20)
        await wait_until(lambda: len(sms_link.held) == len(issued), "A to submit the eight")

        sms_link.swallow = frozenset({pdus.SUBMIT_SM | pdus.RESPONSE})
        accepted = [pdus.parse_short_message(p).destination for _, p in sms_link.held[:4]]
        assert sms_link.release(4) == 4
        for msisdn in accepted:
            await simulator.wait_for_sms(msisdn, 1, timeout=20)
        in_hand = [e for e in await outbox_entries(c.store_url) if e.destination in issued]
        assert [e.state for e in in_hand] == ["sending"] * len(issued), in_hand
        await a.kill()

        assert sms_link.release() == 0, "what A had submitted died with its link"
        sms_link.swallow = frozenset()
        b = await c.start("b")
        await eventually(lambda: all_sent(c.store_url), 60, "B to send what A held")

        received = {m: len(simulator.inbox(m)) for m in [plug, *issued]}
        assert received == {plug: 1} | {m: 2 if m in accepted else 1 for m in issued}
        duplicates = sum(received.values()) - len(received)
        record_property("duplicate_sms", duplicates)
        print(f"kill -9 with {len(issued)} SMS in hand: {duplicates} duplicate SMS")

        committed = await committed_passwords(c.store_url)
        for msisdn in issued:
            [password] = passwords_in(simulator.inbox(msisdn)[-1].text)
            assert matches(c.secret_key, msisdn, password, committed[msisdn])
        lease_end = {e.id: e.claimed_until for e in in_hand}
        taken_over = [e for e in await outbox_entries(c.store_url) if e.id in lease_end]
        assert b.accepted() == set(lease_end) and not a.accepted() & set(lease_end)
        for entry in taken_over:
            # B took each one only once A's lease on it had run out
            assert entry.attempts == 2 and entry.sent_at is not None
            until = lease_end[entry.id]
            assert until is not None and entry.sent_at >= until


pytestmark = pytest.mark.timeout(180)
