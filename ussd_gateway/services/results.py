"""Frozen values the services return; callers match on the type."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum


@dataclass(frozen=True)
class Subscriber:
    msisdn: str
    owner: str
    region: str
    language: str
    status: str


@dataclass(frozen=True)
class NotSubscriber:
    """The number is not an active subscriber of this operator."""


# --- passwords -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PasswordIssued:
    expires_at: datetime
    repeated: bool = False  # the same request resent: the first answer, no new password


@dataclass(frozen=True)
class RateLimited:
    retry_after: timedelta


@dataclass(frozen=True)
class LoginOk:
    # The subscriber logged in with the SMS password, or has never chosen one: send them to
    # "change password" before anything else.
    must_change: bool
    # The passwords' state the login succeeded under: a token carries it and dies with it.
    # Not part of what the outcome *is*, so equality ignores it.
    credential_stamp: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class InvalidCredentials:
    attempts_left: int | None  # None for a number with no password at all


@dataclass(frozen=True)
class LockedOut:
    retry_after: timedelta


@dataclass(frozen=True)
class PasswordChanged:
    pass


@dataclass(frozen=True)
class PasswordRejected:
    reason: str


LoginResult = LoginOk | InvalidCredentials | LockedOut
ChangeResult = PasswordChanged | PasswordRejected | InvalidCredentials | LockedOut


# --- number management -----------------------------------------------------------------------
@dataclass(frozen=True)
class Enabled:
    pass


@dataclass(frozen=True)
class AlreadyEnabled:
    pass


@dataclass(frozen=True)
class Disabled:
    pass


@dataclass(frozen=True)
class AlreadyDisabled:
    pass


# --- balance ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Balance:
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class InsufficientFunds:
    balance: Balance


@dataclass(frozen=True)
class NumberBalance:
    msisdn: str
    balance: Balance


# --- the services catalogue and enabling its services ----------------------------------------
@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    name: str  # shown in a language that has no name of its own
    names: tuple[tuple[str, str], ...]  # (language, name), by language
    connection_price_minor: int  # debited once, when the service is enabled
    monthly_fee_minor: int  # shown to subscribers; not charged by the gateway
    currency: str

    def name_in(self, language: str) -> str:
        return dict(self.names).get(language, self.name)


@dataclass(frozen=True)
class OfferedService:
    """A catalogue service as one number sees it."""

    entry: CatalogueEntry
    enabled: bool


@dataclass(frozen=True)
class UnknownService:
    code: str


@dataclass(frozen=True)
class CannotAfford:
    """The balance does not cover the connection price: nothing was enabled or debited."""

    price: Balance
    balance: Balance


@dataclass(frozen=True)
class PriceInOtherCurrency:
    """The service is priced in a currency the balance is not kept in: nothing was done."""

    price: Balance
    balance: Balance


# --- linking ---------------------------------------------------------------------------------
class RefusalReason(Enum):
    NO_NUMBERS = "no numbers to add"
    DUPLICATE = "listed more than once"
    OWN_NUMBER = "is the applicant's own number"
    NOT_SUBSCRIBER = "is not a subscriber"
    NUMBER_MANAGEMENT_OFF = "does not have number management enabled"
    OTHER_OWNER = "belongs to another person"
    OTHER_REGION = "is in another region"
    ALREADY_LINKED = "is already linked to an account"


@dataclass(frozen=True)
class Refusal:
    msisdn: str
    reason: RefusalReason

    def __str__(self) -> str:
        return f"{self.msisdn} {self.reason.value}"


@dataclass(frozen=True)
class ApplicationAccepted:
    application_id: int
    review_due_at: datetime


@dataclass(frozen=True)
class ApplicationRefused:
    refusals: tuple[Refusal, ...]


@dataclass(frozen=True)
class ApplicationApproved:
    application_id: int
    group_id: int
    added: tuple[str, ...]


@dataclass(frozen=True)
class ApplicationRejected:
    application_id: int
    reason: str


@dataclass(frozen=True)
class ApplicationNotFound:
    application_id: int


@dataclass(frozen=True)
class ApplicationAlreadyDecided:
    application_id: int
    status: str


@dataclass(frozen=True)
class LinkApplication:
    application_id: int
    applicant: str
    region: str
    numbers: tuple[str, ...]
    status: str  # "pending", "approved", "rejected"
    submitted_at: datetime
    review_due_at: datetime
    decision_reason: str | None
