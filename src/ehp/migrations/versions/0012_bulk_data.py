"""FHIR Bulk Data: export and import jobs, their NDJSON files, the files' parts, and the resources
an import put off to a later pass.

Revision ID: 0012_bulk_data
Revises: 0011_smart_apps
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_bulk_data"
down_revision = "0011_smart_apps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("transaction_time", sa.BigInteger, nullable=False),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("processed", sa.BigInteger, nullable=False),
        sa.Column("lease", sa.String(64), nullable=True),
        sa.Column("heartbeat", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("finished", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_bulk_jobs_status", "bulk_jobs", ["status", "heartbeat"])
    op.create_table(
        "bulk_files",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "bulk_chunks",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "bulk_pending",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True),
        sa.Column("input", sa.Integer, nullable=False),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bulk_pending")
    op.drop_table("bulk_chunks")
    op.drop_table("bulk_files")
    op.drop_index("ix_bulk_jobs_status", table_name="bulk_jobs")
    op.drop_table("bulk_jobs")
