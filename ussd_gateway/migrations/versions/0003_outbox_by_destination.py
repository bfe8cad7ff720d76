"""Outbox index by destination and state.

Issuing a password drops the number's earlier unsent password SMS (destination, purpose,
state = pending): without this index that update scans every pending message, which grows
with the queue exactly when the gateway is busiest. Operator lookups by number use it too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sms_outbox_destination_state", "sms_outbox", ["destination", "state"])


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_destination_state", table_name="sms_outbox")
