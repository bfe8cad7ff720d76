# ruff: noqa: RUF001 (Cyrillic texts)
"""Settings of the self-care services: plain frozen values the config loader fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from ussd_gateway.security.passwords import LOOK_ALIKE_FREE_ALPHABET

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


@dataclass(frozen=True)
class LinkingSettings:
    review_working_days: int = 2
    holidays: tuple[date, ...] = ()
    weekend: tuple[int, ...] = (5, 6)  # Monday is 0
    # Weekend days declared working (holiday transfers).
    working_weekends: tuple[date, ...] = ()
    # The operator's local time, for what counts as a working day.
    utc_offset: timedelta = timedelta(hours=3)


@dataclass(frozen=True)
class ServiceSettings:
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    linking: LinkingSettings = field(default_factory=LinkingSettings)
    default_currency: str = "RUB"
    default_language: str = "ru"
    languages: tuple[str, ...] = ("ru", "en")
