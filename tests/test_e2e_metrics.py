"""What an operator's monitoring sees move when subscribers dial (read over real HTTP)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from tests.gateway_stack import Stack, running_stack


async def scrape(stack: Stack) -> dict[str, float]:
    url = f"http://127.0.0.1:{stack.running.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) ([-+\d.eE]+|NaN)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


async def test_metrics_follow_dials_sessions_sms_and_binds(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        before = await scrape(stack)
        assert before['smpp_bound{connection="ussdc"}'] == 1
        assert before["ussd_sessions_open"] == 0

        await stack.simulator.dial("79160000001", "*100#")
        await stack.simulator.begin("79160000003", "*111#")
        await stack.simulator.dial("79160000001", "*111*25#")
        await stack.simulator.wait_for_sms("79160000001", 1, timeout=15)
        await stack.simulator.dial("79169999999", "*100#")

        after = await scrape(stack)
        assert after['ussd_requests_total{code="100",outcome="final"}'] == 2
        assert after['ussd_requests_total{code="111",outcome="screen"}'] == 1
        assert after["ussd_sessions_open"] == 1
        assert after['sms_total{state="queued"}'] == 1
        assert after['sms_total{state="sent"}'] == 1
        assert after["ussd_step_seconds_count"] == 4
        assert after['ussd_sessions_total{end="completed"}'] == 3


async def test_a_lost_bind_shows_in_the_metrics(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        assert (await scrape(stack))['smpp_bound{connection="ussdc"}'] == 1
        await stack.simulator.stop()
        client = stack.running.clients["ussdc"]
        for _ in range(200):
            if not client.is_bound:
                break
            await asyncio.sleep(0.05)
        samples = await scrape(stack)
        assert samples['smpp_bound{connection="ussdc"}'] == 0
