"""delivery receipts that arrive before their message is recorded as sent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_early_receipts",
        sa.Column("smsc_message_id", sa.String(length=100), nullable=False),
        sa.Column("receipt_state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("smsc_message_id", name=op.f("pk_sms_early_receipts")),
    )


def downgrade() -> None:
    op.drop_table("sms_early_receipts")
