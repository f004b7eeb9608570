"""The access tables, on the store's shared metadata (created by revision 0006_access)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text

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

access_grants = Table(
    "access_grants",
    metadata,
    Column("subject", String(255), nullable=False),
    Column("patient", String(64), nullable=False),
    PrimaryKeyConstraint("subject", "patient", name="pk_access_grants"),
)
"""The patients each caller may see, as computed last (see ``ehp.access.policy``): searches test
``EXISTS`` against it row by row, which costs the same for 10 patients or 100,000."""

access_grant_digests = Table(
    "access_grant_digests",
    metadata,
    Column("subject", String(255), primary_key=True),
    Column("digest", String(64), nullable=False),
)
"""SHA-256 of each caller's published patient set: it is rewritten only when it changed."""
