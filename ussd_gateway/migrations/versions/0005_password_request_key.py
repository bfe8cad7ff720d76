"""Password issues remember the request that asked for them.

A USSD centre that resends a request (its answer was late, or it went to another instance)
must get the first answer, not a second password and SMS: the issue row names the request
(the dialogue and what was dialled), checked under the subscriber's row lock.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("password_issues") as batch:
        batch.add_column(sa.Column("request_key", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("password_issues") as batch:
        batch.drop_column("request_key")
