"""The SMS outbox: written before sent, sent once, retried, receipts, resumes after a kill."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures_services import FakeClock, RecordingTransport
from ussd_gateway.services import (
    LoginOk,
    OutboxSender,
    OutboxService,
    OutboxSettings,
    PasswordIssued,
    SelfCare,
    ServiceSettings,
    SmsAccepted,
    SmsPermanentFailure,
    SmsSubmitResult,
    SmsTemporaryFailure,
    SmsThrottled,
)
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import OutboxRow

ALICE = "79161234567"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def care(selfcare: SelfCare) -> SelfCare:
    await selfcare.subscribers.upsert(ALICE, owner="Alice", region="Moscow", channel="test")
    return selfcare


def make_sender(db: Database, transport: RecordingTransport, settings: ServiceSettings,
                clock: FakeClock) -> OutboxSender:
    return OutboxSender(db, transport, settings.outbox, clock)


async def test_a_queued_sms_is_sent_once_and_its_smsc_id_recorded(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = RecordingTransport()
    message_id = await care.outbox.enqueue(ALICE, "Hello from the operator")
    sender = make_sender(db, sms, service_settings, clock)
    assert await sender.drain_once() == 1
    assert await sender.drain_once() == 0
    assert [(to, text) for to, text, _ in sms.accepted] == [(ALICE, "Hello from the operator")]
    message = await care.outbox.get(message_id)
    assert message is not None
    assert message.state == "sent" and message.smsc_message_id == sms.accepted[0][2]
    assert message.has_body, "a plain notice keeps its text"


async def test_throttling_and_link_loss_are_retried_with_growing_backoff(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = RecordingTransport(
        [SmsThrottled(), ConnectionResetError("link lost"), SmsTemporaryFailure("RX_T_APPN")]
    )
    message_id = await care.outbox.enqueue(ALICE, "notice")
    sender = make_sender(db, sms, service_settings, clock)
    initial = service_settings.outbox.retry_initial
    waits = []
    for _ in range(3):
        assert await sender.drain_once() == 1
        message = await care.outbox.get(message_id)
        assert message is not None and message.state == "pending"
        async with db.read() as session:
            row = await session.get(OutboxRow, message_id)
            assert row is not None
            waits.append(row.next_attempt_at - clock.now)
        assert await sender.drain_once() == 0, "not before its backoff"
        clock.advance(waits[-1])
    assert waits == [initial, initial * 2, initial * 4]
    assert await sender.drain_once() == 1
    sent = await care.outbox.get(message_id)
    assert sent is not None and sent.state == "sent" and sent.attempts == 4
    assert len(sms.accepted) == 1


async def test_throttle_with_a_retry_after_is_honoured(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = RecordingTransport([SmsThrottled(retry_after=timedelta(seconds=30))])
    await care.outbox.enqueue(ALICE, "notice")
    sender = make_sender(db, sms, service_settings, clock)
    await sender.drain_once()
    clock.advance(timedelta(seconds=29))
    assert await sender.drain_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await sender.drain_once() == 1
    assert len(sms.accepted) == 1


async def test_a_permanent_refusal_is_not_retried_and_a_secret_is_wiped(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = RecordingTransport([SmsPermanentFailure("invalid destination")])
    await care.passwords.issue_temporary(ALICE, channel="ussd")
    sender = make_sender(db, sms, service_settings, clock)
    assert await sender.drain_once() == 1
    clock.advance(timedelta(hours=1))
    assert await sender.drain_once() == 0
    [message] = await care.outbox.messages_to(ALICE)
    assert message.state == "failed" and not message.has_body
    assert message.last_error == "invalid destination"


async def test_a_secret_body_is_encrypted_at_rest_and_wiped_once_accepted(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = RecordingTransport([SmsThrottled()])
    await care.passwords.issue_temporary(ALICE, channel="ussd")
    sender = make_sender(db, sms, service_settings, clock)
    await sender.drain_once()  # throttled: still held, encrypted
    async with db.read() as session:
        [row] = (await session.scalars(select(OutboxRow))).all()
    assert row.body is None and row.body_encrypted is not None
    clock.advance(timedelta(minutes=1))
    await sender.drain_once()
    password = sms.password_sent_to(ALICE)
    assert password.encode() not in row.body_encrypted
    [message] = await care.outbox.messages_to(ALICE)
    assert message.state == "sent" and not message.has_body


async def test_a_body_encrypted_under_another_key_fails_instead_of_leaking(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    await care.passwords.issue_temporary(ALICE, channel="ussd")
    sms = RecordingTransport()
    other_key = OutboxSettings(body_key="a different key")
    assert await OutboxSender(db, sms, other_key, clock).drain_once() == 1
    assert sms.attempts == []
    [message] = await care.outbox.messages_to(ALICE)
    assert message.state == "failed" and not message.has_body


async def test_an_sms_too_old_to_matter_expires_unsent(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    await care.passwords.issue_temporary(ALICE, channel="ussd")
    clock.advance(service_settings.passwords.validity + timedelta(seconds=1))
    sms = RecordingTransport()
    assert await make_sender(db, sms, service_settings, clock).drain_once() == 0
    assert sms.attempts == []
    [message] = await care.outbox.messages_to(ALICE)
    assert message.state == "expired" and not message.has_body


@pytest.mark.parametrize(
    ("receipt", "state"),
    [("DELIVRD", "delivered"), ("UNDELIV", "undeliverable"), ("EXPIRED", "undeliverable"),
     ("ENROUTE", "sent")],
)
async def test_delivery_receipts_are_recorded(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock,
    receipt: str, state: str,
) -> None:
    sms = RecordingTransport()
    message_id = await care.outbox.enqueue(ALICE, "notice")
    await make_sender(db, sms, service_settings, clock).drain_once()
    assert await care.outbox.record_receipt(sms.accepted[0][2], receipt.lower()) is True
    message = await care.outbox.get(message_id)
    assert message is not None and message.state == state and message.receipt_state == receipt
    assert await care.outbox.record_receipt("no-such-id", "DELIVRD") is False


async def test_two_senders_never_send_one_sms_twice(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    for n in range(40):
        await care.outbox.enqueue(ALICE, f"message {n}")
    shared = RecordingTransport()
    settings = OutboxSettings(body_key="test body key", batch_size=3)
    first = OutboxSender(db, shared, settings, clock)
    second = OutboxSender(db, shared, settings, clock)
    attempted = await asyncio.gather(first.drain_once(), second.drain_once())
    assert sum(attempted) == 40
    texts = [text for _, text, _ in shared.accepted]
    assert sorted(texts) == sorted(f"message {n}" for n in range(40))
    assert await care.outbox.count_unsent() == 0


async def test_run_sends_at_once_when_woken_and_stops_cleanly(
    db: Database, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = RecordingTransport()
    slow_poll = OutboxSettings(body_key="test body key", poll_interval=timedelta(hours=1))
    sender = OutboxSender(db, sms, slow_poll, clock)
    care = SelfCare.create(db, service_settings, clock, on_sms_queued=sender.wake)
    await care.subscribers.upsert(ALICE, owner="Alice", region="Moscow", channel="test")
    running = asyncio.create_task(sender.run())
    try:
        assert isinstance(await care.passwords.issue_temporary(ALICE, channel="ussd"),
                          PasswordIssued)
        await sms.wait_for_accepted(1)
        clock.advance(timedelta(minutes=1))
        await care.outbox.enqueue(ALICE, "second")
        sender.wake()
        await sms.wait_for_accepted(2)
    finally:
        await sender.stop()
    await asyncio.wait_for(running, 10)
    assert len(sms.accepted) == 2


async def test_a_sender_that_died_mid_send_leaves_a_lease_another_takes_over(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    started = asyncio.Event()

    class Hangs(RecordingTransport):
        async def submit_sms(self, destination: str, text: str) -> SmsThrottled:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    await care.outbox.enqueue(ALICE, "important")
    dying = asyncio.create_task(make_sender(db, Hangs(), service_settings, clock).drain_once())
    await asyncio.wait_for(started.wait(), 10)
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying
    survivor = RecordingTransport()
    sender = make_sender(db, survivor, service_settings, clock)
    assert await sender.drain_once() == 0, "the lease still holds"
    clock.advance(service_settings.outbox.lease)
    assert await sender.drain_once() == 1
    assert [text for _, text, _ in survivor.accepted] == ["important"]


_KILLED_SCRIPT = """
import asyncio, os, signal, sys
from ussd_gateway.services import *
from ussd_gateway.store import Database

