"""SMART App Launch 2: confidential apps, launch contexts, refresh tokens.

``app_clients`` learns how an app authenticates at the token endpoint (``none`` for public apps,
``client_secret_basic`` with a scrypt hash of its secret, ``private_key_jwt`` with its JWKS by value
or by URL) and the URL that starts it for an EHR launch; ``authorization_codes`` carry the patient
chosen at authorization and the OpenID Connect ``nonce``. ``launch_contexts`` are the one-time
``launch`` ids of EHR launches (``ehp launch``, the passport page's "open in app");
``refresh_tokens`` are rotated on every use, and a used one presented again ends its whole family.

Revision ID: 0011_smart_apps
Revises: 0010_auth_hygiene
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_smart_apps"
down_revision = "0010_auth_hygiene"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_clients") as table:
        table.add_column(sa.Column("auth_method", sa.String(32), nullable=False, server_default="none"))
        table.add_column(sa.Column("secret_hash", sa.Text, nullable=True))
        table.add_column(sa.Column("jwks", sa.Text, nullable=True))
        table.add_column(sa.Column("jwks_uri", sa.Text, nullable=True))
        table.add_column(sa.Column("launch_uri", sa.Text, nullable=True))
    with op.batch_alter_table("oauth_clients") as table:
        table.add_column(sa.Column("jwks_uri", sa.Text, nullable=True))
    with op.batch_alter_table("authorization_codes") as table:
        table.add_column(sa.Column("patient", sa.String(64), nullable=True))
        table.add_column(sa.Column("nonce", sa.Text, nullable=True))
    op.create_table(
        "launch_contexts",
        sa.Column("launch_hash", sa.String(64), primary_key=True),
        sa.Column("patient", sa.String(64), nullable=False),
        sa.Column("issued_by", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("issued", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.Column("used", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_family", "refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("launch_contexts")
    with op.batch_alter_table("authorization_codes") as table:
        table.drop_column("nonce")
        table.drop_column("patient")
    with op.batch_alter_table("oauth_clients") as table:
        table.drop_column("jwks_uri")
    with op.batch_alter_table("app_clients") as table:
        for column in ("launch_uri", "jwks_uri", "jwks", "secret_hash", "auth_method"):
            table.drop_column(column)
