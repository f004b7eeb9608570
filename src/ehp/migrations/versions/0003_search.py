"""Full search: composite and word (``_text``/``_content``) index tables, indexes for search plans.

Creates ``idx_composite`` and ``idx_word`` and fills them for the resources already stored; adds
``(resource_type, rid)`` on ``resources`` (keyset pages of one type); on PostgreSQL, rebuilds the
indexes used by prefix searches with ``text_pattern_ops`` (byte-wise prefix ranges).

Revision ID: 0003_search
Revises: 0002_security
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from ehp.fhir.jsonio import loads

revision = "0003_search"
down_revision = "0002_security"
branch_labels = None
depends_on = None

_PATTERN_INDEXES = {
    "ix_idx_token_text_value": ("idx_token_text", "text"),
    "ix_idx_string_value": ("idx_string", "norm"),
    "ix_idx_uri_value": ("idx_uri", "uri"),
}
_BATCH = 500


def _index_table(name: str, *columns: sa.Column[Any]) -> None:
    op.create_table(
        name,
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("rid", sa.BigInteger, nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_rid", name, ["rid"])


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _index_table(
        "idx_composite",
        sa.Column("elem", sa.Integer, nullable=False),
        sa.Column("comp", sa.Integer, nullable=False),
        sa.Column("system", sa.Text),
        sa.Column("code", sa.Text),
        sa.Column("low", sa.Float),
        sa.Column("high", sa.Float),
    )
    op.create_index("ix_idx_composite_value", "idx_composite", ["pid", "comp", "code"])
    _index_table("idx_word", sa.Column("word", sa.Text, nullable=False))
    op.create_index(
        "ix_idx_word_value", "idx_word", ["pid", "word"], postgresql_ops={"word": "text_pattern_ops"}
    )
    op.create_index("ix_resources_type_rid", "resources", ["resource_type", "rid"])
    if postgres:
        for index, (table, column) in _PATTERN_INDEXES.items():
            op.drop_index(index, table)
            op.create_index(index, table, ["pid", column], postgresql_ops={column: "text_pattern_ops"})
    _backfill()


def _backfill() -> None:
    """Composite and word rows for the current versions already stored (written before this revision)."""
    from ehp.index.extract import extract_index

    bind = op.get_bind()
    meta = sa.MetaData()
    resources = sa.Table("resources", meta, autoload_with=bind)
    versions = sa.Table("resource_versions", meta, autoload_with=bind)
    params = sa.Table("search_params", meta, autoload_with=bind)
    composite = sa.Table("idx_composite", meta, autoload_with=bind)
    word = sa.Table("idx_word", meta, autoload_with=bind)
    pids = {(row.resource_type, row.code): row.pid for row in bind.execute(sa.select(params))}
    after = 0
    while True:
        batch = bind.execute(
            sa.select(resources.c.rid, resources.c.resource_type, versions.c.content)
            .join(
                versions,
                sa.and_(versions.c.rid == resources.c.rid, versions.c.version == resources.c.version),
            )
            .where(resources.c.rid > after, resources.c.deleted == sa.false())
            .order_by(resources.c.rid)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        after = batch[-1].rid
        composites: list[dict[str, Any]] = []
        words: list[dict[str, Any]] = []
        for row in batch:
            if row.content is None:
                continue
            rows = extract_index(loads(row.content))
            for code, elem, comp, system, value, low, high in rows.composites:
                pid = pids.get((row.resource_type, code))
                if pid is not None:
                    composites.append(
                        {"pid": pid, "rid": row.rid, "elem": elem, "comp": comp, "system": system}
                        | {"code": value, "low": low, "high": high}
                    )
            for code, text in rows.words:
                pid = pids.get((row.resource_type, code))
                if pid is not None:
                    words.append({"pid": pid, "rid": row.rid, "word": text})
        if composites:
            bind.execute(composite.insert(), composites)
        if words:
            bind.execute(word.insert(), words)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index, (table, column) in _PATTERN_INDEXES.items():
            op.drop_index(index, table)
            op.create_index(index, table, ["pid", column])
    op.drop_index("ix_resources_type_rid", "resources")
    op.drop_table("idx_word")
    op.drop_table("idx_composite")
