"""kill -9 (or SIGTERM) the real gateway while many *111*25# are in flight, restart it on
the same store.

The simulator (USSD centre + SMSC with virtual handsets) lives in this test process, so
its SMS inboxes survive the gateway's death. Afterwards: every password the store
committed reached its subscriber by SMS (at least once; duplicates are counted and
reported), no SMS carries a password the store does not hold, and SQLite's integrity check
passes. ``USSD_LONG_TESTS=1`` runs more subscribers and more kills.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from smpp.client import EsmeClient
from smpp.dialect import PROFILES
from smpp.server import SmscServer, SmscSettings
from smpp.simulator import DialResult, Simulator, SimulatorError, SimulatorSettings
from smpp.ussd import UssdReply, UssdRequest
from tests.peers.esme import RawEsme, ussd_submit
from tests.peers.raw import pdu as raw_pdu
from tests.robust.gateway_process import SECRET_KEY, GatewayProcess, gateway_config, write_config
from tests.robust.proxy import CuttingProxy
from tests.robust.store_checks import (
    committed_passwords,
    integrity_check,
    matches,
    outbox_states,
    passwords_in,
)
from tests.robust.waiting import eventually, until
from tests.smscs import pdus
from tests.smscs.base import ScriptedSmsc
from tests.test_smpp_client import settings as esme_settings
from tests.test_smpp_client import ussd_request
from ussd_gateway.config import load_config
from ussd_gateway.services import SubscriberService
from ussd_gateway.store.database import Database

LONG = os.environ.get("USSD_LONG_TESTS") == "1"
SUBSCRIBERS = 150 if LONG else 30
KILLS = 3 if LONG else 1
BIND_WAIT = 60.0
SEED = int(os.environ.get("USSD_ROBUST_SEED", "9"))


def numbers(count: int) -> list[str]:
    return [f"7916555{i:04d}" for i in range(count)]


async def seed(url: str, msisdns: list[str]) -> None:
    db = await Database.connect(url)
    try:
        await db.upgrade()
        subscribers = SubscriberService(db)
        for msisdn in msisdns:
            await subscribers.upsert(msisdn, owner=f"Owner {msisdn}", region="Moscow",
                                     language="en", channel="test")
    finally:
        await db.close()


async def dial(simulator: Simulator, msisdn: str, answered: list[str]) -> DialResult | str:
    try:
        result = await simulator.dial(msisdn, "*111*25#", timeout=20)
    except SimulatorError as error:
        return str(error)
    answered.append(msisdn)
    return result


async def settle(simulator: Simulator,
                 tasks: list[asyncio.Task[DialResult | str]]) -> list[DialResult | str]:
    """Once the simulator has read the dead link to its end, every screen the gateway sent
    has been taken in; a dial still waiting can never be answered, so it is called off."""
    await until(lambda: not simulator.is_bound, 30)
    for _ in range(10):
        await asyncio.sleep(0)  # let dials whose screen arrived pick it up
    for task in tasks:
        task.cancel()
    settled = await asyncio.gather(*tasks, return_exceptions=True)
    return [r if isinstance(r, DialResult | str) else "killed in flight" for r in settled]


@pytest.mark.timeout(300 if LONG else 120)
@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
async def test_a_stop_mid_flight_loses_no_committed_password(
        tmp_path: Path, record_property: Callable[[str, object], None], stop: str) -> None:
    """kill -9 is the crash; SIGTERM the operator's restart, which must also exit 0."""
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="demo",
                                            dialect=PROFILES["generic"], receipt_delay=0.05))
    await simulator.start()
    config_path = write_config(tmp_path, gateway_config(tmp_path, simulator.port))
    config = load_config(config_path, environ={"USSD_GATEWAY_SECRET_KEY": SECRET_KEY})
    url = config.store.url
    msisdns = numbers(SUBSCRIBERS)
    await seed(url, msisdns)
    gateway = GatewayProcess(config_path, tmp_path / "gateway.log")
    results: list[DialResult | str] = []
    chooser = random.Random(SEED)
    try:
        pending = list(msisdns)
        for round_ in range(KILLS):
            await gateway.start()
            assert await simulator.wait_bound(BIND_WAIT), gateway.output()
            batch, pending = pending[: len(msisdns) // KILLS], pending[len(msisdns) // KILLS:]
            if round_ == KILLS - 1:
                batch += pending
            answered: list[str] = []
            tasks = [asyncio.create_task(dial(simulator, m, answered)) for m in batch]
            # kill once some subscribers have their screen and the rest are in flight
            threshold = chooser.randint(max(1, len(batch) // 6), max(1, len(batch) // 2))
            await until(lambda: len(answered) >= threshold  # noqa: B023
                        or all(t.done() for t in tasks), 60)  # noqa: B023
            if stop == "kill -9":
                assert await gateway.kill() == -9
            else:
                assert await gateway.terminate() == 0, gateway.output()
            results += await settle(simulator, tasks)
        await gateway.start()
        assert await simulator.wait_bound(BIND_WAIT), gateway.output()

        committed = await committed_passwords(url)
        assert set(committed) <= set(msisdns)
        for msisdn in committed:
            await simulator.wait_for_sms(msisdn, 1, timeout=60)
        # an SMS the SMSC took from the killed gateway is still "sending" until its lease
        # runs out and it is sent again: wait for that too, then stop
        await eventually(lambda: all_sent(url), 60, "the outbox to drain")
        assert await gateway.terminate() == 0
    finally:
        if gateway.alive:
            await gateway.kill()
        await simulator.stop()

    # the store after the dust settled: nothing left to send, nothing broken
    assert await integrity_check(tmp_path / "store.db") == "ok"
    assert committed == await committed_passwords(url)

    duplicates = 0
    for msisdn in msisdns:
        inbox = simulator.inbox(msisdn)
        if msisdn not in committed:
            assert inbox == [], f"{msisdn} got an SMS for a password never committed"
            continue
        assert inbox, f"{msisdn}: committed password never sent"
        for sms in inbox:
            found = passwords_in(sms.text)
            assert len(found) == 1, sms.text
            assert matches(config.secret_key, msisdn, found[0], committed[msisdn]), (
                f"{msisdn} got a password the store does not hold")
        duplicates += len(inbox) - 1

    # a subscriber who saw "your password is on its way" has a committed password
    for result in results:
        if isinstance(result, DialResult):
            assert result.session_ended
    seen = [m for m, r in zip(msisdns, results, strict=True) if isinstance(r, DialResult)]
    assert set(seen) <= set(committed)
    if stop == "SIGTERM":  # a graceful stop answers every request it has taken in
        assert len(seen) == len(msisdns), f"{len(msisdns) - len(seen)} left unanswered"
    output = gateway.output()
    assert "Traceback" not in output, output
    report = (f"crash test ({stop}): {len(msisdns)} dialled, "
              f"{len(seen)} answered before the stop, "
              f"{len(committed)} committed, {duplicates} duplicate SMS")
    print(report)  # shown with -s or -rA; the numbers also go to the JUnit XML
    for name, value in (("committed", len(committed)), ("duplicate_sms", duplicates),
                        ("answered_before_stop", len(seen))):
        record_property(name, value)


async def test_an_sms_the_smsc_took_but_nobody_recorded_is_sent_again(tmp_path: Path) -> None:
    """The one window at-least-once cannot close: the SMSC accepted the SMS, its resp was
    lost, and the gateway died before it knew. After the restart the lease runs out and the
    same password goes out again: a duplicate, never a loss."""
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="demo",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    proxy = CuttingProxy(simulator.port)
    await proxy.start()
    config_path = write_config(tmp_path, gateway_config(
        tmp_path, proxy.port, sms={"send_timeout_seconds": 4, "lease_seconds": 5}))
    config = load_config(config_path, environ={"USSD_GATEWAY_SECRET_KEY": SECRET_KEY})
    msisdn = numbers(1)[0]
    await seed(config.store.url, [msisdn])
    gateway = GatewayProcess(config_path, tmp_path / "gateway.log")
    try:
        await gateway.start()
        assert await simulator.wait_bound(BIND_WAIT), gateway.output()
        proxy.swallow = frozenset({0x80000004})  # every submit_sm_resp is lost on the way
        dialled = await simulator.dial(msisdn, "*111*25#")
        assert "on its way" in dialled.screens[-1]
        await simulator.wait_for_sms(msisdn, 1, timeout=30)
        assert await gateway.kill() == -9  # before the 4 s send timeout could notice
        assert await outbox_states(config.store.url) == {"sending": 1}
        proxy.swallow = frozenset()
        await gateway.start()
        inbox = await simulator.wait_for_sms(msisdn, 2, timeout=60)
        await eventually(lambda: all_sent(config.store.url), 30, "the resend to be recorded")
        assert await gateway.terminate() == 0
    finally:
        if gateway.alive:
            await gateway.kill()
        await proxy.stop()
        await simulator.stop()
    committed = await committed_passwords(config.store.url)
    sent = {p for sms in inbox for p in passwords_in(sms.text)}
    assert len(sent) == 1, "both copies carry the one committed password"
    assert matches(config.secret_key, msisdn, sent.pop(), committed[msisdn])
    assert await integrity_check(tmp_path / "store.db") == "ok"


async def all_sent(url: str) -> bool:
    return set(await outbox_states(url)) <= {"sent", "delivered"}


async def test_a_graceful_stop_answers_the_requests_it_has_taken_in() -> None:
    smsc = ScriptedSmsc()
    await smsc.start()
    entered = asyncio.Event()

    async def slow_store(request: UssdRequest) -> UssdReply:
        entered.set()
        await asyncio.sleep(0.5)  # the scenario: a busy store, not synchronisation
        return UssdReply("Your password is on its way by SMS.", final=True)

    client = EsmeClient(esme_settings(smsc.port), slow_store)
    await client.start()
    try:
        assert await client.wait_bound(10)
        response = await smsc.deliver(ussd_request("*111*25#", 1, b"\x21\x00"))
        assert pdus.header(response)[2] == pdus.ESME_ROK  # the centre was told "taken"
        await asyncio.wait_for(entered.wait(), 10)
        await client.stop()
        assert not smsc.submits.empty(), "the handset taken in was left without a screen"
    finally:
        await client.stop()
        await smsc.stop()


async def test_a_graceful_stop_of_the_smsc_role_answers_the_requests_in_hand() -> None:
    entered = asyncio.Event()

    async def slow_store(request: UssdRequest) -> UssdReply:
        entered.set()
        await asyncio.sleep(0.5)  # the scenario: a busy store, not synchronisation
        return UssdReply("Your balance: 42.00", final=True)

    server = SmscServer(SmscSettings(name="gw", system_id="ussdc", password="secret"),
                        slow_store)
    await server.start()
    esme = await RawEsme.connect(server.port)
    try:
        assert await esme.bind() == 0
        await esme.send(ussd_submit(5))
        await asyncio.wait_for(entered.wait(), 10)
        stopping = asyncio.create_task(server.stop())
        answers: list[int] = []
        try:
            while True:
                decoded = await esme.read()
                header = decoded.header
                if header.command_id == 0x06:  # unbind: acknowledge it, as a centre would
                    await esme.send(raw_pdu(0x80000006, header.sequence_number))
                elif header.sequence_number == 5:
                    answers.append(header.command_status)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        await asyncio.wait_for(stopping, 30)
        assert len(answers) == 1, "the submit_sm in hand got no submit_sm_resp"
    finally:
        await esme.close()