class DiesWhileSending:
    async def submit_sms(self, destination, text):
        os.kill(os.getpid(), signal.SIGKILL)

async def main(url, stage):
    db = await Database.connect(url)
    settings = ServiceSettings(
        passwords=PasswordSettings(hash_key="test hash key"),
        outbox=OutboxSettings(body_key="test body key"),
    )
    care = SelfCare.create(db, settings)
    result = await care.passwords.issue_temporary("{msisdn}", channel="ussd")
    assert isinstance(result, PasswordIssued), result
    if stage == "after-commit":
        os.kill(os.getpid(), signal.SIGKILL)
    await OutboxSender(db, DiesWhileSending(), settings.outbox).drain_once()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("stage", ["after-commit", "while-sending"])
async def test_the_outbox_resumes_after_the_process_is_killed(
    db: Database, db_url: str, care: SelfCare, service_settings: ServiceSettings,
    tmp_path: Path, stage: str,
) -> None:
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(_KILLED_SCRIPT).replace("{msisdn}", ALICE))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), db_url, stage, env=env, cwd=str(REPO),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == -signal.SIGKILL, stderr.decode()

    # A new process (same keys, real time moved past any lease) sends what was left.
    later = FakeClock(datetime.now(UTC) + service_settings.outbox.lease + timedelta(seconds=1))
    sms = RecordingTransport()
    assert await make_sender(db, sms, service_settings, later).drain_once() == 1
    password = sms.password_sent_to(ALICE)
    fresh = SelfCare.create(db, service_settings, later)
    assert isinstance(await fresh.passwords.verify_login(ALICE, password, channel="web"), LoginOk)
    assert await OutboxService(db, service_settings, later).count_unsent() == 0


