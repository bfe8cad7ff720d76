"""The simulator's control interface (JSON lines over TCP) and the terminal handset."""

from __future__ import annotations

import asyncio
import io
import json
import queue
from collections.abc import AsyncIterator

import pytest

from smpp.client import EsmeClient
from smpp.control import ControlUnavailable, SimulatorError, control_dial, control_inbox
from smpp.dialect import PROFILES
from smpp.handset_cli import run_handset
from smpp.simulator import InboxSms, Simulator, SimulatorSettings
from tests.test_smpp_simulator import MSISDN, TIMEOUT, SelfCare, linked


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Simulator, EsmeClient, SelfCare]]:
    simulator, client, app = await linked(PROFILES["generic"])
    yield simulator, client, app
    await client.stop()
    await simulator.stop()


async def test_control_dial_with_replies_and_sms(
        pair: tuple[Simulator, EsmeClient, SelfCare]) -> None:
    simulator, _, _ = pair
    port = simulator.control_port
    result = await control_dial("127.0.0.1", port, MSISDN, "*111#", ["2", "1"], 5.0)
    assert result.screens[-1] == "Done: 1" and result.session_ended
    result = await control_dial("127.0.0.1", port, MSISDN, "*111*25#", sms_wait=TIMEOUT)
    assert result.sms == [InboxSms("Operator", "Your password: 4821")]
    assert await control_inbox("127.0.0.1", port, MSISDN) == result.sms
    assert await control_inbox("127.0.0.1", port, "79990000000") == []


async def test_control_dial_without_a_gateway_fails_with_one_line() -> None:
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    try:
        with pytest.raises(SimulatorError) as caught:
            await control_dial("127.0.0.1", simulator.control_port, MSISDN, "*100#")
        assert str(caught.value) == "no gateway is bound to the simulator"
    finally:
        await simulator.stop()


async def test_bad_requests_are_answered_and_the_connection_survives() -> None:
    simulator = Simulator(SimulatorSettings(system_id="gateway", password="secret",
                                            dialect=PROFILES["generic"]))
    await simulator.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", simulator.control_port)
    try:
        answers = []
        for line in (b"not json\n", b"[1]\n", b'{"op": "fly"}\n', b'{"op": "inbox"}\n',
                     b'{"op": "dial", "msisdn": "7", "code": "*1#", "timeout": -1}\n',
                     b'{"op": "status"}\n'):
            writer.write(line)
            await writer.drain()
            answers.append(json.loads(await asyncio.wait_for(reader.readline(), TIMEOUT)))
        assert [a["ok"] for a in answers] == [False] * 5 + [True]
        assert all("\n" not in a["error"] and "Traceback" not in a["error"]
                   for a in answers[:5])
        assert answers[-1] == {"ok": True, "bound": False}
    finally:
        writer.close()
        await simulator.stop()


async def test_unreachable_control_port_is_one_clear_line() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ControlUnavailable, match="cannot reach"):
        await control_inbox("127.0.0.1", port, MSISDN)


class Keyboard:
    """A stdin the test types into line by line (readline blocks like a terminal)."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str] = queue.Queue()

    def type(self, line: str) -> None:
        self._lines.put(line + "\n")

    def hang_up(self) -> None:
        self._lines.put("")

    def readline(self) -> str:
        return self._lines.get(timeout=TIMEOUT)


async def test_terminal_handset_dials_replies_and_reads_the_inbox(
        pair: tuple[Simulator, EsmeClient, SelfCare]) -> None:
    simulator, _, _ = pair
    keyboard, screen = Keyboard(), io.StringIO()
    handset = asyncio.create_task(
        run_handset("127.0.0.1", simulator.control_port, MSISDN, keyboard, screen))
    for line in ("*111#", "2", "1", "*111*25#"):
        keyboard.type(line)
    await simulator.wait_for_sms(MSISDN, 1, TIMEOUT)
    keyboard.type("inbox")
    keyboard.type("quit")
    assert await asyncio.wait_for(handset, TIMEOUT) == 0
    output = screen.getvalue()
    for expected in ("1 Баланс", "1 Enable", "Done: 1", "[session ended]",
                     "Password sent by SMS", "SMS 1 from Operator: Your password: 4821"):
        assert expected in output
    assert "reply> " in output


async def test_terminal_handset_cancel_and_end_of_input(
        pair: tuple[Simulator, EsmeClient, SelfCare]) -> None:
    simulator, _, app = pair
    keyboard, screen = Keyboard(), io.StringIO()
    handset = asyncio.create_task(
        run_handset("127.0.0.1", simulator.control_port, MSISDN, keyboard, screen))
    keyboard.type("hello")
    keyboard.type("*111#")
    keyboard.type("cancel")
    keyboard.hang_up()
    assert await asyncio.wait_for(handset, TIMEOUT) == 0
    await asyncio.wait_for(app.aborted.wait(), TIMEOUT)
    output = screen.getvalue()
    assert "No dialogue is open" in output and "[cancelled]" in output


async def test_terminal_handset_without_a_simulator_exits_1() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    screen = io.StringIO()
    assert await run_handset("127.0.0.1", port, MSISDN, Keyboard(), screen) == 1
    assert screen.getvalue().startswith("error: cannot reach")
