"""Access: the break-the-glass table (emergency access to one patient, reviewed afterwards), the
published grants (the patients each caller may see, for the search filter), and the tables of
SMART App Launch (users, apps, authorization codes).

Revision ID: 0006_access
Revises: 0005_federation
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_access"
down_revision = "0005_federation"
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
    op.create_table(
        "access_grants",
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("patient", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("subject", "patient", name="pk_access_grants"),
    )
    op.create_table(
        "access_grant_digests",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("username", sa.String(128), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "app_clients",
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("redirect_uris", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("challenge", sa.String(128), nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("authorization_codes")
    op.drop_table("app_clients")
    op.drop_table("users")
    op.drop_table("access_grant_digests")
    op.drop_table("access_grants")
    op.drop_table("break_glass")
