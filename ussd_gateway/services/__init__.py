"""The self-care use cases: passwords, number management, the services catalogue, linking,
balance, SMS outbox.

No HTTP or SMPP here; every method takes canonical MSISDNs (see ussd_gateway.msisdn) and a
``channel`` ("ussd", "web", "operator:<name>") for the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from ussd_gateway.services.balance import BalanceService
from ussd_gateway.services.calendar import WorkingCalendar
from ussd_gateway.services.catalogue import CatalogueService
from ussd_gateway.services.common import Clock, utc_now
from ussd_gateway.services.demo import DEMO_SUBSCRIBERS, seed_demo
from ussd_gateway.services.linking import LinkingService
from ussd_gateway.services.money import format_money
from ussd_gateway.services.numbers import NUMBER_MANAGEMENT, NumberManagementService
from ussd_gateway.services.optional import OptionalServices
from ussd_gateway.services.outbox import OutboxMessage, OutboxService
from ussd_gateway.services.passwords import PasswordService
from ussd_gateway.services.results import (
    AlreadyDisabled,
    AlreadyEnabled,
    ApplicationAccepted,
    ApplicationAlreadyDecided,
    ApplicationApproved,
    ApplicationNotFound,
    ApplicationRefused,
    ApplicationRejected,
    Balance,
    CannotAfford,
    CatalogueEntry,
    ChangeResult,
    Disabled,
    Enabled,
    InsufficientFunds,
    InvalidCredentials,
    LinkApplication,
    LockedOut,
    LoginOk,
    LoginResult,
    NotSubscriber,
    NumberBalance,
    OfferedService,
    PasswordChanged,
    PasswordIssued,
    PasswordRejected,
    PriceInOtherCurrency,
    RateLimited,
    Refusal,
    RefusalReason,
    Subscriber,
    UnknownService,
)
from ussd_gateway.services.sender import OutboxSender
from ussd_gateway.services.settings import (
    LinkingSettings,
    OutboxSettings,
    PasswordSettings,
    ServiceSettings,
)
from ussd_gateway.services.sms import (
    SmsAccepted,
    SmsPermanentFailure,
    SmsSubmitResult,
    SmsTemporaryFailure,
    SmsThrottled,
    SmsTransport,
)
from ussd_gateway.services.subscribers import SubscriberService
from ussd_gateway.store.database import Database, StoreUnavailable

OnSmsQueued = Callable[[], None]


@dataclass(frozen=True)
class SelfCare:
    """All services over one store, built the same way; the gateway and HTTP API use this."""

    subscribers: SubscriberService
    passwords: PasswordService
    numbers: NumberManagementService
    catalogue: CatalogueService
    optional_services: OptionalServices
    balance: BalanceService
    linking: LinkingService
    outbox: OutboxService

    @classmethod
    def create(
        cls,
        db: Database,
        settings: ServiceSettings,
        clock: Clock = utc_now,
        *,
        on_sms_queued: OnSmsQueued | None = None,
    ) -> Self:
        numbers = NumberManagementService(db, settings, clock)
        return cls(
            subscribers=SubscriberService(db, settings, clock),
            passwords=PasswordService(db, settings, clock, on_sms_queued=on_sms_queued),
            numbers=numbers,
            catalogue=CatalogueService(db, settings, clock),
            optional_services=OptionalServices(db, settings, clock, numbers=numbers),
            balance=BalanceService(db, settings, clock),
            linking=LinkingService(db, settings, clock),
            outbox=OutboxService(db, settings, clock, on_sms_queued=on_sms_queued),
        )


__all__ = [
    "DEMO_SUBSCRIBERS",
    "NUMBER_MANAGEMENT",
    "AlreadyDisabled",
    "AlreadyEnabled",
    "ApplicationAccepted",
    "ApplicationAlreadyDecided",
    "ApplicationApproved",
    "ApplicationNotFound",
    "ApplicationRefused",
    "ApplicationRejected",
    "Balance",
    "BalanceService",
    "CannotAfford",
    "CatalogueEntry",
    "CatalogueService",
    "ChangeResult",
    "Clock",
    "Disabled",
    "Enabled",
    "InsufficientFunds",
    "InvalidCredentials",
    "LinkApplication",
    "LinkingService",
    "LinkingSettings",
    "LockedOut",
    "LoginOk",
    "LoginResult",
    "NotSubscriber",
    "NumberBalance",
    "NumberManagementService",
    "OfferedService",
    "OptionalServices",
    "OutboxMessage",
    "OutboxSender",
    "OutboxService",
    "OutboxSettings",
    "PasswordChanged",
    "PasswordIssued",
    "PasswordRejected",
    "PasswordService",
    "PasswordSettings",
    "PriceInOtherCurrency",
    "RateLimited",
    "Refusal",
    "RefusalReason",
    "SelfCare",
    "ServiceSettings",
    "SmsAccepted",
    "SmsPermanentFailure",
    "SmsSubmitResult",
    "SmsTemporaryFailure",
    "SmsThrottled",
    "SmsTransport",
    "StoreUnavailable",
    "Subscriber",
    "SubscriberService",
    "UnknownService",
    "WorkingCalendar",
    "format_money",
    "seed_demo",
    "utc_now",
]
