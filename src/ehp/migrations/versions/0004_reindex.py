"""Custom search parameters: the table of ``$reindex`` jobs.

Revision ID: 0004_reindex
Revises: 0003_search
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_reindex"
down_revision = "0003_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reindex_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("types", sa.Text, nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("start_seq", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=True),
        sa.Column("processed", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("started", sa.BigInteger, nullable=True),
        sa.Column("finished", sa.BigInteger, nullable=True),
        sa.Column("heartbeat", sa.BigInteger, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_reindex_jobs_status", "reindex_jobs", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_reindex_jobs_status", "reindex_jobs")
    op.drop_table("reindex_jobs")
