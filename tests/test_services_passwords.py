"""Password by SMS (*111*25#), login with lockout, password change: against a real store."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from tests.fixtures_services import FakeClock, RecordingTransport
from ussd_gateway.security.passwords import LOOK_ALIKE_FREE_ALPHABET
from ussd_gateway.services import (
    InvalidCredentials,
    LockedOut,
    LoginOk,
    NotSubscriber,
    OutboxSender,
    PasswordChanged,
    PasswordIssued,
    PasswordRejected,
    PasswordService,
    RateLimited,
    SelfCare,
    ServiceSettings,
)
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import AuditRow, CredentialRow, OutboxRow

ALICE = "79161234567"
BOB = "79167654321"


@pytest.fixture
async def care(selfcare: SelfCare) -> SelfCare:
    for msisdn, language in ((ALICE, "ru"), (BOB, "en")):
        await selfcare.subscribers.upsert(
            msisdn, owner="Owner " + msisdn, region="Moscow", language=language, channel="test"
        )
    return selfcare


@pytest.fixture
def sms() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def sender(
    db: Database, sms: RecordingTransport, service_settings: ServiceSettings, clock: FakeClock
) -> OutboxSender:
    return OutboxSender(db, sms, service_settings.outbox, clock)


async def issue_and_receive(care: SelfCare, sender: OutboxSender, sms: RecordingTransport,
                            msisdn: str) -> str:
    assert isinstance(await care.passwords.issue_temporary(msisdn, channel="ussd"), PasswordIssued)
    await sender.drain_once()
    return sms.password_sent_to(msisdn)


async def audit_actions(db: Database, msisdn: str) -> list[str]:
    async with db.read() as session:
        return list(
            await session.scalars(
                select(AuditRow.action).where(AuditRow.msisdn == msisdn).order_by(AuditRow.id)
            )
        )


async def test_unknown_number_gets_no_password_and_no_sms(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport
) -> None:
    assert await care.passwords.issue_temporary("79990000000", channel="ussd") == NotSubscriber()
    assert await sender.drain_once() == 0
    assert sms.attempts == []


async def test_password_arrives_by_sms_in_the_subscribers_language_and_logs_in(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport, clock: FakeClock,
    service_settings: ServiceSettings,
) -> None:
    issued = await care.passwords.issue_temporary(ALICE, channel="ussd")
    assert issued == PasswordIssued(expires_at=clock.now + service_settings.passwords.validity)
    await sender.drain_once()
    [russian] = sms.texts_to(ALICE)
    assert "Пароль" in russian
    password = sms.password_sent_to(ALICE)
    assert len(password) == service_settings.passwords.length
    assert set(password) <= set(LOOK_ALIKE_FREE_ALPHABET)
    assert not set(password) & set("0O1lI5S2Z8B")
    assert await care.passwords.verify_login(ALICE, password, channel="web") == LoginOk(
        must_change=True
    )
    await care.passwords.issue_temporary(BOB, channel="web")
    await sender.drain_once()
    assert "password" in sms.texts_to(BOB)[0]


async def test_the_store_holds_neither_the_password_nor_the_sms_text(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport
) -> None:
    await care.passwords.issue_temporary(ALICE, channel="ussd")
    async with db.read() as session:
        credential = await session.get(CredentialRow, ALICE)
        [queued] = (await session.scalars(select(OutboxRow))).all()
    assert queued.secret and queued.body is None and queued.body_encrypted is not None
    await sender.drain_once()
    password = sms.password_sent_to(ALICE)
    assert credential is not None and credential.temporary_hash is not None
    assert password not in credential.temporary_hash
    assert password.encode() not in queued.body_encrypted
    async with db.read() as session:
        wiped = await session.get(OutboxRow, queued.id)
    assert wiped is not None and wiped.body is None and wiped.body_encrypted is None


async def test_a_new_password_replaces_the_earlier_one_and_its_unsent_sms(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport, clock: FakeClock
) -> None:
    first = await issue_and_receive(care, sender, sms, ALICE)
    clock.advance(timedelta(minutes=1))
    await care.passwords.issue_temporary(ALICE, channel="ussd")  # its SMS is never sent
    clock.advance(timedelta(minutes=1))
    third = await issue_and_receive(care, sender, sms, ALICE)
    assert len(sms.texts_to(ALICE)) == 2, "the superseded SMS must not go out"
    assert isinstance(await care.passwords.verify_login(ALICE, first, channel="web"),
                      InvalidCredentials)
    assert isinstance(await care.passwords.verify_login(ALICE, third, channel="web"), LoginOk)


async def test_the_accounts_other_settings_stay_when_a_new_password_is_issued(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport, clock: FakeClock
) -> None:
    temporary = await issue_and_receive(care, sender, sms, ALICE)
    assert await care.passwords.change_password(
        ALICE, temporary, "Kalinka-Malinka-42", channel="web"
    ) == PasswordChanged()
    await care.subscribers.set_language(ALICE, "en", channel="web")
    clock.advance(timedelta(minutes=5))
    fresh = await issue_and_receive(care, sender, sms, ALICE)
    assert (await care.subscribers.get(ALICE)).language == "en"  # type: ignore[union-attr]
    assert await care.passwords.verify_login(ALICE, "Kalinka-Malinka-42", channel="web") == (
        LoginOk(must_change=False)
    )
    assert await care.passwords.verify_login(ALICE, fresh, channel="web") == LoginOk(
        must_change=True
    )


async def test_the_temporary_password_expires(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport, clock: FakeClock,
    service_settings: ServiceSettings,
) -> None:
    password = await issue_and_receive(care, sender, sms, ALICE)
    clock.advance(service_settings.passwords.validity + timedelta(seconds=1))
    assert isinstance(await care.passwords.verify_login(ALICE, password, channel="web"),
                      InvalidCredentials)


async def test_rate_limit_says_when_to_try_again_and_the_window_slides(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport,
    clock: FakeClock,
) -> None:
    for _ in range(3):  # at 0, 10 and 20 minutes
        assert isinstance(await care.passwords.issue_temporary(ALICE, channel="ussd"),
                          PasswordIssued)
        clock.advance(timedelta(minutes=10))
    clock.advance(timedelta(minutes=-5))  # 25 minutes after the first
    assert await care.passwords.issue_temporary(ALICE, channel="ussd") == RateLimited(
        retry_after=timedelta(minutes=35)
    )
    assert isinstance(
        await care.passwords.issue_temporary(BOB, channel="ussd"), PasswordIssued
    ), "the limit is per number"
    clock.advance(timedelta(minutes=35) - timedelta(seconds=1))
    assert isinstance(await care.passwords.issue_temporary(ALICE, channel="web"), RateLimited)
    clock.advance(timedelta(seconds=1))
    assert isinstance(await care.passwords.issue_temporary(ALICE, channel="web"), PasswordIssued)
    await sender.drain_once()
    assert len(sms.texts_to(ALICE)) <= 4
    actions = await audit_actions(db, ALICE)
    assert actions.count("password.issued") == 4
    assert actions.count("password.rate_limited") == 2


async def test_concurrent_requests_cannot_beat_the_rate_limit(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport
) -> None:
    results = await asyncio.gather(
        *(care.passwords.issue_temporary(ALICE, channel="ussd") for _ in range(12))
    )
    assert sum(isinstance(result, PasswordIssued) for result in results) == 3
    assert sum(isinstance(result, RateLimited) for result in results) == 9
    async with db.read() as session:
        issues = (await session.execute(text("SELECT count(*) FROM password_issues"))).scalar()
    assert issues == 3


async def test_lockout_after_n_failures_then_unlock_after_the_lockout(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport,
    clock: FakeClock, service_settings: ServiceSettings,
) -> None:
    policy = service_settings.passwords
    password = await issue_and_receive(care, sender, sms, ALICE)
    for left in range(policy.max_failed_logins - 1, 0, -1):
        assert await care.passwords.verify_login(ALICE, "wrong-guess", channel="web") == (
            InvalidCredentials(attempts_left=left)
        )
    assert await care.passwords.verify_login(ALICE, "wrong-guess", channel="web") == LockedOut(
        retry_after=policy.lockout
    )
    clock.advance(timedelta(minutes=1))
    assert await care.passwords.verify_login(ALICE, password, channel="web") == LockedOut(
        retry_after=policy.lockout - timedelta(minutes=1)
    ), "the right password does not help while locked"
    clock.advance(policy.lockout)
    assert await care.passwords.verify_login(ALICE, password, channel="web") == LoginOk(
        must_change=True
    )
    # A success resets the count: a full allowance again.
    assert await care.passwords.verify_login(ALICE, "wrong", channel="web") == (
        InvalidCredentials(attempts_left=policy.max_failed_logins - 1)
    )
    actions = await audit_actions(db, ALICE)
    assert actions.count("login.locked") == 1
    assert actions.count("login.ok") == 1


async def test_concurrent_guesses_get_no_more_tries_than_the_limit(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport,
    service_settings: ServiceSettings,
) -> None:
    await issue_and_receive(care, sender, sms, ALICE)
    results = await asyncio.gather(
        *(care.passwords.verify_login(ALICE, f"guess-{n}", channel="web") for n in range(25))
    )
    assert all(isinstance(result, InvalidCredentials | LockedOut) for result in results)
    actions = await audit_actions(db, ALICE)
    checked = actions.count("login.failed") + actions.count("login.locked")
    assert checked == service_settings.passwords.max_failed_logins


async def test_a_number_without_a_password_cannot_log_in(care: SelfCare) -> None:
    assert await care.passwords.verify_login(ALICE, "anything", channel="web") == (
        InvalidCredentials(attempts_left=None)
    )
    assert await care.passwords.verify_login("79990000000", "x", channel="web") == (
        InvalidCredentials(attempts_left=None)
    )


@pytest.mark.parametrize(
    ("new_password", "reason"),
    [
        ("Ab3", "too short"),
        ("my9161234567pw", "phone number"),
        ("qwerty123", "too common"),
        ("aaaaaaaaaa", "too simple"),
    ],
)
async def test_password_policy_refuses_weak_passwords_with_the_reason(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport, new_password: str,
    reason: str,
) -> None:
    temporary = await issue_and_receive(care, sender, sms, ALICE)
    result = await care.passwords.change_password(ALICE, temporary, new_password, channel="web")
    assert isinstance(result, PasswordRejected)
    assert reason in result.reason
    # Refused before anything changed: the temporary password still works.
    assert isinstance(await care.passwords.verify_login(ALICE, temporary, channel="web"), LoginOk)


async def test_change_needs_the_current_password_and_ends_the_temporary_one(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport
) -> None:
    temporary = await issue_and_receive(care, sender, sms, ALICE)
    assert await care.passwords.change_password(
        ALICE, "not-it-at-all", "Kalinka-Malinka-42", channel="web"
    ) == InvalidCredentials(attempts_left=4)
    assert await care.passwords.change_password(
        ALICE, temporary, temporary, channel="web"
    ) == PasswordRejected("must differ from the current password")
    assert await care.passwords.change_password(
        ALICE, temporary, "Kalinka-Malinka-42", channel="web"
    ) == PasswordChanged()
    assert isinstance(await care.passwords.verify_login(ALICE, temporary, channel="web"),
                      InvalidCredentials)
    assert await care.passwords.verify_login(ALICE, "Kalinka-Malinka-42", channel="web") == (
        LoginOk(must_change=False)
    )
    async with db.read() as session:
        credential = await session.get(CredentialRow, ALICE)
    assert credential is not None and credential.permanent_hash is not None
    assert credential.permanent_hash.startswith("$argon2id$")


def test_services_refuse_to_start_without_keys(db: Database) -> None:
    with pytest.raises(ValueError, match="hash_key"):
        PasswordService(db, ServiceSettings())


async def test_no_password_reaches_logs_audit_rows_or_errors(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport,
    clock: FakeClock, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # SQL and its parameters
    try:
        secrets = [await issue_and_receive(care, sender, sms, ALICE)]
        await care.passwords.verify_login(ALICE, "wrong-one-1", channel="web")
        await care.passwords.verify_login(ALICE, secrets[0], channel="web")
        chosen = "Kalinka-Malinka-42"
        secrets.append(chosen)
        await care.passwords.change_password(ALICE, secrets[0], chosen, channel="web")
        rejected = await care.passwords.change_password(ALICE, chosen, "qwerty123", channel="web")
        assert isinstance(rejected, PasswordRejected)
        clock.advance(timedelta(minutes=2))
        secrets.append(await issue_and_receive(care, sender, sms, ALICE))
        secrets.append(await issue_and_receive(care, sender, sms, BOB))
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    async with db.read() as session:
        audit_text = " ".join(
            f"{row.action} {row.details}" for row in await session.scalars(select(AuditRow))
        )
    errors = str(rejected.reason)
    assert caplog.records, "the scan must have seen logs"
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in audit_text
        assert secret not in errors
    for msisdn in (ALICE, BOB):
        assert all(msisdn not in record.getMessage() for record in caplog.records
                   if record.name.startswith("ussd_gateway"))


async def test_the_password_and_its_sms_commit_together_or_not_at_all(
    care: SelfCare, db: Database
) -> None:
    async with db.write() as session:  # the outbox becomes unwritable
        await session.execute(text("ALTER TABLE sms_outbox RENAME TO sms_outbox_gone"))
    with pytest.raises(Exception):  # noqa: B017 (which error depends on the backend)
        await care.passwords.issue_temporary(ALICE, channel="ussd")
    async with db.read() as session:
        credentials = (await session.execute(text("SELECT count(*) FROM credentials"))).scalar()
        issues = (await session.execute(text("SELECT count(*) FROM password_issues"))).scalar()
        audits = (await session.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'password.issued'")
        )).scalar()
    assert (credentials, issues, audits) == (0, 0, 0)


async def test_an_attempt_never_settled_locks_out_no_longer_than_the_lockout(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport, clock: FakeClock,
    service_settings: ServiceSettings,
) -> None:
    policy = service_settings.passwords
    password = await issue_and_receive(care, sender, sms, ALICE)
    for _ in range(policy.max_failed_logins - 1):
        await care.passwords.verify_login(ALICE, "wrong-guess", channel="web")
    # The last allowed try is counted, then the gateway dies before its outcome is recorded.
    await care.passwords._reserve_attempt(ALICE, "web")

    assert await care.passwords.verify_login(ALICE, password, channel="web") == LockedOut(
        retry_after=policy.lockout)
    clock.advance(timedelta(minutes=2))
    fresh = await issue_and_receive(care, sender, sms, ALICE)
    assert await care.passwords.verify_login(ALICE, fresh, channel="web") == LockedOut(
        retry_after=policy.lockout - timedelta(minutes=2)
    ), "a new SMS password does not lift a lockout against guessing"
    clock.advance(policy.lockout - timedelta(minutes=2))
    assert await care.passwords.verify_login(ALICE, fresh, channel="web") == LoginOk(
        must_change=True)
    assert await care.passwords.verify_login(ALICE, "wrong", channel="web") == (
        InvalidCredentials(attempts_left=policy.max_failed_logins - 1))


async def test_a_count_left_at_the_limit_without_a_lockout_end_expires(
    care: SelfCare, db: Database, sender: OutboxSender, sms: RecordingTransport,
    clock: FakeClock, service_settings: ServiceSettings,
) -> None:
    """What an interrupted attempt left behind before lockouts were ended in the same step."""
    policy = service_settings.passwords
    await issue_and_receive(care, sender, sms, ALICE)
    async with db.write() as session:
        credential = await session.get(CredentialRow, ALICE)
        assert credential is not None
        credential.failed_attempts, credential.locked_until = policy.max_failed_logins, None
    clock.advance(timedelta(days=7))
    password = await issue_and_receive(care, sender, sms, ALICE)
    assert await care.passwords.verify_login(ALICE, password, channel="web") == LockedOut(
        retry_after=policy.lockout)
    clock.advance(policy.lockout)
    assert await care.passwords.verify_login(ALICE, password, channel="web") == LoginOk(
        must_change=True)


async def test_a_password_replaced_while_being_checked_no_longer_logs_in(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport,
) -> None:
    temporary = await issue_and_receive(care, sender, sms, ALICE)
    assert await care.passwords.change_password(
        ALICE, temporary, "Kalinka-Malinka-42", channel="web") == PasswordChanged()
    passwords = care.passwords
    attempt = await passwords._reserve_attempt(ALICE, "web")
    assert not isinstance(attempt, InvalidCredentials | LockedOut)
    matched, by_temporary = await passwords._check(ALICE, "Kalinka-Malinka-42", attempt)
    assert matched
    assert await passwords.change_password(
        ALICE, "Kalinka-Malinka-42", "Babushka-Pirozhki-7", channel="web") == PasswordChanged()
    assert isinstance(await passwords._settle(ALICE, attempt, matched, by_temporary, "web",
                                              "login"), InvalidCredentials)


async def test_every_new_password_gives_a_new_credential_stamp(
    care: SelfCare, sender: OutboxSender, sms: RecordingTransport, clock: FakeClock,
) -> None:
    passwords = care.passwords
    assert await passwords.credential_stamp(ALICE) is None
    temporary = await issue_and_receive(care, sender, sms, ALICE)
    login = await passwords.verify_login(ALICE, temporary, channel="web")
    assert isinstance(login, LoginOk)
    first = await passwords.credential_stamp(ALICE)
    assert first is not None and login.credential_stamp == first
    await passwords.verify_login(ALICE, "wrong-guess", channel="web")
    assert await passwords.credential_stamp(ALICE) == first, "a failed login changes nothing"
    await passwords.change_password(ALICE, temporary, "Kalinka-Malinka-42", channel="web")
    chosen = await passwords.credential_stamp(ALICE)
    clock.advance(timedelta(minutes=2))
    await issue_and_receive(care, sender, sms, ALICE)
    by_sms = await passwords.credential_stamp(ALICE)
    assert len({first, chosen, by_sms}) == 3
    assert await passwords.credential_stamp(BOB) is None


async def test_a_resent_request_gets_the_first_answer_and_no_second_password(
    care: SelfCare, db: Database, clock: FakeClock
) -> None:
    """The USSD centre resends *111*25# (to this instance or another): one password, one SMS."""
    key = f"{ALICE}:its:7/*111*25#"
    first, second = await asyncio.gather(
        care.passwords.issue_temporary(ALICE, channel="ussd", request_key=key),
        care.passwords.issue_temporary(ALICE, channel="ussd", request_key=key))
    assert {first, second} == {PasswordIssued(clock.now + timedelta(hours=24)),
                               PasswordIssued(clock.now + timedelta(hours=24), repeated=True)}
    clock.advance(timedelta(seconds=20))
    again = await care.passwords.issue_temporary(ALICE, channel="ussd", request_key=key)
    assert again == PasswordIssued(clock.now - timedelta(seconds=20) + timedelta(hours=24),
                                   repeated=True)
    async with db.read() as session:
        assert len((await session.scalars(select(OutboxRow))).all()) == 1
    # a new dialogue (another key), or the same one long after, is a new request
    other = await care.passwords.issue_temporary(ALICE, channel="ussd",
                                                 request_key=f"{ALICE}:its:8/*111*25#")
    clock.advance(timedelta(minutes=5))
    late = await care.passwords.issue_temporary(ALICE, channel="ussd", request_key=key)
    assert isinstance(other, PasswordIssued) and not other.repeated
    assert isinstance(late, PasswordIssued) and not late.repeated
    async with db.read() as session:
        assert len((await session.scalars(select(OutboxRow))).all()) == 3
