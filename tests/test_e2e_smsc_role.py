"""The other role: the USSD centre binds to the gateway (SMSC mode) and sends submit_sm."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from smpp.dialect import PROFILES
from smpp.simulator import Simulator, SimulatorSettings
from tests.gateway_stack import stack_config
from ussd_gateway.gateway import Gateway


def listen_only(raw: dict[str, Any]) -> None:
    raw["smpp"]["connections"] = [{
        "name": "ussdc-in", "mode": "smsc", "listen": "127.0.0.1:0", "system_id": "ussdc",
        "password": "centre", "dialect": "service_type_ussd", "allow": ["127.0.0.0/8"]}]
    raw["sms"]["connection"] = ""


async def test_a_centre_that_binds_to_the_gateway_is_served(tmp_path: Path) -> None:
    config = stack_config(tmp_path, 1, listen_only)
    gateway = Gateway(config)
    running = await gateway.start()
    centre = None
    try:
        port = running.servers["ussdc-in"].port
        centre = Simulator(SimulatorSettings(
            system_id="ussdc", password="centre", dialect=PROFILES["service_type_ussd"],
            connect=("127.0.0.1", port)))
        await centre.start()
        assert await centre.wait_bound(10)
        balance = await centre.dial("79160000001", "*100#")
        assert balance.session_ended and "150,75" in balance.screens[0]
        walked = await centre.dial("79160000003", "*111#", ["828", "1"])
        direct = await centre.dial("79160000001", "*111*828*1#")
        assert walked.screens[-1] == direct.screens[-1]
        assert gateway.smpp_status()[0]["bound"] is True
    finally:
        if centre is not None:
            await centre.stop()
        await gateway.stop()


async def test_a_centre_with_the_wrong_password_is_refused(tmp_path: Path) -> None:
    gateway = Gateway(stack_config(tmp_path, 1, listen_only))
    running = await gateway.start()
    try:
        port = running.servers["ussdc-in"].port
        intruder = Simulator(SimulatorSettings(
            system_id="ussdc", password="guess", dialect=PROFILES["service_type_ussd"],
            connect=("127.0.0.1", port)))
        await intruder.start()
        try:
            assert not await intruder.wait_bound(1.5)
        finally:
            await intruder.stop()
        assert running.servers["ussdc-in"].binds_refused >= 1
        assert gateway.smpp_status()[0]["bound"] is False
    finally:
        await gateway.stop()


async def test_with_no_esme_connection_sms_wait_in_the_store_and_the_operator_is_told(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    gateway = Gateway(stack_config(tmp_path, 1, listen_only))
    running = await gateway.start()
    centre = None
    try:
        assert "no esme connection to send SMS from on this instance" in caplog.text
        centre = Simulator(SimulatorSettings(
            system_id="ussdc", password="centre", dialect=PROFILES["service_type_ussd"],
            connect=("127.0.0.1", running.servers["ussdc-in"].port)))
        await centre.start()
        assert await centre.wait_bound(10)
        await centre.dial("79160000001", "*111*25#")
        # kept for an instance that can send it, not dropped
        queued = await running.services.outbox.messages_to("79160000001")
        assert [m.state for m in queued] == ["pending"]
    finally:
        if centre is not None:
            await centre.stop()
        await gateway.stop()
