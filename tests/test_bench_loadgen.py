"""The load generator against the gateway's own ESME client over loopback SMPP.

The generator must speak the "generic" dialect as the client reads it, and must count a step
only when the answer is the screen the scenario expects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bench.loadgen import LoadGenerator, SmscConnection
from smpp.client import EsmeClient, EsmeSettings
from smpp.dialect import PROFILES
from smpp.ussd import UssdHandler, UssdReply, UssdRequest

WALK_SCREENS = {
    "*111#": UssdReply("Личный кабинет\n1 Баланс\n828 Управление номерами", final=False),
    "828": UssdReply("Управление номерами (бесплатно)\n1 Подключить\n0 Отключить", final=False),
    "1": UssdReply("Управление номерами подключено.", final=True),
}

@asynccontextmanager
async def bound_pair(generator: LoadGenerator, handler: UssdHandler,
                     window: int = 50) -> AsyncIterator[EsmeClient]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SmscConnection(generator), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = EsmeClient(EsmeSettings(name="bench", host="127.0.0.1", port=port,
                                     system_id="bench", password="bench",
                                     dialect=PROFILES["generic"], window=window), handler)
    await client.start()
    try:
        await asyncio.wait_for(generator.bound.wait(), 10)
        yield client
    finally:
        await client.stop()
        server.close()


async def test_a_walk_is_three_correct_steps_on_one_session() -> None:
    generator = LoadGenerator("walk", handsets=3, subscribers=6, msisdn_base=79990000000,
                              step_timeout=5)
    seen: list[UssdRequest] = []

    async def menu(request: UssdRequest) -> UssdReply:
        seen.append(request)
        return WALK_SCREENS[request.text]

    async with bound_pair(generator, menu):
        result = await generator.closed_loop(duration=0.4, warmup=0.1)

    assert int(str(result["steps"])) >= 3
    assert result["wrong"] == result["timeouts"] == result["unexpected"] == 0
    assert {r.msisdn for r in seen} <= {str(79990000000 + i) for i in range(6)}
    first = seen[0]
    dialogue = [r for r in seen if r.session_key == first.session_key][:3]
    assert [r.text for r in dialogue] == ["*111#", "828", "1"]
    assert [r.is_begin for r in dialogue] == [True, False, False]


async def test_a_wrong_screen_is_counted_and_never_timed() -> None:
    generator = LoadGenerator("balance", handsets=2, subscribers=2, msisdn_base=79990000000,
                              step_timeout=5)

    async def broken(request: UssdRequest) -> UssdReply:
        return UssdReply("Сервис временно недоступен", final=True)

    async with bound_pair(generator, broken):
        result = await generator.closed_loop(duration=0.3, warmup=0.0)

    assert result["steps"] == 0
    assert int(str(result["wrong"])) > 0
    assert result["p50_ms"] is None


async def test_requests_refused_by_a_full_window_are_sent_again() -> None:
    generator = LoadGenerator("balance", handsets=6, subscribers=6, msisdn_base=79990000000,
                              step_timeout=5)

    async def slow_balance(request: UssdRequest) -> UssdReply:
        await asyncio.sleep(0.01)  # holds the client's one-request window for a while
        return UssdReply("Ваш баланс: 0,00 ₽", final=True)

    async with bound_pair(generator, slow_balance, window=1):
        result = await generator.closed_loop(duration=0.5, warmup=0.0)

    assert int(str(result["throttled"])) > 0
    assert int(str(result["steps"])) > 0
    assert result["timeouts"] == result["wrong"] == 0


async def test_open_loop_offers_a_fixed_rate() -> None:
    generator = LoadGenerator("balance", handsets=2, subscribers=20, msisdn_base=79990000000,
                              step_timeout=5)

    async def balance(request: UssdRequest) -> UssdReply:
        return UssdReply("Ваш баланс: 0,00 ₽", final=True)

    async with bound_pair(generator, balance):
        result = await generator.open_loop(rate=100, duration=0.5)

    # 100 dialogues/s for half a second: about 50, all answered, none lost for want of handsets
    assert 25 <= int(str(result["steps"])) <= 55
    assert result["timeouts"] == result["wrong"] == 0
