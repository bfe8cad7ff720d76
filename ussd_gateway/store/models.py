"""The account store schema. Money is in integer minor units; times are UTC."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ussd_gateway.store.types import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MSISDN_LEN = 15


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SubscriberRow(Base):
    __tablename__ = "subscribers"

    msisdn: Mapped[str] = mapped_column(String(MSISDN_LEN), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8), default="ru")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BalanceRow(Base):
    __tablename__ = "balances"
    __table_args__ = (CheckConstraint("amount_minor >= 0", name="not_negative"),)

    msisdn: Mapped[str] = mapped_column(
        ForeignKey("subscribers.msisdn", ondelete="CASCADE"), primary_key=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CredentialRow(Base):
    """One row per subscriber: the temporary and the permanent password, and the lockout."""

    __tablename__ = "credentials"

    msisdn: Mapped[str] = mapped_column(
        ForeignKey("subscribers.msisdn", ondelete="CASCADE"), primary_key=True
    )
    temporary_hash: Mapped[str | None] = mapped_column(String(200))
    temporary_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    permanent_hash: Mapped[str | None] = mapped_column(String(200))
    # True until the subscriber has chosen a password of their own (also set for a number
    # newly added to an account group, which must set its own password).
    must_change: Mapped[bool] = mapped_column(Boolean, default=True)
    # Attempts are counted before the hash is checked, so concurrent guesses cannot exceed it.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PasswordIssueRow(Base):
    """Each SMS password issued; the rate limit counts these within its window."""

    __tablename__ = "password_issues"
    __table_args__ = (Index("ix_password_issues_msisdn_at", "msisdn", "issued_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    msisdn: Mapped[str] = mapped_column(ForeignKey("subscribers.msisdn", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(100))
    # Names the request (USSD dialogue + what was dialled), so a resent one is recognised.
    request_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ServiceRow(Base):
    """The catalogue of optional services. Monthly fees are shown, not charged (yet)."""

    __tablename__ = "services"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    connection_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    monthly_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))


class ServiceNameRow(Base):
    """A catalogue service's name in one language (``ServiceRow.name`` is the fallback)."""

    __tablename__ = "service_names"

    service_code: Mapped[str] = mapped_column(
        ForeignKey("services.code", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class EnabledServiceRow(Base):
    __tablename__ = "enabled_services"

    msisdn: Mapped[str] = mapped_column(
        ForeignKey("subscribers.msisdn", ondelete="CASCADE"), primary_key=True
    )
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"), primary_key=True)
    enabled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(100))


class AccountGroupRow(Base):
    """Numbers linked into one personal account."""

    __tablename__ = "account_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GroupMemberRow(Base):
    __tablename__ = "group_members"

    msisdn: Mapped[str] = mapped_column(
        ForeignKey("subscribers.msisdn", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("account_groups.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # "primary" or "member"
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LinkApplicationRow(Base):
    __tablename__ = "link_applications"
    __table_args__ = (Index("ix_link_applications_status_due", "status", "review_due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    applicant: Mapped[str] = mapped_column(ForeignKey("subscribers.msisdn", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(100))
    # "pending", "approved", "rejected"
    status: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    review_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(100))


class LinkApplicationNumberRow(Base):
    __tablename__ = "link_application_numbers"

    application_id: Mapped[int] = mapped_column(
        ForeignKey("link_applications.id", ondelete="CASCADE"), primary_key=True
    )
    msisdn: Mapped[str] = mapped_column(String(MSISDN_LEN), primary_key=True)


class OutboxRow(Base):
    """Every SMS, written before it is sent.

    state: pending -> sending (claimed, lease until ``claimed_until``) -> sent -> delivered |
    undeliverable; or failed (permanent refusal) / expired (too old to be worth sending).
    """

    __tablename__ = "sms_outbox"
    __table_args__ = (
        Index("ix_sms_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_sms_outbox_smsc_message_id", "smsc_message_id"),
        Index("ix_sms_outbox_destination_state", "destination", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    destination: Mapped[str] = mapped_column(String(MSISDN_LEN))
    body: Mapped[str | None] = mapped_column(Text)
    body_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    purpose: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    smsc_message_id: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    receipt_state: Mapped[str | None] = mapped_column(String(16))
    receipt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))


class EarlyReceiptRow(Base):
    """A delivery receipt that arrived before its message was recorded as sent (the SMSC
    can answer submit_sm and report delivery before our commit); applied when it is."""

    __tablename__ = "sms_early_receipts"

    smsc_message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    receipt_state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditRow(Base):
    """Who changed what, when, through which channel. Never holds a password."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_msisdn_at", "msisdn", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    msisdn: Mapped[str | None] = mapped_column(String(MSISDN_LEN))
    channel: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    details: Mapped[str] = mapped_column(Text, default="{}")
