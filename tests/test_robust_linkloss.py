"""The SMSC drops the link at random points under load (a TCP proxy between the gateway and
the simulator cuts every connection, or refuses new ones for a while).

The gateway redials with backoff, a dialogue open across the cut continues on the new
link, an in-flight request either completes or the handset is free to dial again, and SMS
queued while the link was down go out once it is back. ``USSD_LONG_TESTS=1`` cuts more.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from smpp.dialect import PROFILES
from smpp.simulator import (
    DialResult,
    DialTimeout,
    Simulator,
    SimulatorError,
    SimulatorSettings,
)
from tests.gateway_stack import Stack, running_stack
from tests.robust.proxy import CuttingProxy
from tests.robust.store_checks import committed_passwords, matches, passwords_in
from tests.robust.waiting import eventually, until
from ussd_gateway.services import OutboxService, PasswordIssued, SubscriberService

LONG = os.environ.get("USSD_LONG_TESTS") == "1"
SEED = int(os.environ.get("USSD_ROBUST_SEED", "25"))
DEMO = "79160000001"
ENGLISH = "79160000002"


def fast_recovery(proxy: CuttingProxy) -> Callable[[dict[str, Any]], None]:
    """Route the gateway's ESME link through ``proxy``; redial and resend without long waits."""

    def tweak(raw: dict[str, Any]) -> None:
        connection = raw["smpp"]["connections"][0]
        proxy.target_port = connection["port"]
        connection.update(port=proxy.port, reconnect_min=0.05, reconnect_max=0.5)
        raw["sms"].update(retry_initial_seconds=0.1, retry_max_seconds=0.5,
                          poll_interval_seconds=0.5, send_timeout_seconds=3)

    return tweak


@asynccontextmanager
async def stack_behind_proxy(tmp_path: Path) -> AsyncIterator[tuple[Stack, CuttingProxy]]:
    proxy = CuttingProxy()
    await proxy.start()
    try:
        async with running_stack(tmp_path, fast_recovery(proxy)) as stack:
            yield stack, proxy
    finally:
        await proxy.stop()


async def rebound(stack: Stack, proxy: CuttingProxy, links_before: int) -> None:
    """Both ends see a new link through the proxy."""
    await until(lambda: proxy.accepted > links_before and proxy.live > 0, 30, "a redial")
    assert await stack.simulator.wait_bound(30)
    assert await stack.running.clients["ussdc"].wait_bound(30)


async def test_a_dialogue_continues_on_the_new_link_after_a_cut(tmp_path: Path) -> None:
    async with stack_behind_proxy(tmp_path) as (stack, proxy):
        menu = await stack.simulator.begin(ENGLISH, "*111#")
        assert not menu.final and "Balance" in menu.text
        links = proxy.accepted
        assert proxy.cut() == 1
        await rebound(stack, proxy, links)
        balance = await stack.simulator.reply(ENGLISH, "1", timeout=10)
        assert balance.final and "balance" in balance.text.lower()
        assert stack.running.clients["ussdc"].reconnects >= 1


async def test_an_unreachable_smsc_is_redialled_with_growing_backoff(tmp_path: Path) -> None:
    async with stack_behind_proxy(tmp_path) as (stack, proxy):
        proxy.refusing = True
        links = proxy.accepted
        proxy.cut()
        await until(lambda: len(proxy.refused_at) >= 7, 30, "seven redials")
        gaps = [b - a for a, b in itertools.pairwise(proxy.refused_at)]
        # reconnect_min 0.05 s doubling to reconnect_max 0.5 s, jittered down to half: by
        # the fifth retry every wait is at least 0.25 s, never a hot loop
        assert all(gap >= 0.2 for gap in gaps[4:]), gaps
        proxy.refusing = False
        await rebound(stack, proxy, links)
        assert "42.00" in (await stack.simulator.dial(ENGLISH, "*100#")).screens[0]


async def test_a_late_screen_of_an_abandoned_dialogue_does_not_spoil_the_next(
        tmp_path: Path) -> None:
    """A congested link delays the gateway's screen past the handset's patience; the
    subscriber dials again, and the stale screen (of a dialogue already hung up) arrives
    first. A USSD centre drops it; the new dialogue gets its own screen."""
    async with stack_behind_proxy(tmp_path) as (stack, proxy):
        proxy.hold = frozenset({0x00000004})  # the gateway's screens are stuck on the way
        with pytest.raises(DialTimeout):
            await stack.simulator.begin(ENGLISH, "*111#", timeout=1)
        menu = asyncio.create_task(stack.simulator.begin(ENGLISH, "*100#", timeout=10))
        await until(lambda: len(proxy.held) >= 2, 10, "both screens to be stuck")
        proxy.release()
        screen = await menu
        assert screen.final and "42.00" in screen.text
        assert stack.simulator.stray_screens >= 1


