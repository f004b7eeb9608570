"""Token revocation and login throttling.

``revocations`` holds revoked tokens (by ``jti``, until they expire) and removed subjects (tokens
issued before the removal no longer count); ``login_failures`` counts failed password logins per
user name and per address, for the backoff and temporary lockout of the login page.

Revision ID: 0010_auth_hygiene
Revises: 0009_roles
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_auth_hygiene"
down_revision = "0009_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("revoked", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("failures", sa.BigInteger, nullable=False),
        sa.Column("last_failure", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("revocations")
