"""The store's tables, for building queries. Revisions under ``migrations/versions`` create them.

``resources`` holds one row per logical resource (its current version); ``resource_versions``
holds every version and is the store's change sequence: ``seq`` increases in commit order, so
replication can read it as a feed. Search index tables hold the values of the current version,
keyed by the resource's surrogate ``rid`` and the search parameter's ``pid``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

BigId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite only auto-increments an ``INTEGER PRIMARY KEY``."""

resources = Table(
    "resources",
    metadata,
    Column("rid", BigId, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    UniqueConstraint("resource_type", "id", name="uq_resources_type_id"),
)
Index("ix_resources_type_updated", resources.c.resource_type, resources.c.last_updated)
Index("ix_resources_type_rid", resources.c.resource_type, resources.c.rid)

resource_versions = Table(
    "resource_versions",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("rid", BigInteger, nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("content", LargeBinary, nullable=True),
    UniqueConstraint("rid", "version", name="uq_resource_versions_rid_version"),
)
Index("ix_resource_versions_type_seq", resource_versions.c.resource_type, resource_versions.c.seq)
Index("ix_resource_versions_updated", resource_versions.c.last_updated)

search_params = Table(
    "search_params",
    metadata,
    Column("pid", Integer, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("code", String(128), nullable=False),
    UniqueConstraint("resource_type", "code", name="uq_search_params_type_code"),
)


def _index_table(name: str, *columns: Column[object]) -> Table:
    table = Table(
        name,
        metadata,
        Column("pid", Integer, nullable=False),
        Column("rid", BigInteger, nullable=False),
        *columns,
    )
    Index(f"ix_{name}_rid", table.c.rid)
    return table


idx_token = _index_table(
    "idx_token", Column("system", Text, nullable=True), Column("code", Text, nullable=True)
)
# ``rid`` last: a code's rows come from the index alone, in ``rid`` order (revision 0007).
Index("ix_idx_token_value", idx_token.c.pid, idx_token.c.code, idx_token.c.system, idx_token.c.rid)

idx_token_text = _index_table("idx_token_text", Column("text", Text, nullable=False))
# Prefix searches compare bytes (``~>=~``/``~<~`` on PostgreSQL), which needs text_pattern_ops.
_PATTERN = "text_pattern_ops"
Index(
    "ix_idx_token_text_value",
    idx_token_text.c.pid,
    idx_token_text.c.text,
    postgresql_ops={"text": _PATTERN},
)

idx_identifier_type = _index_table(
    "idx_identifier_type",
    Column("type_system", Text, nullable=True),
    Column("type_code", Text, nullable=True),
    Column("value", Text, nullable=False),
)
Index("ix_idx_identifier_type_value", idx_identifier_type.c.pid, idx_identifier_type.c.value)

idx_string = _index_table(
    "idx_string", Column("norm", Text, nullable=False), Column("exact", Text, nullable=False)
)
Index("ix_idx_string_value", idx_string.c.pid, idx_string.c.norm, postgresql_ops={"norm": _PATTERN})

idx_date = _index_table(
    "idx_date", Column("low", BigInteger, nullable=False), Column("high", BigInteger, nullable=False)
)
Index("ix_idx_date_value", idx_date.c.pid, idx_date.c.low, idx_date.c.high)

idx_number = _index_table(
    "idx_number", Column("low", Float, nullable=False), Column("high", Float, nullable=False)
)
Index("ix_idx_number_value", idx_number.c.pid, idx_number.c.low)

idx_quantity = _index_table(
    "idx_quantity",
    Column("system", Text, nullable=True),
    Column("code", Text, nullable=True),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
)
Index("ix_idx_quantity_value", idx_quantity.c.pid, idx_quantity.c.code, idx_quantity.c.low)

idx_reference = _index_table(
    "idx_reference",
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("url", Text, nullable=True),
)
Index(
    "ix_idx_reference_target",
    idx_reference.c.pid,
    idx_reference.c.target_id,
    idx_reference.c.target_type,
    idx_reference.c.rid,
    idx_reference.c.url,
)
Index("ix_idx_reference_reverse", idx_reference.c.target_type, idx_reference.c.target_id)
# Absolute references only: local ones (no url) are found by target (revision 0007).
_ABSOLUTE = text("url IS NOT NULL")
Index(
    "ix_idx_reference_url",
    idx_reference.c.pid,
    idx_reference.c.url,
    sqlite_where=_ABSOLUTE,
    postgresql_where=_ABSOLUTE,
)

idx_reference_identifier = _index_table(
    "idx_reference_identifier",
    Column("system", Text, nullable=True),
    Column("value", Text, nullable=True),
)
Index("ix_idx_reference_identifier_value", idx_reference_identifier.c.pid, idx_reference_identifier.c.value)

idx_uri = _index_table("idx_uri", Column("uri", Text, nullable=False))
Index("ix_idx_uri_value", idx_uri.c.pid, idx_uri.c.uri, postgresql_ops={"uri": _PATTERN})

idx_composite = _index_table(
    "idx_composite",
    Column("elem", Integer, nullable=False),
    Column("comp", Integer, nullable=False),
    Column("system", Text, nullable=True),
    Column("code", Text, nullable=True),
    Column("low", Float, nullable=True),
    Column("high", Float, nullable=True),
)
"""Composite parameters: one row per component value, ``elem`` numbering the element it belongs to."""
Index("ix_idx_composite_value", idx_composite.c.pid, idx_composite.c.comp, idx_composite.c.code)

idx_word = _index_table("idx_word", Column("word", Text, nullable=False))
"""``_text`` and ``_content``: the distinct normalised words of a resource."""
Index("ix_idx_word_value", idx_word.c.pid, idx_word.c.word, postgresql_ops={"word": _PATTERN})

INDEX_TABLES: dict[str, Table] = {
    "tokens": idx_token,
    "token_texts": idx_token_text,
    "identifier_types": idx_identifier_type,
    "strings": idx_string,
    "dates": idx_date,
    "numbers": idx_number,
    "quantities": idx_quantity,
    "references": idx_reference,
    "reference_identifiers": idx_reference_identifier,
    "uris": idx_uri,
    "composites": idx_composite,
    "words": idx_word,
}
"""Index table per field of ``ehp.index.extract.IndexRows``."""

INDEX_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(column.name for column in table.columns) for name, table in INDEX_TABLES.items()
}
"""Column order of each index table: ``pid``, ``rid``, then the row's values after its parameter code."""
