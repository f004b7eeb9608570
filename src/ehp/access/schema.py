"""The access tables, on the store's shared metadata (created by revision 0004_access)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from ehp.store.schema import metadata

break_glass = Table(
    "break_glass",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("actor", String(255), nullable=False),
    Column("patient", String(64), nullable=False),
    Column("organizations", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("opened", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
)
"""Emergency overrides: ``actor`` may see ``patient`` until ``expires`` (microseconds); the
organisations (space-separated ids) the actor worked for, whose privacy officers review it."""
Index("ix_break_glass_actor", break_glass.c.actor, break_glass.c.expires)
Index("ix_break_glass_opened", break_glass.c.opened)
