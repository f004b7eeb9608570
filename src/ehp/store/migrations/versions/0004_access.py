"""Access: the break-the-glass table (emergency access to one patient, reviewed afterwards).

Revision ID: 0004_access
Revises: 0003_search
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_access"
down_revision = "0003_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "break_glass",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("patient", sa.String(64), nullable=False),
        sa.Column("organizations", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("opened", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_break_glass_actor", "break_glass", ["actor", "expires"])
    op.create_index("ix_break_glass_opened", "break_glass", ["opened"])


def downgrade() -> None:
    op.drop_table("break_glass")
