"""The simulator in ``connect`` mode: it binds to the gateway's SMSC role as a USSD centre."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from smpp.dialect import PROFILES, Dialect
from smpp.server import SmscServer, SmscSettings
from smpp.simulator import Simulator, SimulatorSettings
from tests.test_smpp_simulator import MSISDN, TIMEOUT, SelfCare

DIALECTS = {
    **PROFILES,
    "deliver_sm_requests": Dialect("deliver_sm_requests", request_command="deliver_sm"),
    "data_sm_requests": Dialect("data_sm_requests", request_command="data_sm"),
    "code_in_destination": Dialect("code_in_destination", code_field="destination_addr"),
}


@pytest.fixture(params=sorted(DIALECTS))
async def connected(request: pytest.FixtureRequest) -> AsyncIterator[
        tuple[Simulator, SmscServer, SelfCare]]:
    dialect = DIALECTS[request.param]
    app = SelfCare()
    server = SmscServer(SmscSettings(name="ussdc", system_id="ussdc", password="secret",
                                     dialect=dialect), app)
    await server.start()
    simulator = Simulator(SimulatorSettings(system_id="ussdc", password="secret",
                                            dialect=dialect,
                                            connect=("127.0.0.1", server.port)))
    await simulator.start()
    assert await simulator.wait_bound(TIMEOUT)
    yield simulator, server, app
    await simulator.stop()
    await server.stop()


async def test_multi_step_dialogue_through_the_smsc_role(
        connected: tuple[Simulator, SmscServer, SelfCare]) -> None:
    simulator, _, app = connected
    result = await simulator.dial(MSISDN, "*111#", ["2", "1"])
    assert result.screens == ["1 Баланс\n2 Number management", "1 Enable\n0 Back", "Done: 1"]
    assert result.session_ended
    assert len({r.session_key for r in app.requests}) == 1
    assert app.requests[0].text == "*111#"


async def test_abort_reaches_the_gateway(
        connected: tuple[Simulator, SmscServer, SelfCare]) -> None:
    simulator, _, app = connected
    result = await simulator.dial(MSISDN, "*111#")
    assert not result.session_ended
    await app.aborted.wait()


async def test_wrong_password_never_binds() -> None:
    server = SmscServer(SmscSettings(name="ussdc", system_id="ussdc", password="secret",
                                     bind_failure_delay=0.0), SelfCare())
    await server.start()
    simulator = Simulator(SimulatorSettings(system_id="ussdc", password="wrong",
                                            dialect=PROFILES["generic"],
                                            connect=("127.0.0.1", server.port)))
    await simulator.start()
    try:
        assert not await simulator.wait_bound(0.5)
    finally:
        await simulator.stop()
        await server.stop()


async def test_simulator_redials_a_gateway_that_starts_later() -> None:
    app = SelfCare()
    placeholder = SmscServer(SmscSettings(name="x", system_id="ussdc", password="secret"), app)
    await placeholder.start()
    port = placeholder.port
    await placeholder.stop()  # nothing listens there now
    simulator = Simulator(SimulatorSettings(system_id="ussdc", password="secret",
                                            dialect=PROFILES["generic"],
                                            connect=("127.0.0.1", port)))
    await simulator.start()
    server = SmscServer(SmscSettings(name="ussdc", system_id="ussdc", password="secret",
                                     port=port), app)
    try:
        await server.start()
        assert await simulator.wait_bound(TIMEOUT)
        assert (await simulator.dial(MSISDN, "*100#")).screens == ["Balance: 150.00 RUB"]
    finally:
        await simulator.stop()
        await server.stop()
