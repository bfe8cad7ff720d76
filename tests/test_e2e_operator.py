"""The operator's view of a real gateway over real HTTP: readiness, SMPP links, live sessions,
menu reloads. The gateway is bound over loopback SMPP to the real simulator (or to nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from smpp.dialect import PROFILES
from smpp.simulator import Simulator, SimulatorSettings
from tests.fixtures_services import REDIS_URL
from tests.gateway_stack import Stack, restarted, running_stack, stack_config
from tests.robust.waiting import eventually
from ussd_gateway.gateway import Gateway

DEMO = "79160000001"  # Russian
ENGLISH = "79160000002"
OTHER = "79160000003"
NOC_TOKEN = "noc-token-0123456789abcdef"
ALL_READY = {"ready": True, "checks": {"store": True, "sessions": True, "smpp": True}}
SMPP_DOWN = {"ready": False, "checks": {"store": True, "sessions": True, "smpp": False}}


@dataclass
class Answer:
    status: int
    body: Any
    text: str


async def call(port: int | None, method: str, path: str, *, operator: bool = True) -> Answer:
    headers = {"Authorization": f"Bearer {NOC_TOKEN}"} if operator else {}
    async with aiohttp.ClientSession() as http, \
            http.request(method, f"http://127.0.0.1:{port}{path}", headers=headers) as response:
        text = await response.text()
        body = await response.json(content_type=None) if text else None
        return Answer(response.status, body, text)


async def answer_until(port: int | None, path: str, status: int) -> Answer:
    """The answer to GET ``path`` once it has ``status`` (the link changes on its own time)."""
    latest = Answer(0, None, "")

    async def arrived() -> bool:
        nonlocal latest
        latest = await call(port, "GET", path)
        return latest.status == status

    await eventually(arrived, what=f"GET {path} to answer {status}")
    return latest


def operator_token(raw: dict[str, Any]) -> None:
    raw["http"]["admin_tokens"] = [{"name": "noc", "token": NOC_TOKEN}]


# --- readiness ------------------------------------------------------------------------------

async def test_not_ready_while_the_smpp_link_is_down_and_ready_once_bound(
        tmp_path: Path) -> None:
    async with running_stack(tmp_path, operator_token) as stack:
        port = stack.running.http_port
        ready = await call(port, "GET", "/readyz", operator=False)
        assert ready.status == 200
        assert ready.body == ALL_READY

        await stack.simulator.stop()
        down = await answer_until(port, "/readyz", 503)
        assert down.body == SMPP_DOWN

        again = await restarted(stack)
        try:
            back = await answer_until(port, "/readyz", 200)
            assert back.body == ALL_READY
        finally:
            await again.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_gateway_whose_smsc_is_not_there_is_not_ready(tmp_path: Path) -> None:
    gateway = Gateway(stack_config(tmp_path, _free_port(), operator_token))
    running = await gateway.start()
    try:
        port = running.http_port
        reply = await call(port, "GET", "/readyz", operator=False)
        assert reply.status == 503
        assert reply.body == SMPP_DOWN
        assert (await call(port, "GET", "/healthz", operator=False)).status == 200
        smpp = await call(port, "GET", "/admin/v1/smpp")
        [link] = smpp.body["connections"]
        assert link["name"] == "ussdc" and link["bound"] is False
    finally:
        await gateway.stop()


class _Relay:
    """Bytes between 127.0.0.1:<port> and a server, until ``stop`` cuts it all."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()


async def test_not_ready_while_redis_is_unreachable(tmp_path: Path) -> None:
    host, port = urlsplit(REDIS_URL).hostname or "127.0.0.1", urlsplit(REDIS_URL).port or 6379
    relay = _Relay((host, port))
    await relay.start()

    def via_relay(raw: dict[str, Any]) -> None:
        operator_token(raw)
        raw["sessions"].update(backend="redis", redis_url=f"redis://127.0.0.1:{relay.port}/0",
                               key_prefix=f"ussd-test-ready-{uuid.uuid4().hex[:8]}:")

    try:
        async with running_stack(tmp_path, via_relay) as stack:
            http_port = stack.running.http_port
            assert (await call(http_port, "GET", "/readyz", operator=False)).status == 200
            await relay.stop()  # Redis gone: no dialogue gets past its first screen
            down = await answer_until(http_port, "/readyz", 503)
            assert down.body == {"ready": False,
                                 "checks": {"store": True, "sessions": False, "smpp": True}}
    finally:
        await relay.stop()


# --- SMPP connections -----------------------------------------------------------------------

def _two_roles(raw: dict[str, Any]) -> None:
    operator_token(raw)
    raw["smpp"]["connections"].append({
        "name": "ussdc-in", "mode": "smsc", "listen": "127.0.0.1:0", "system_id": "ussdc",
        "password": "centre", "dialect": "service_type_ussd", "allow": ["127.0.0.0/8"]})


async def _links(port: int | None) -> dict[str, dict[str, Any]]:
    reply = await call(port, "GET", "/admin/v1/smpp")
    assert reply.status == 200, reply.text
    return {link["name"]: link for link in reply.body["connections"]}


