"""What an operator's monitoring sees move when subscribers dial, SMS go out and links drop.

Every test reads /metrics over real HTTP from a real gateway bound over loopback SMPP to the
simulator or to a hand-made SMSC that misbehaves on purpose.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from tests.gateway_stack import restarted, running_stack, stack_config
from tests.robust.raw_centre import raw_centre
from tests.robust.waiting import eventually
from tests.smscs import pdus
from tests.smscs.misbehaving import RefusesSms, Throttles
from ussd_gateway.gateway import Gateway
from ussd_gateway.store.models import OutboxRow

DEMO = "79160000001"
ENGLISH = "79160000002"
OTHER = "79160000003"
ESME_RINVDSTADR = 0x0B  # the SMSC will never take this message
ESME_RSYSERR = 0x08  # the SMSC failed this time; worth another try

Samples = defaultdict[str, float]  # a series not exported yet reads 0


async def scrape(port: int | None) -> Samples:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples: Samples = defaultdict(float)
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) ([-+\d.eE]+|NaN)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


async def scrape_until(port: int | None, check: Callable[[Samples], bool],
                       what: str) -> Samples:
    """The metrics once ``check`` holds (what they count happens after the call returns)."""
    latest: Samples = defaultdict(float)

    async def holds() -> bool:
        nonlocal latest
        latest = await scrape(port)
        return check(latest)

    await eventually(holds, what=what)
    return latest


def sms(state: str) -> str:
    return f'sms_total{{state="{state}"}}'


def ended(end: str) -> str:
    return f'ussd_sessions_total{{end="{end}"}}'


async def request_password(port: int | None, msisdn: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{port}/api/v1/password-requests",
            json={"msisdn": msisdn}) as response:
        assert response.status == 202, await response.text()


async def test_metrics_follow_dials_sessions_sms_and_binds(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        port = stack.running.http_port
        before = await scrape(port)
        assert before['smpp_bound{connection="ussdc"}'] == 1
        assert before["ussd_sessions_open"] == 0
        # every end and SMS state is exported from the start, so alerts have a 0 to compare
        assert {ended(end) for end in ("completed", "abandoned", "timed_out", "failed")} <= set(
            before)
        assert {sms(state) for state in ("queued", "sent", "delivered", "failed",
                                         "expired")} <= set(before)

        await stack.simulator.dial(DEMO, "*100#")
        await stack.simulator.begin(OTHER, "*111#")
        await stack.simulator.dial(DEMO, "*111*25#")
        await stack.simulator.wait_for_sms(DEMO, 1, timeout=15)
        await stack.simulator.dial("79169999999", "*100#")

        # the simulator reports delivery a moment after it took the SMS
        after = await scrape_until(port, lambda s: s[sms("delivered")] == 1, "the receipt")
        assert after['ussd_requests_total{code="100",outcome="final"}'] == 2
        assert after['ussd_requests_total{code="111",outcome="screen"}'] == 1
        assert after["ussd_sessions_open"] == 1
        assert after[sms("queued")] == 1
        assert after[sms("sent")] == 1
        assert after[sms("failed")] == 0
        assert after["ussd_step_seconds_count"] == 4
        assert after[ended("completed")] == 3
        assert after[ended("abandoned")] == 0


async def test_hanging_up_mid_dialogue_counts_as_abandoned(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        port = stack.running.http_port
        await stack.simulator.begin(OTHER, "*111#")
        await stack.simulator.reply(OTHER, "828")
        await stack.simulator.cancel(OTHER)
        samples = await scrape_until(port, lambda s: s[ended("abandoned")] == 1,
                                     "the hang-up to be counted")
        assert samples["ussd_sessions_open"] == 0
        assert samples[ended("completed")] == 0
        assert samples[ended("timed_out")] == 0


def _short_sessions(raw: dict[str, Any]) -> None:
    raw["sessions"]["timeout_seconds"] = 1


async def test_a_dialogue_left_unanswered_counts_as_timed_out_once(tmp_path: Path) -> None:
    async with running_stack(tmp_path, _short_sessions) as stack:
        port = stack.running.http_port
        menu = await stack.simulator.begin(DEMO, "*111#")
        assert not menu.final
        samples = await scrape_until(port, lambda s: s[ended("timed_out")] == 1,
                                     "the session to time out")
        assert samples["ussd_sessions_open"] == 0
        late = await stack.simulator.reply(DEMO, "25")  # the subscriber comes back too late
        assert late.final
        samples = await scrape(port)
        assert samples[ended("timed_out")] == 1
        assert samples[ended("abandoned")] == 0 and samples[ended("completed")] == 0


async def test_with_redis_a_timeout_is_counted_once_across_instances(
        tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    def shared_redis(raw: dict[str, Any]) -> None:
        _short_sessions(raw)
        raw["sessions"].update(backend="redis", redis_url=redis_url, key_prefix=redis_prefix)

    async with running_stack(tmp_path / "a", shared_redis) as first:
        (tmp_path / "b").mkdir()
        second = Gateway(stack_config(tmp_path / "b", first.simulator.port, shared_redis))
        running = await second.start()
        try:
            assert await running.clients["ussdc"].wait_bound(15)
            ports = (first.running.http_port, running.http_port)
            # the centre sends on its newest bind: the dialogue runs on the second instance
            menu = await first.simulator.begin(DEMO, "*111#")
            assert not menu.final

            async def counted_somewhere() -> bool:
                return sum([(await scrape(port))[ended("timed_out")] for port in ports]) >= 1

            await eventually(counted_somewhere, what="an instance to count the timeout")
            totals = [(await scrape(port))[ended("timed_out")] for port in ports]
            assert sum(totals) == 1, totals
            assert [(await scrape(port))["ussd_sessions_open"] for port in ports] == [0, 0]
        finally:
            await second.stop()


async def test_a_lost_link_shows_unbound_then_the_reconnect(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        port = stack.running.http_port
        bound = 'smpp_bound{connection="ussdc"}'
        reconnects = 'smpp_reconnects{connection="ussdc"}'
        first = await scrape(port)
        assert first[bound] == 1 and first[reconnects] == 0
        await stack.simulator.stop()
        await scrape_until(port, lambda s: s[bound] == 0 and s[reconnects] >= 1,
                           "the link loss and a reconnect attempt")
        again = await restarted(stack)
        try:
            samples = await scrape_until(port, lambda s: s[bound] == 1, "the new bind")
            assert samples[reconnects] >= 1
            assert (await again.dial(DEMO, "*100#")).session_ended
        finally:
            await again.stop()


async def test_throttling_by_the_smsc_is_counted(tmp_path: Path) -> None:
    async with raw_centre(tmp_path, smsc=Throttles(count=2)) as centre:
        port = centre.running.http_port
        await request_password(port, DEMO)
        samples = await scrape_until(port, lambda s: s[sms("sent")] == 1, "the SMS to go")
        assert samples['smpp_throttled{connection="ussdc"}'] == 2
        assert samples[sms("failed")] == 0


async def test_refused_and_undeliverable_sms_count_as_failed(tmp_path: Path) -> None:
    smsc = RefusesSms(ESME_RINVDSTADR)
    async with raw_centre(tmp_path, smsc=smsc) as centre:
        port = centre.running.http_port
        await request_password(port, DEMO)
        samples = await scrape_until(port, lambda s: s[sms("failed")] == 1,
                                     "the refusal to be counted")
        assert samples[sms("sent")] == 0

        smsc.status = pdus.ESME_ROK
        await request_password(port, ENGLISH)
        await scrape_until(port, lambda s: s[sms("sent")] == 1, "the SMS to go")
        [message] = await centre.running.services.outbox.messages_to(ENGLISH)
        assert message.smsc_message_id is not None
        await smsc.deliver(lambda sequence: _receipt(sequence, ENGLISH,
                                                     message.smsc_message_id or "", "UNDELIV"))
        samples = await scrape_until(port, lambda s: s[sms("failed")] == 2,
                                     "the undeliverable receipt to be counted")
        assert samples[sms("delivered")] == 0


async def test_an_sms_never_taken_in_time_counts_as_expired(tmp_path: Path) -> None:
    def slow_retries(raw: dict[str, Any]) -> None:
        raw["sms"]["retry_initial_seconds"] = 600
        raw["sms"]["retry_max_seconds"] = 600

    async with raw_centre(tmp_path, slow_retries, smsc=RefusesSms(ESME_RSYSERR)) as centre:
        port = centre.running.http_port
        outbox = centre.running.services.outbox
        await request_password(port, DEMO)

        async def waiting_for_a_retry() -> bool:
            messages = await outbox.messages_to(DEMO)
            return len(messages) == 1 and messages[0].attempts == 1 and \
                messages[0].state == "pending"

        await eventually(waiting_for_a_retry, what="the first attempt to fail")
        assert (await scrape(port))[sms("expired")] == 0

        # A day passes: the message's validity and its retry time are behind us.
        past = datetime.now(UTC) - timedelta(days=1)

        def day_passes(connection: Connection) -> None:
            connection.execute(update(OutboxRow).values(expires_at=past, next_attempt_at=past))

        await centre.running.db.transact(day_passes)
        assert centre.running.outbox is not None
        centre.running.outbox.wake()
        samples = await scrape_until(port, lambda s: s[sms("expired")] == 1,
                                     "the expiry to be counted")
        assert samples[sms("sent")] == 0 and samples[sms("failed")] == 0
        [message] = await outbox.messages_to(DEMO)
        assert message.state == "expired"


def _receipt(sequence: int, msisdn: str, message_id: str, stat: str) -> bytes:
    text = (f"id:{message_id} sub:001 dlvrd:000 submit date:2511250700 "
            f"done date:2511250700 stat:{stat} err:001 Text:")
    tlvs = pdus.tlv(pdus.TAG_RECEIPTED_MESSAGE_ID, pdus.cstring(message_id))
    return pdus.deliver_sm(sequence, msisdn, "Operator", text.encode(), tlvs=tlvs,
                           esm_class=0x04)


async def test_a_dialogue_that_ends_on_service_unavailable_is_counted_as_failed(
        tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        port = stack.running.http_port
        async with stack.running.db.write() as session:
            await session.execute(text("DROP TABLE sms_outbox"))  # *111*25# cannot commit
        result = await stack.simulator.dial(DEMO, "*111#", ["25"])
        assert result.session_ended
        after = await scrape(port)
        assert (after[ended("failed")], after[ended("completed")]) == (1, 0)
