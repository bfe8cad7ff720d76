"""Passwords for the personal account: the SMS password (*111*25#), login, change.

Failed logins are counted *before* the hash is checked, in the same locked transaction that
reads the lockout, so concurrent guesses can never exceed the configured number. The attempt
that uses up the allowance also sets the lockout's end right there: should its outcome never be
recorded (a crash, a store error), the lockout still ends on time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, bindparam, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_gateway.msisdn import mask_msisdn
from ussd_gateway.security.credential_stamp import CredentialStamper
from ussd_gateway.security.encryption import BodyCipher
from ussd_gateway.security.hashing import PermanentHasher, TemporaryHasher
from ussd_gateway.security.passwords import check_password_policy, generate_password
from ussd_gateway.services.common import (
    INSERT_AUDIT,
    LOCK_SUBSCRIBER,
    Clock,
    audit,
    audit_values,
    check_channel,
    lock_subscriber,
    upsert,
    utc_now,
)
from ussd_gateway.services.outbox import INSERT_SMS, SUPERSEDE, sms_values
from ussd_gateway.services.results import (
    ChangeResult,
    InvalidCredentials,
    LockedOut,
    LoginOk,
    LoginResult,
    NotSubscriber,
    PasswordChanged,
    PasswordIssued,
    PasswordRejected,
    RateLimited,
)
from ussd_gateway.services.settings import ServiceSettings
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import (
    CredentialRow,
    PasswordIssueRow,
)
from ussd_gateway.store.read_query import ReadQuery

log = logging.getLogger(__name__)

_RECENT_ISSUES = (
    select(PasswordIssueRow.issued_at, PasswordIssueRow.request_key)
    .where(PasswordIssueRow.msisdn == bindparam("msisdn"),
           PasswordIssueRow.issued_at > bindparam("since"))
    .order_by(PasswordIssueRow.issued_at)
)
# A request that reaches the gateway again within this time (the USSD centre resending it,
# perhaps to another instance) gets the first answer, not a second password.
DUPLICATE_REQUEST_WINDOW = timedelta(seconds=30)
_INSERT_ISSUE = insert(PasswordIssueRow)
_PASSWORD_HASHES = ReadQuery(
    select(CredentialRow.permanent_hash, CredentialRow.temporary_hash)
    .where(CredentialRow.msisdn == bindparam("msisdn"))
)
_FORGET_ISSUES = delete(PasswordIssueRow).where(
    PasswordIssueRow.msisdn == bindparam("msisdn"),
    PasswordIssueRow.issued_at <= bindparam("since"),
)


def _set_temporary(dialect: str) -> Insert:
    """Set the temporary password, creating the credential row if there is none yet."""
    return upsert(dialect, CredentialRow, ["msisdn"],
                  ["temporary_hash", "temporary_expires_at", "updated_at"])



PASSWORD_SMS = "password"
MAX_PASSWORD_CHARS = 128  # check_password_policy's max_length


@dataclass(frozen=True)
class _Attempt:
    """A reserved login attempt and the hashes to check it against."""

    failures_so_far: int  # including this attempt
    temporary_hash: str | None
    temporary_valid: bool
    permanent_hash: str | None
    must_change: bool


class PasswordService:
    def __init__(
        self,
        db: Database,
        settings: ServiceSettings | None = None,
        clock: Clock = utc_now,
        *,
        on_sms_queued: Callable[[], None] | None = None,
    ) -> None:
        """``on_sms_queued`` is called after a password SMS is committed (OutboxSender.wake)."""
        self._db = db
        self._settings = settings or ServiceSettings()
        self._policy = self._settings.passwords
        self._clock = clock
        self._on_sms_queued = on_sms_queued
        if not self._policy.hash_key:
            raise ValueError("passwords.hash_key is empty; set it in config or the environment")
        if not self._settings.outbox.body_key:
            raise ValueError("outbox.body_key is empty; set it in config or the environment")
        self._temporary = TemporaryHasher(self._policy.hash_key)
        self._permanent = PermanentHasher(
            time_cost=self._policy.argon2_time_cost,
            memory_cost_kib=self._policy.argon2_memory_kib,
        )
        self._cipher = BodyCipher(self._settings.outbox.body_key)
        self._stamper = CredentialStamper(self._policy.hash_key)

    # --- *111*25# ---------------------------------------------------------------------------
    async def issue_temporary(
        self, msisdn: str, *, channel: str, request_key: str | None = None
    ) -> PasswordIssued | RateLimited | NotSubscriber:
        """A new temporary password, by SMS, replacing any earlier temporary one.

        The credential (hash only) and the SMS (encrypted) are written in one transaction.
        ``request_key`` names the request (the USSD dialogue and what was dialled): the same
        key again within ``DUPLICATE_REQUEST_WINDOW`` is the same request resent, answered
        as the first was, with no second password. The subscriber's row lock makes that
        hold across instances.
        """
        check_channel(channel)
        policy = self._policy
        password = generate_password(policy.length, policy.alphabet)
        digest = self._temporary.hash(msisdn, password)
        now = self._clock()
        expires_at = now + policy.validity

        def issue(connection: Connection) -> PasswordIssued | RateLimited | NotSubscriber:
            subscriber = connection.execute(LOCK_SUBSCRIBER, {"msisdn": msisdn}).first()
            if subscriber is None or subscriber.status != "active":
                return NotSubscriber()
            since = now - policy.rate_limit_window
            recent = connection.execute(_RECENT_ISSUES, {"msisdn": msisdn, "since": since}).all()
            if request_key is not None:
                for row in recent:
                    if row.request_key == request_key and \
                            row.issued_at > now - DUPLICATE_REQUEST_WINDOW:
                        return PasswordIssued(expires_at=row.issued_at + policy.validity,
                                              repeated=True)
            limited = self._rate_limit([row.issued_at for row in recent], now)
            if limited is not None:
                connection.execute(INSERT_AUDIT, audit_values(
                    at=now, msisdn=msisdn, channel=channel, action="password.rate_limited",
                    details={"retry_after_s": int(limited.retry_after.total_seconds())}))
                return limited
            # older issues no longer count (the audit log keeps them)
            connection.execute(_FORGET_ISSUES, {"msisdn": msisdn, "since": since})
            connection.execute(_INSERT_ISSUE, {"msisdn": msisdn, "issued_at": now,
                                               "channel": channel, "request_key": request_key})
            connection.execute(_set_temporary(connection.dialect.name), {
                "msisdn": msisdn, "temporary_hash": digest, "temporary_expires_at": expires_at,
                "updated_at": now, "must_change": True, "failed_attempts": 0})
            connection.execute(SUPERSEDE, {"to": msisdn, "of_purpose": PASSWORD_SMS})
            connection.execute(INSERT_SMS, sms_values(
                destination=msisdn, text=self._sms_text(subscriber.language, password), now=now,
                purpose=PASSWORD_SMS, cipher=self._cipher,
                expires_in=min(policy.validity, self._settings.outbox.max_age)))
            connection.execute(INSERT_AUDIT, audit_values(
                at=now, msisdn=msisdn, channel=channel, action="password.issued",
                details={"expires_at": expires_at.isoformat()}))
            return PasswordIssued(expires_at=expires_at)

        result = await self._db.transact(issue)
        if isinstance(result, PasswordIssued) and result.repeated:
            log.info("a resent password request from %s got the first answer", mask_msisdn(msisdn))
        elif isinstance(result, PasswordIssued):
            log.info("issued a temporary password to %s via %s", mask_msisdn(msisdn), channel)
            if self._on_sms_queued is not None:
                self._on_sms_queued()
        return result

    def _rate_limit(self, recent: list[datetime], now: datetime) -> RateLimited | None:
        """``recent``: the issue times within the window, oldest first."""
        limit, window = self._policy.rate_limit_count, self._policy.rate_limit_window
        if len(recent) < limit:
            return None
        frees_up_at = recent[len(recent) - limit] + window
        return RateLimited(retry_after=max(frees_up_at - now, timedelta(seconds=1)))

    def _sms_text(self, language: str, password: str) -> str:
        templates = dict(self._policy.sms_templates)
        template = templates.get(language, self._policy.sms_templates[0][1])
        return template.format(password=password)

    # --- login ------------------------------------------------------------------------------
    async def credential_stamp(self, msisdn: str) -> str | None:
        """The current passwords' stamp (see LoginOk.credential_stamp); None without any."""
        rows = await self._db.fetch(_PASSWORD_HASHES, msisdn=msisdn)
        return self._stamper.stamp(*rows[0]) if rows else None

    async def verify_login(self, msisdn: str, password: str, *, channel: str) -> LoginResult:
        check_channel(channel)
        attempt = await self._reserve_attempt(msisdn, channel)
        if not isinstance(attempt, _Attempt):
            return attempt
        matched, by_temporary = await self._check(msisdn, password, attempt)
        return await self._settle(msisdn, attempt, matched, by_temporary, channel, "login")

    async def change_password(
        self, msisdn: str, current_password: str, new_password: str, *, channel: str
    ) -> ChangeResult:
        """Replace the password (temporary or permanent) with one the subscriber chose."""
        check_channel(channel)
        refusal = check_password_policy(new_password, msisdn, min_length=self._policy.min_length)
        if refusal is None and new_password == current_password:
            refusal = "must differ from the current password"
        if refusal is not None:
            return PasswordRejected(refusal)
        attempt = await self._reserve_attempt(msisdn, channel)
        if not isinstance(attempt, _Attempt):
            return attempt
        matched, by_temporary = await self._check(msisdn, current_password, attempt)
        settled = await self._settle(msisdn, attempt, matched, by_temporary, channel, "change")
        if not isinstance(settled, LoginOk):
            return settled
        new_hash = await self._permanent.hash(new_password)
        now = self._clock()
        async with self._db.write() as session:
            credential = await self._lock_credential(session, msisdn)
            if credential is None:
                return InvalidCredentials(attempts_left=None)
            credential.permanent_hash = new_hash
            credential.temporary_hash = None
            credential.temporary_expires_at = None
            credential.must_change = False
            credential.updated_at = now
            audit(session, at=now, msisdn=msisdn, channel=channel, action="password.changed")
        log.info("password changed for %s via %s", mask_msisdn(msisdn), channel)
        return PasswordChanged()

    async def _lock_credential(self, session: AsyncSession, msisdn: str) -> CredentialRow | None:
        result = await session.execute(
            select(CredentialRow).where(CredentialRow.msisdn == msisdn).with_for_update()
        )
        return result.scalar_one_or_none()

    async def _reserve_attempt(
        self, msisdn: str, channel: str
    ) -> _Attempt | InvalidCredentials | LockedOut:
        now = self._clock()
        limit = self._policy.max_failed_logins
        async with self._db.write() as session:
            subscriber = await lock_subscriber(session, msisdn)
            credential = await self._lock_credential(session, msisdn)
            if subscriber is None or subscriber.status != "active" or credential is None:
                return InvalidCredentials(attempts_left=None)
            if credential.locked_until is not None:
                if credential.locked_until > now:
                    return LockedOut(retry_after=credential.locked_until - now)
                credential.locked_until = None  # the lockout is over: a fresh start
                credential.failed_attempts = 0
            if credential.failed_attempts >= limit:
                # Only a count with no end (left by an earlier version, or a lowered limit):
                # a lockout from now, never one for ever.
                credential.locked_until = now + self._policy.lockout
                credential.updated_at = now
                return LockedOut(retry_after=self._policy.lockout)
            credential.failed_attempts += 1
            credential.updated_at = now
            if credential.failed_attempts >= limit:
                # The last try allowed: locked until it is settled (a right password lifts it),
                # and if it never is, until the lockout is over.
                credential.locked_until = now + self._policy.lockout
            expires = credential.temporary_expires_at
            return _Attempt(
                failures_so_far=credential.failed_attempts,
                temporary_hash=credential.temporary_hash,
                temporary_valid=expires is not None and expires > now,
                permanent_hash=credential.permanent_hash,
                must_change=credential.must_change,
            )

    async def _check(self, msisdn: str, password: str, attempt: _Attempt) -> tuple[bool, bool]:
        """(matched, matched the temporary password)."""
        if len(password) > MAX_PASSWORD_CHARS:  # no policy allows it; spare argon2 the work
            return False, False
        if (
            attempt.temporary_hash is not None
            and attempt.temporary_valid
            and self._temporary.verify(msisdn, password, attempt.temporary_hash)
        ):
            return True, True
        if attempt.permanent_hash is not None and await self._permanent.verify(
            attempt.permanent_hash, password
        ):
            return True, False
        return False, False

    async def _settle(
        self,
        msisdn: str,
        attempt: _Attempt,
        matched: bool,
        by_temporary: bool,
        channel: str,
        purpose: str,
    ) -> LoginResult:
        now = self._clock()
        limit = self._policy.max_failed_logins
        async with self._db.write() as session:
            credential = await self._lock_credential(session, msisdn)
            if credential is None:
                return InvalidCredentials(attempts_left=None)
            # A password replaced while it was being checked no longer opens the account.
            checked_against = attempt.temporary_hash if by_temporary else attempt.permanent_hash
            still_there = (credential.temporary_hash if by_temporary
                           else credential.permanent_hash)
            matched = matched and checked_against == still_there
            if matched:
                credential.failed_attempts = 0
                credential.locked_until = None
                credential.updated_at = now
                if purpose == "login":
                    audit(
                        session,
                        at=now,
                        msisdn=msisdn,
                        channel=channel,
                        action="login.ok",
                        details={"temporary": by_temporary},
                    )
                stamp = self._stamper.stamp(credential.permanent_hash, credential.temporary_hash)
                return LoginOk(must_change=by_temporary or credential.must_change,
                               credential_stamp=stamp)
            if credential.failed_attempts >= limit:
                credential.locked_until = now + self._policy.lockout
                credential.updated_at = now
                audit(
                    session,
                    at=now,
                    msisdn=msisdn,
                    channel=channel,
                    action="login.locked",
                    details={"failures": credential.failed_attempts, "during": purpose},
                )
                log.info(
                    "locked out %s after %d failed attempts",
                    mask_msisdn(msisdn),
                    credential.failed_attempts,
                )
                return LockedOut(retry_after=self._policy.lockout)
            audit(
                session,
                at=now,
                msisdn=msisdn,
                channel=channel,
                action="login.failed",
                details={"failures": credential.failed_attempts, "during": purpose},
            )
            return InvalidCredentials(attempts_left=limit - credential.failed_attempts)