async def test_the_smpp_view_shows_each_link_as_it_really_is(tmp_path: Path) -> None:
    async with running_stack(tmp_path, _two_roles) as stack:
        port = stack.running.http_port
        links = await _links(port)
        assert links["ussdc"]["mode"] == "esme" and links["ussdc"]["bound"] is True
        assert links["ussdc"]["reconnects"] == 0
        assert links["ussdc-in"] == {
            "name": "ussdc-in", "mode": "smsc", "bound": False, "sessions": 0,
            "binds_refused": 0, "throttled": 0, "requests_throttled": 0}

        centre = Simulator(SimulatorSettings(
            system_id="ussdc", password="centre", dialect=PROFILES["service_type_ussd"],
            connect=("127.0.0.1", stack.running.servers["ussdc-in"].port)))
        await centre.start()
        try:
            assert await centre.wait_bound(10)
            links = await _links(port)
            assert links["ussdc-in"]["bound"] is True and links["ussdc-in"]["sessions"] == 1
        finally:
            await centre.stop()

        await stack.simulator.stop()

        async def esme_down() -> bool:
            link = (await _links(port))["ussdc"]
            return link["bound"] is False and link["reconnects"] >= 1

        await eventually(esme_down, what="the esme link to show the loss")


# --- live sessions --------------------------------------------------------------------------

@asynccontextmanager
async def backend_stack(tmp_path: Path, backend: str,
                        request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    def configure(raw: dict[str, Any]) -> None:
        operator_token(raw)
        if backend == "redis":
            raw["sessions"].update(backend="redis",
                                   redis_url=request.getfixturevalue("redis_url"),
                                   key_prefix=request.getfixturevalue("redis_prefix"))

    async with running_stack(tmp_path, configure) as stack:
        yield stack


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_live_sessions_show_who_is_where_with_the_number_masked(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    async with backend_stack(tmp_path, backend, request) as stack:
        port = stack.running.http_port
        await stack.simulator.begin(DEMO, "*111#")
        await stack.simulator.begin(OTHER, "*111#")
        await stack.simulator.reply(OTHER, "828")
        await stack.simulator.dial(ENGLISH, "*100#")  # over at once: not live

        reply = await call(port, "GET", "/admin/v1/sessions")
        assert reply.status == 200, reply.text
        assert reply.body["open"] == 2 and reply.body["limit"] == 50
        assert DEMO not in reply.text and OTHER not in reply.text
        sessions = {s["msisdn"]: s for s in reply.body["sessions"]}
        assert set(sessions) == {"7916***0001", "7916***0003"}
        assert {(s["code"], s["screen"], s["language"]) for s in sessions.values()} == {
            ("111", "main", "ru"), ("111", "numbers", "ru")}
        assert sessions["7916***0003"]["screen"] == "numbers"
        other = sessions["7916***0003"]
        assert set(other) == {"msisdn", "code", "screen", "language", "started_at",
                              "last_request_at", "age_seconds", "idle_seconds"}
        assert other["started_at"] <= other["last_request_at"]
        assert other["age_seconds"] >= other["idle_seconds"] >= 0

        one = await call(port, "GET", "/admin/v1/sessions?limit=1")
        assert one.body["open"] == 2 and len(one.body["sessions"]) == 1


async def test_a_limit_out_of_bounds_is_refused_naming_it(tmp_path: Path) -> None:
    async with running_stack(tmp_path, operator_token) as stack:
        port = stack.running.http_port
        for limit in ("0", "501", "all"):
            reply = await call(port, "GET", f"/admin/v1/sessions?limit={limit}")
            assert reply.status == 422, limit
            assert reply.body["errors"][0]["field"] == "/query/limit"


# --- menus ----------------------------------------------------------------------------------

HELLO = """
[menu]
code = "*150#"
start = "hello"

[screens.hello]
type = "end"
text.ru = "Привет, {version}"
text.en = "Hello, {version}"
"""


async def test_a_menu_reload_changes_what_a_handset_sees(tmp_path: Path) -> None:
    menus = tmp_path / "menus"
    menus.mkdir()
    menu_file = menus / "hello.toml"
    menu_file.write_text(HELLO.replace("{version}", "first edition"))

    def own_menus(raw: dict[str, Any]) -> None:
        operator_token(raw)
        raw["menus"]["paths"] = [str(menus)]

    async with running_stack(tmp_path, own_menus) as stack:
        port = stack.running.http_port
        assert (await stack.simulator.dial(ENGLISH, "*150#")).screens == ["Hello, first edition"]

        menu_file.write_text(HELLO.replace("{version}", "second edition"))
        assert (await stack.simulator.dial(ENGLISH, "*150#")).screens == [
            "Hello, first edition"], "nothing changes before the reload"
        reloaded = await call(port, "POST", "/admin/v1/menus/reload")
        assert reloaded.status == 200 and reloaded.body == {"status": "reloaded"}
        assert (await stack.simulator.dial(ENGLISH, "*150#")).screens == [
            "Hello, second edition"]

        menu_file.write_text(HELLO.replace('start = "hello"', 'start = "nowhere"'))
        refused = await call(port, "POST", "/admin/v1/menus/reload")
        assert refused.status == 422
        assert refused.body["type"].endswith(":menus-refused")
        assert "hello.toml" in refused.body["detail"] and "nowhere" in refused.body["detail"]
        assert (await stack.simulator.dial(ENGLISH, "*150#")).screens == [
            "Hello, second edition"], "a refused reload keeps the menus serving"
