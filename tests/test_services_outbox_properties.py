"""Whatever the SMSC answers, each SMS is accepted at most once and none is left behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures_services import FakeClock, RecordingTransport
from ussd_gateway.services import (
    OutboxSender,
    OutboxService,
    OutboxSettings,
    ServiceSettings,
    SmsAccepted,
    SmsPermanentFailure,
    SmsSubmitResult,
    SmsTemporaryFailure,
    SmsThrottled,
)
from ussd_gateway.store.database import Database

ANSWERS: list[SmsSubmitResult | BaseException] = [
    SmsThrottled(),
    SmsThrottled(retry_after=timedelta(seconds=7)),
    SmsTemporaryFailure("RX_T_APPN"),
    SmsPermanentFailure("invalid destination"),
    ConnectionResetError("link lost"),
    TimeoutError(),
]
answers = st.lists(st.one_of(st.none(), st.sampled_from(ANSWERS)), max_size=30)


async def run_scenario(
    script: list[SmsSubmitResult | BaseException | None], messages: int, senders: int
) -> None:
    db = await Database.connect("sqlite+aiosqlite://")
    try:
        await db.upgrade()
        clock = FakeClock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
        settings = OutboxSettings(body_key="k", batch_size=2, max_age=timedelta(days=30))
        outbox = OutboxService(db, ServiceSettings(outbox=settings), clock)
        for n in range(messages):
            await outbox.enqueue(f"7916000{n:04d}", f"message {n}")
        # None in the script is "accept"; after the script, everything is accepted.
        transport = RecordingTransport([
            answer if answer is not None else SmsAccepted("any") for answer in script
        ])
        pool = [OutboxSender(db, transport, settings, clock) for _ in range(senders)]
        for _ in range(200):
            await asyncio.gather(*(sender.drain_once() for sender in pool))
            if await outbox.count_unsent() == 0:
                break
            clock.advance(settings.retry_max)
        assert await outbox.count_unsent() == 0
        accepted = [text for _, text, _ in transport.accepted]
        assert len(accepted) == len(set(accepted)), "an SMS was accepted twice"
        failures = sum(isinstance(a, SmsPermanentFailure) for a in script if a is not None)
        assert len(accepted) >= messages - failures
        states = [m.state for n in range(messages)
                  for m in await outbox.messages_to(f"7916000{n:04d}")]
        assert set(states) <= {"sent", "failed"}
        assert states.count("sent") == len(accepted)
    finally:
        await db.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=answers, messages=st.integers(1, 6), senders=st.integers(1, 3))
def test_each_sms_ends_sent_or_failed_and_is_never_accepted_twice(
    script: list[SmsSubmitResult | BaseException | None], messages: int, senders: int
) -> None:
    asyncio.run(run_scenario(script, messages, senders))
