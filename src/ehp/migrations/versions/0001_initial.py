"""The versioned resource store, its change sequence and the search index tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _index_table(name: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("rid", sa.BigInteger, nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_rid", name, ["rid"])


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("rid", big_id, primary_key=True, autoincrement=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.UniqueConstraint("resource_type", "id", name="uq_resources_type_id"),
    )
    op.create_index("ix_resources_type_updated", "resources", ["resource_type", "last_updated"])
    op.create_table(
        "resource_versions",
        sa.Column("seq", big_id, primary_key=True, autoincrement=True),
        sa.Column("rid", sa.BigInteger, nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("rid", "version", name="uq_resource_versions_rid_version"),
    )
    op.create_index("ix_resource_versions_type_seq", "resource_versions", ["resource_type", "seq"])
    op.create_index("ix_resource_versions_updated", "resource_versions", ["last_updated"])
    op.create_table(
        "search_params",
        sa.Column("pid", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("code", sa.String(128), nullable=False),
        sa.UniqueConstraint("resource_type", "code", name="uq_search_params_type_code"),
    )
    _index_table("idx_token", sa.Column("system", sa.Text), sa.Column("code", sa.Text))
    op.create_index("ix_idx_token_value", "idx_token", ["pid", "code", "system"])
    _index_table("idx_token_text", sa.Column("text", sa.Text, nullable=False))
    op.create_index("ix_idx_token_text_value", "idx_token_text", ["pid", "text"])
    _index_table(
        "idx_identifier_type",
        sa.Column("type_system", sa.Text),
        sa.Column("type_code", sa.Text),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_idx_identifier_type_value", "idx_identifier_type", ["pid", "value"])
    _index_table(
        "idx_string", sa.Column("norm", sa.Text, nullable=False), sa.Column("exact", sa.Text, nullable=False)
    )
    op.create_index("ix_idx_string_value", "idx_string", ["pid", "norm"])
    _index_table(
        "idx_date",
        sa.Column("low", sa.BigInteger, nullable=False),
        sa.Column("high", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_idx_date_value", "idx_date", ["pid", "low", "high"])
    _index_table(
        "idx_number", sa.Column("low", sa.Float, nullable=False), sa.Column("high", sa.Float, nullable=False)
    )
    op.create_index("ix_idx_number_value", "idx_number", ["pid", "low"])
    _index_table(
        "idx_quantity",
        sa.Column("system", sa.Text),
        sa.Column("code", sa.Text),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
    )
    op.create_index("ix_idx_quantity_value", "idx_quantity", ["pid", "code", "low"])
    _index_table(
        "idx_reference",
        sa.Column("target_type", sa.String(64)),
        sa.Column("target_id", sa.String(64)),
        sa.Column("url", sa.Text),
    )
    op.create_index("ix_idx_reference_target", "idx_reference", ["pid", "target_id", "target_type"])
    op.create_index("ix_idx_reference_reverse", "idx_reference", ["target_type", "target_id"])
    op.create_index("ix_idx_reference_url", "idx_reference", ["pid", "url"])
    _index_table("idx_reference_identifier", sa.Column("system", sa.Text), sa.Column("value", sa.Text))
    op.create_index("ix_idx_reference_identifier_value", "idx_reference_identifier", ["pid", "value"])
    _index_table("idx_uri", sa.Column("uri", sa.Text, nullable=False))
    op.create_index("ix_idx_uri_value", "idx_uri", ["pid", "uri"])


def downgrade() -> None:
    for table in (
        "idx_uri",
        "idx_reference_identifier",
        "idx_reference",
        "idx_quantity",
        "idx_number",
        "idx_date",
        "idx_string",
        "idx_identifier_type",
        "idx_token_text",
        "idx_token",
        "search_params",
        "resource_versions",
        "resources",
    ):
        op.drop_table(table)
