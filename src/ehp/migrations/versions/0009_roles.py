"""Roles are data: administrator, privacy officer and analyst are given to a subject of an issuer.

Until this revision a token whose subject was the string ``admin`` was a superuser, from any
issuer (an external identity provider's user named ``admin`` too), and a privacy officer was
whoever held a PractitionerRole coded ``privacy-officer``, which any worker could write for
themselves. Now both come from ``principal_roles`` only, given with ``ehp user add --role``,
``ehp client register --role`` or ``ehp role add``; the subject ``admin`` is an ordinary name.

Revision ID: 0009_roles
Revises: 0008_audit_integrity
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_roles"
down_revision = "0008_audit_integrity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "principal_roles",
        sa.Column("issuer", sa.String(255), primary_key=True),
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(64), primary_key=True),
        sa.Column("organization", sa.String(64), primary_key=True),
        sa.Column("granted", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("principal_roles")
