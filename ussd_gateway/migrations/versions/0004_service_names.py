"""service names per language

Subscribers see the catalogue in their own language; ``services.name`` stays as the name
shown when a language has none. Number management gets its names in the shipped languages.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_names",
        sa.Column("service_code", sa.String(length=50), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["services.code"],
            name=op.f("fk_service_names_service_code_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_code", "language", name=op.f("pk_service_names")),
    )
    names = sa.table(
        "service_names",
        sa.column("service_code", sa.String),
        sa.column("language", sa.String),
        sa.column("name", sa.String),
    )
    op.bulk_insert(
        names,
        [
            {"service_code": "number_management", "language": "ru",
             "name": "Управление номерами"},
            {"service_code": "number_management", "language": "en",
             "name": "Number management"},
        ],
    )


def downgrade() -> None:
    op.drop_table("service_names")