async def test_a_receipt_that_overtakes_the_sent_record_is_not_lost(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    outbox = care.outbox

    class InstantDelivery(RecordingTransport):
        async def submit_sms(self, destination: str, text: str) -> SmsAccepted:
            # The SMSC reports delivery before submit_sm_resp reaches the sender.
            assert await outbox.record_receipt("early-1", "DELIVRD") is False
            return SmsAccepted("early-1")

    message_id = await outbox.enqueue(ALICE, "notice")
    await make_sender(db, InstantDelivery(), service_settings, clock).drain_once()
    message = await outbox.get(message_id)
    assert message is not None
    assert (message.state, message.receipt_state) == ("delivered", "DELIVRD")


class _LinkLostMidSend(RecordingTransport):
    """The first submission hangs until released, then fails as if the link dropped; the
    rest are accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = asyncio.Event()
        self.release = asyncio.Event()

    async def submit_sms(self, destination: str, text: str) -> SmsSubmitResult:
        if not self.in_flight.is_set():
            self.in_flight.set()
            await self.release.wait()
            return SmsTemporaryFailure("link lost")
        return await super().submit_sms(destination, text)


async def test_a_password_superseded_while_its_sms_is_being_sent_never_arrives_later(
    db: Database, care: SelfCare, service_settings: ServiceSettings, clock: FakeClock
) -> None:
    sms = _LinkLostMidSend()
    sender = make_sender(db, sms, service_settings, clock)
    await care.passwords.issue_temporary(ALICE, channel="ussd")
    sending = asyncio.create_task(sender.drain_once())
    await sms.in_flight.wait()
    # the subscriber asks again while the first SMS is on its way, and that attempt fails
    await care.passwords.issue_temporary(ALICE, channel="ussd")
    sms.release.set()
    await sending
    clock.advance(timedelta(hours=1))  # past any retry back-off
    await sender.drain_once()

    assert len(sms.accepted) == 1, "only the newest password's SMS goes out"
    current = sms.password_sent_to(ALICE)
    assert isinstance(await care.passwords.verify_login(ALICE, current, channel="web"), LoginOk)
    assert sorted(m.state for m in await care.outbox.messages_to(ALICE)) == ["sent",
                                                                               "superseded"]
