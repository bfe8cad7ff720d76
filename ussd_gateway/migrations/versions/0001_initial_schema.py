"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 06:38:01.536754
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_groups")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_msisdn_at", "audit_log", ["msisdn", "at"])
    op.create_table(
        "services",
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("connection_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("monthly_fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_services")),
    )
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("destination", sa.String(length=15), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("body_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("purpose", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("smsc_message_id", sa.String(length=100), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("receipt_state", sa.String(length=16), nullable=True),
        sa.Column("receipt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
    )
    op.create_index("ix_sms_outbox_smsc_message_id", "sms_outbox", ["smsc_message_id"])
    op.create_index("ix_sms_outbox_state_next", "sms_outbox", ["state", "next_attempt_at"])
    op.create_table(
        "subscribers",
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_subscribers")),
    )
    op.create_table(
        "balances",
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_balances_not_negative")),
        sa.ForeignKeyConstraint(
            ["msisdn"],
            ["subscribers.msisdn"],
            name=op.f("fk_balances_msisdn_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_balances")),
    )
    op.create_table(
        "credentials",
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("temporary_hash", sa.String(length=200), nullable=True),
        sa.Column("temporary_expires_at", sa.DateTime(), nullable=True),
        sa.Column("permanent_hash", sa.String(length=200), nullable=True),
        sa.Column("must_change", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["msisdn"],
            ["subscribers.msisdn"],
            name=op.f("fk_credentials_msisdn_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_credentials")),
    )
    op.create_table(
        "enabled_services",
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("service_code", sa.String(length=50), nullable=False),
        sa.Column("enabled_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["msisdn"],
            ["subscribers.msisdn"],
            name=op.f("fk_enabled_services_msisdn_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["services.code"],
            name=op.f("fk_enabled_services_service_code_services"),
        ),
        sa.PrimaryKeyConstraint("msisdn", "service_code", name=op.f("pk_enabled_services")),
    )
    op.create_table(
        "group_members",
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["account_groups.id"],
            name=op.f("fk_group_members_group_id_account_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["msisdn"],
            ["subscribers.msisdn"],
            name=op.f("fk_group_members_msisdn_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_group_id"), "group_members", ["group_id"])
    op.create_table(
        "link_applications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("applicant", sa.String(length=15), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("review_due_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["applicant"],
            ["subscribers.msisdn"],
            name=op.f("fk_link_applications_applicant_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_applications")),
    )
    op.create_index(
        "ix_link_applications_status_due", "link_applications", ["status", "review_due_at"]
    )
    op.create_table(
        "password_issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["msisdn"],
            ["subscribers.msisdn"],
            name=op.f("fk_password_issues_msisdn_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_issues")),
    )
    op.create_index("ix_password_issues_msisdn_at", "password_issues", ["msisdn", "issued_at"])
    op.create_table(
        "link_application_numbers",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["link_applications.id"],
            name=op.f("fk_link_application_numbers_application_id_link_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "application_id", "msisdn", name=op.f("pk_link_application_numbers")
        ),
    )

    services = sa.table(
        "services",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("connection_price_minor", sa.BigInteger),
        sa.column("monthly_fee_minor", sa.BigInteger),
        sa.column("currency", sa.String),
    )
    op.bulk_insert(
        services,
        [
            {
                "code": "number_management",
                "name": "Number management",
                "connection_price_minor": 0,
                "monthly_fee_minor": 0,
                "currency": "RUB",
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("link_application_numbers")
    op.drop_index("ix_password_issues_msisdn_at", table_name="password_issues")
    op.drop_table("password_issues")
    op.drop_index("ix_link_applications_status_due", table_name="link_applications")
    op.drop_table("link_applications")
    op.drop_index(op.f("ix_group_members_group_id"), table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("enabled_services")
    op.drop_table("credentials")
    op.drop_table("balances")
    op.drop_table("subscribers")
    op.drop_index("ix_sms_outbox_state_next", table_name="sms_outbox")
    op.drop_index("ix_sms_outbox_smsc_message_id", table_name="sms_outbox")
    op.drop_table("sms_outbox")
    op.drop_table("services")
    op.drop_index("ix_audit_log_msisdn_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("account_groups")