async def test_sms_queued_while_the_smsc_is_down_go_out_after_the_reconnect(
        tmp_path: Path) -> None:
    async with stack_behind_proxy(tmp_path) as (stack, proxy):
        proxy.refusing = True
        links = proxy.accepted
        proxy.cut()
        client = stack.running.clients["ussdc"]
        await until(lambda: not client.is_bound, 30, "the gateway to notice the cut")
        passwords = stack.running.services.passwords
        for msisdn in (DEMO, ENGLISH):
            issued = await passwords.issue_temporary(msisdn, channel="web")
            assert isinstance(issued, PasswordIssued)
        outbox = stack.running.services.outbox
        assert await outbox.count_unsent() == 2
        assert stack.simulator.inbox(DEMO) == [] and stack.simulator.inbox(ENGLISH) == []
        proxy.refusing = False
        await rebound(stack, proxy, links)
        for msisdn in (DEMO, ENGLISH):
            sms = await stack.simulator.wait_for_sms(msisdn, 1, timeout=30)
            assert len(sms) == 1 and passwords_in(sms[0].text)
        await eventually(lambda: drained(outbox), 30, "the outbox to record both as sent")


async def drained(outbox: OutboxService) -> bool:
    return await outbox.count_unsent() == 0


async def dial_until_answered(stack: Stack, msisdn: str, screens: list[str]) -> None:
    """A subscriber whose request was lost with the link dials again, as people do."""
    errors: list[str] = []
    for _ in range(20):
        try:
            if not stack.simulator.is_bound:
                await stack.simulator.wait_bound(30)
            result: DialResult = await stack.simulator.dial(msisdn, "*111*25#", timeout=5)
        except SimulatorError as error:
            errors.append(str(error))
            continue
        screens.extend(result.screens)
        if result.session_ended:
            return
    raise AssertionError(f"{msisdn} never got an answer: {errors[-3:]}")


async def test_random_cuts_under_load_lose_no_password(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    chooser = random.Random(SEED)
    count, cuts = (60, 12) if LONG else (16, 4)
    msisdns = [f"7916444{i:04d}" for i in range(count)]
    async with stack_behind_proxy(tmp_path) as (stack, proxy):
        subscribers = SubscriberService(stack.running.db)
        for msisdn in msisdns:
            await subscribers.upsert(msisdn, owner="Load", region="Moscow", language="en",
                                     channel="test")
        screens: list[str] = []
        dials = [asyncio.create_task(dial_until_answered(stack, m, screens)) for m in msisdns]
        for _ in range(cuts):
            # the next cut lands after a random number of answered screens
            target = len(screens) + chooser.randint(0, 3)
            await until(lambda: len(screens) >= target  # noqa: B023
                        or all(d.done() for d in dials), 60, "load")
            links = proxy.accepted
            if proxy.cut():
                await rebound(stack, proxy, links)
        await asyncio.gather(*dials)

        sent, wait = "on its way by SMS", "was sent recently"
        assert all(sent in s or wait in s for s in screens), screens
        committed = await committed_passwords(stack.config.store.url)
        assert set(committed) == set(msisdns)  # everyone got a password in the end
        for msisdn in msisdns:
            inbox = await stack.simulator.wait_for_sms(msisdn, 1, timeout=30)
            # the latest password (an earlier unsent one was superseded) arrives
            await until(lambda: any(
                matches(stack.config.secret_key, msisdn, p, committed[msisdn])  # noqa: B023
                for sms in stack.simulator.inbox(msisdn)  # noqa: B023
                for p in passwords_in(sms.text)), 30, f"the current password of {msisdn}")
            assert all(len(passwords_in(sms.text)) == 1 for sms in inbox)
        assert stack.running.clients["ussdc"].reconnects >= 1
    failures = [r for r in caplog.records if r.exc_info and r.name.startswith("ussd_gateway")]
    assert not failures, [r.getMessage() for r in failures]


async def test_smsc_role_a_dialogue_continues_when_the_centre_redials(tmp_path: Path) -> None:
    """The gateway listens (SMSC role); the USSD centre binds to it through the proxy, loses
    the link mid-dialogue and binds again: the next reply continues the dialogue."""
    proxy = CuttingProxy()
    await proxy.start()

    def listening(raw: dict[str, Any]) -> None:
        raw["smpp"]["connections"].append({
            "name": "centre", "mode": "smsc", "listen": "127.0.0.1:0",
            "system_id": "ussdc", "password": "centre1"})

    try:
        async with running_stack(tmp_path, listening) as stack:
            proxy.target_port = stack.running.servers["centre"].port
            centre = Simulator(SimulatorSettings(
                system_id="ussdc", password="centre1", dialect=PROFILES["generic"],
                connect=("127.0.0.1", proxy.port)))
            await centre.start()
            try:
                assert await centre.wait_bound(30)
                menu = await centre.begin(ENGLISH, "*111#")
                assert not menu.final
                links = proxy.accepted
                assert proxy.cut() == 1
                await until(lambda: proxy.accepted > links, 30, "the centre to redial")
                assert await centre.wait_bound(30)
                balance = await centre.reply(ENGLISH, "1", timeout=10)
                assert balance.final and "42.00" in balance.text
                server = stack.running.servers["centre"]
                await until(lambda: server.bound_sessions == 1, 30, "the dead session to go")
            finally:
                await centre.stop()
    finally:
        await proxy.stop()
