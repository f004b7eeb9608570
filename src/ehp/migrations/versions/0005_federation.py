"""Federation: replication cursors, conflicts, passports to pull, the centre's origins and feeds.

Revision ID: 0005_federation
Revises: 0004_reindex
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_federation"
down_revision = "0004_reindex"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sync_cursors",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sync_conflicts",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("central_version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detected", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sync_passports",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("after_seq", sa.BigInteger, nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("requested", sa.BigInteger, nullable=False),
        sa.Column("finished", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "sync_inbox",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
    )
    op.create_table(
        "sync_origins",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("applied_seq", sa.BigInteger, nullable=False),
        sa.Column("applied_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sync_refused",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("central_version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("refused_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_sync_refused_resource", "sync_refused", ["node_id", "resource_type", "resource_id"])
    op.create_table(
        "sync_nodes",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("organizations", sa.Text, nullable=False),
        sa.Column("registered", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sync_followers",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("since_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sync_deliveries",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_sync_deliveries_node", "sync_deliveries", ["node_id", "id"])


def downgrade() -> None:
    for table in (
        "sync_deliveries",
        "sync_followers",
        "sync_nodes",
        "sync_refused",
        "sync_origins",
        "sync_inbox",
        "sync_passports",
        "sync_conflicts",
        "sync_cursors",
    ):
        op.drop_table(table)
