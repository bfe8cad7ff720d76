# ruff: noqa: RUF001 (Cyrillic texts)
"""Settings of the self-care services: plain frozen values the config loader fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from ussd_gateway.security.passwords import LOOK_ALIKE_FREE_ALPHABET, alphabet_problem

_ZERO = timedelta(0)

DEFAULT_PASSWORD_SMS: tuple[tuple[str, str], ...] = (
    ("ru", "Пароль для личного кабинета: {password}. Никому его не сообщайте."),
    ("en", "Your personal account password: {password}. Do not tell it to anyone."),
)


@dataclass(frozen=True)
class PasswordSettings:
    # Key for the keyed hash of temporary passwords; must be set (config or environment).
    hash_key: str | bytes = ""
    length: int = 8
    alphabet: str = LOOK_ALIKE_FREE_ALPHABET
    validity: timedelta = timedelta(hours=24)
    rate_limit_count: int = 3
    rate_limit_window: timedelta = timedelta(hours=1)
    max_failed_logins: int = 5
    lockout: timedelta = timedelta(minutes=15)
    min_length: int = 8
    # (language, text with "{password}"); the first entry is the fallback.
    sms_templates: tuple[tuple[str, str], ...] = DEFAULT_PASSWORD_SMS
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456

    def __post_init__(self) -> None:
        _require(self.length >= 6, "passwords.length", "at least 6")
        problem = alphabet_problem(self.alphabet)
        if problem is not None:
            raise ValueError(f"passwords.alphabet {problem}")
        _require(self.validity > _ZERO, "passwords.validity", "positive")
        _require(self.rate_limit_count >= 1, "passwords.rate_limit_count", "at least 1")
        _require(self.rate_limit_window > _ZERO, "passwords.rate_limit_window", "positive")
        _require(self.max_failed_logins >= 1, "passwords.max_failed_logins", "at least 1")
        _require(self.lockout > _ZERO, "passwords.lockout", "positive")
        _require(self.min_length >= 6, "passwords.min_length", "at least 6")
        _require(
            bool(self.sms_templates)
            and all("{password}" in text for _, text in self.sms_templates),
            "passwords.sms_templates",
            "at least one, each with {password}",
        )


@dataclass(frozen=True)
class OutboxSettings:
    # Key for SMS bodies that carry a secret, encrypted at rest; must be set.
    body_key: str | bytes = ""
    batch_size: int = 20
    # A claimed message is another sender's again after this long (crash of its sender).
    lease: timedelta = timedelta(seconds=60)
    send_timeout: timedelta = timedelta(seconds=20)
    retry_initial: timedelta = timedelta(seconds=2)
    retry_max: timedelta = timedelta(minutes=5)
    # An SMS not accepted by then is dropped (a password SMS expires with its password).
    max_age: timedelta = timedelta(hours=24)
    poll_interval: timedelta = timedelta(seconds=5)

    def __post_init__(self) -> None:
        _require(self.batch_size >= 1, "outbox.batch_size", "at least 1")
        _require(self.send_timeout > _ZERO, "outbox.send_timeout", "positive")
        # Otherwise a slow send could be claimed and sent again by another sender.
        _require(self.lease > self.send_timeout, "outbox.lease", "longer than send_timeout")
        _require(self.retry_initial > _ZERO, "outbox.retry_initial", "positive")
        _require(self.retry_max >= self.retry_initial, "outbox.retry_max", ">= retry_initial")
        _require(self.max_age > _ZERO, "outbox.max_age", "positive")
        _require(self.poll_interval > _ZERO, "outbox.poll_interval", "positive")


@dataclass(frozen=True)
class LinkingSettings:
    review_working_days: int = 2
    holidays: tuple[date, ...] = ()
    weekend: tuple[int, ...] = (5, 6)  # Monday is 0
    # Weekend days declared working (holiday transfers).
    working_weekends: tuple[date, ...] = ()
    # The operator's local time, for what counts as a working day.
    utc_offset: timedelta = timedelta(hours=3)

    def __post_init__(self) -> None:
        _require(self.review_working_days >= 0, "linking.review_working_days", "0 or more")
        _require(
            set(self.weekend) <= set(range(7)) and len(set(self.weekend)) < 7,
            "linking.weekend",
            "weekday numbers 0 (Monday) to 6, not all seven",
        )
        _require(abs(self.utc_offset) < timedelta(hours=24), "linking.utc_offset", "under 24h")


@dataclass(frozen=True)
class ServiceSettings:
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    linking: LinkingSettings = field(default_factory=LinkingSettings)
    default_currency: str = "RUB"
    default_language: str = "ru"
    languages: tuple[str, ...] = ("ru", "en")

    def __post_init__(self) -> None:
        _require(
            self.default_language in self.languages, "default_language", "one of languages"
        )
        _require(
            len(self.default_currency) == 3 and self.default_currency.isupper(),
            "default_currency",
            "an ISO 4217 code",
        )


def _require(condition: bool, key: str, expected: str) -> None:
    if not condition:
        raise ValueError(f"{key} must be {expected}")
