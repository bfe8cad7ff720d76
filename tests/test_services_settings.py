"""Settings refuse values that would break a rule, naming the key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ussd_gateway.services import (
    LinkingSettings,
    OutboxSettings,
    PasswordSettings,
    ServiceSettings,
)


def test_the_defaults_are_valid() -> None:
    settings = ServiceSettings()
    assert settings.passwords.rate_limit_count == 3
    assert settings.passwords.rate_limit_window == timedelta(hours=1)
    assert settings.linking.review_working_days == 2


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda: PasswordSettings(length=4), "passwords.length"),
        (lambda: PasswordSettings(alphabet="abc"), "passwords.alphabet"),
        (lambda: PasswordSettings(rate_limit_count=0), "passwords.rate_limit_count"),
        (lambda: PasswordSettings(lockout=timedelta(0)), "passwords.lockout"),
        (lambda: PasswordSettings(sms_templates=(("ru", "no placeholder"),)),
         "passwords.sms_templates"),
        (lambda: OutboxSettings(lease=timedelta(seconds=5)), "outbox.lease"),
        (lambda: OutboxSettings(retry_max=timedelta(0)), "outbox.retry_max"),
        (lambda: LinkingSettings(weekend=(0, 1, 2, 3, 4, 5, 6)), "linking.weekend"),
        (lambda: LinkingSettings(weekend=(7,)), "linking.weekend"),
        (lambda: ServiceSettings(default_language="de"), "default_language"),
        (lambda: ServiceSettings(default_currency="rub"), "default_currency"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(make: Any, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        make()
