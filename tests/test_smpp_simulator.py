"""The real aiosmpplib ESME client against the simulator over loopback, in every dialect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from smpp.client import EsmeClient, EsmeSettings
from smpp.control import SimulatorError
from smpp.dialect import PROFILES, Dialect
from smpp.simulator import DialTimeout, InboxSms, Simulator, SimulatorSettings
from smpp.ussd import UssdReply, UssdRequest

TIMEOUT = 10.0
MSISDN = "79161234567"


class SelfCare:
    """A tiny stand-in for the gateway: a menu, a password by SMS, a balance."""

    def __init__(self) -> None:
        self.client: EsmeClient | None = None
        self.requests: list[UssdRequest] = []
        self.receipts: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.aborted = asyncio.Event()

    async def __call__(self, request: UssdRequest) -> UssdReply | None:
        self.requests.append(request)
        if request.is_abort:
            self.aborted.set()
            return None
        if request.text == "*100#":
            return UssdReply("Balance: 150.00 RUB", final=True)
        if request.text == "*111*25#":
            assert self.client is not None
            submission = await self.client.submit_sms(request.msisdn, "Your password: 4821")
            assert submission.status == "accepted"
            return UssdReply("Password sent by SMS", final=True)
        if request.is_begin:
            return UssdReply("1 Баланс\n2 Number management", final=False)
        if request.text == "2":
            return UssdReply("1 Enable\n0 Back", final=False)
        return UssdReply(f"Done: {request.text}", final=True)

    async def on_receipt(self, message_id: str, stat: str) -> None:
        await self.receipts.put((message_id, stat))


async def linked(dialect: Dialect) -> tuple[Simulator, EsmeClient, SelfCare]:
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=dialect))
    await simulator.start()
    app = SelfCare()
    client = EsmeClient(
        EsmeSettings(name="ussdc", host="127.0.0.1", port=simulator.port, system_id="gateway",
                     password="secret", dialect=dialect, sms_source="Operator",
                     reconnect_min=0.05, reconnect_max=0.2),
        app,
        app.on_receipt,
    )
    app.client = client
    await client.start()
    assert await client.wait_bound(TIMEOUT)
    assert await simulator.wait_bound(TIMEOUT)
    return simulator, client, app


@pytest.fixture(params=sorted(PROFILES))
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[
        tuple[Simulator, EsmeClient, SelfCare]]:
    simulator, client, app = await linked(PROFILES[request.param])
    yield simulator, client, app
    await client.stop()
    await simulator.stop()


async def test_single_screen_code(pair: tuple[Simulator, EsmeClient, SelfCare]) -> None:
    simulator, _, app = pair
    result = await simulator.dial(MSISDN, "*100#")
    assert result.screens == ["Balance: 150.00 RUB"]
    assert result.session_ended
    assert app.requests[0].msisdn == MSISDN and app.requests[0].is_begin


async def test_multi_step_dialogue(pair: tuple[Simulator, EsmeClient, SelfCare]) -> None:
    simulator, _, app = pair
    result = await simulator.dial(MSISDN, "*111#", ["2", "1"])
    assert result.screens == ["1 Баланс\n2 Number management", "1 Enable\n0 Back", "Done: 1"]
    assert result.session_ended
    keys = {request.session_key for request in app.requests}
    assert len(keys) == 1  # the three requests were one dialogue to the gateway
    assert [r.is_begin for r in app.requests] == [True, False, False]


async def test_sms_and_receipt(pair: tuple[Simulator, EsmeClient, SelfCare]) -> None:
    simulator, _, app = pair
    result = await simulator.dial(MSISDN, "*111*25#", sms_wait=TIMEOUT)
    assert result.screens == ["Password sent by SMS"]
    assert result.sms == [InboxSms(sender="Operator", text="Your password: 4821")]
    assert simulator.inbox(MSISDN) == result.sms
    message_id, stat = await asyncio.wait_for(app.receipts.get(), TIMEOUT)
    assert stat == "DELIVRD" and message_id


async def test_open_dialogue_is_cancelled_when_replies_run_out(
        pair: tuple[Simulator, EsmeClient, SelfCare]) -> None:
    simulator, _, app = pair
    result = await simulator.dial(MSISDN, "*111#")
    assert not result.session_ended
    await asyncio.wait_for(app.aborted.wait(), TIMEOUT)
    # a new dialogue starts clean
    assert (await simulator.dial(MSISDN, "*100#")).screens == ["Balance: 150.00 RUB"]


async def test_concurrent_handsets_keep_their_dialogues_apart() -> None:
    simulator, client, _ = await linked(PROFILES["generic"])
    try:
        numbers = [f"7916000{n:04d}" for n in range(20)]
        results = await asyncio.gather(
            *(simulator.dial(n, "*111#", ["2", f"{i}9"]) for i, n in enumerate(numbers)))
        assert [r.screens[-1] for r in results] == [f"Done: {i}9" for i in range(20)]
    finally:
        await client.stop()
        await simulator.stop()


async def test_silent_gateway_makes_dial_fail_with_one_line() -> None:
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    release = asyncio.Event()

    async def stuck(request: UssdRequest) -> UssdReply:
        await release.wait()
        return UssdReply("late", final=True)

    client = EsmeClient(EsmeSettings(name="c", host="127.0.0.1", port=simulator.port,
                                     system_id="gateway", password="secret",
                                     dialect=PROFILES["generic"]), stuck)
    await client.start()
    try:
        assert await simulator.wait_bound(TIMEOUT)
        with pytest.raises(DialTimeout) as caught:
            await simulator.dial(MSISDN, "*100#", timeout=0.3)
        assert "\n" not in str(caught.value) and MSISDN in str(caught.value)
    finally:
        release.set()
        await client.stop()
        await simulator.stop()


async def test_dial_without_a_gateway_says_so() -> None:
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    try:
        with pytest.raises(SimulatorError, match="no gateway is bound"):
            await simulator.dial(MSISDN, "*100#")
    finally:
        await simulator.stop()


async def test_wrong_password_is_refused() -> None:
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    client = EsmeClient(EsmeSettings(name="c", host="127.0.0.1", port=simulator.port,
                                     system_id="gateway", password="nope",
                                     dialect=PROFILES["generic"], reconnect_min=0.05,
                                     reconnect_max=0.1), SelfCare())
    await client.start()
    try:
        assert not await client.wait_bound(0.5)
        assert not simulator.is_bound
        assert simulator.refused_binds >= 1
    finally:
        await client.stop()
        await simulator.stop()


async def test_wait_for_sms_times_out_with_one_line() -> None:
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    try:
        with pytest.raises(SimulatorError, match="received 0 of 1 SMS"):
            await simulator.wait_for_sms(MSISDN, 1, 0.1)
    finally:
        await simulator.stop()


async def test_control_port_in_use_fails_start_and_releases_the_smpp_port() -> None:
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    control_port = taken.sockets[0].getsockname()[1]
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=PROFILES["generic"],
                                            control_port=control_port))
    try:
        with pytest.raises(OSError):
            await simulator.start()
        # the SMPP port it had opened is closed again
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", simulator.port)
    finally:
        taken.close()
        await taken.wait_closed()
