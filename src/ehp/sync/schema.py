"""The federation tables, on the store's shared metadata (created by migration ``0005_federation``).

A node uses ``sync_cursors`` (``shipped``: the highest local ``seq`` the centre acknowledged;
``feed``: the position in its feed from the centre), ``sync_conflicts``, ``sync_passports`` and
``sync_inbox``. The centre uses ``sync_origins``, ``sync_refused``, ``sync_nodes``,
``sync_followers``, ``sync_deliveries`` and the ``routed`` cursor. See ``docs/federation.md``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from ehp.store.schema import BigId, metadata

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)
"""Named positions in a sequence, moved in the same transaction as the work they account for."""

sync_conflicts = Table(
    "sync_conflicts",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("central_version", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("detected", BigInteger, nullable=False),
)
"""Node: local changes the centre refused, by local ``seq``; for a person to resolve."""

sync_passports = Table(
    "sync_passports",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("after_seq", BigInteger, nullable=False),
    Column("done", Boolean, nullable=False),
    Column("requested", BigInteger, nullable=False),
    Column("finished", BigInteger, nullable=True),
)
"""Node: whole passports to pull from the centre, and how far each pull has come (central ``seq``)."""

sync_inbox = Table(
    "sync_inbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("received", BigInteger, nullable=False),
    Column("patient_id", String(64), nullable=True),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("origin", String(255), nullable=False),
)
"""Node: news about its patients written elsewhere (an ambulance call...), for follow-up."""

sync_origins = Table(
    "sync_origins",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("applied_seq", BigInteger, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)
"""Centre: per origin node, the highest node ``seq`` applied (replays at or below it are skipped)."""

sync_refused = Table(
    "sync_refused",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("central_version", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("refused_at", BigInteger, nullable=False),
)
"""Centre: changes refused as conflicts, reported again when their batch is replayed."""
Index(
    "ix_sync_refused_resource",
    sync_refused.c.node_id,
    sync_refused.c.resource_type,
    sync_refused.c.resource_id,
)

sync_nodes = Table(
    "sync_nodes",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("organizations", Text, nullable=False),
    Column("registered", BigInteger, nullable=False),
)
"""Centre: the nodes and the organisations each serves (a JSON list of ``Organization/ID``)."""

sync_followers = Table(
    "sync_followers",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("node_id", String(64), nullable=False),
    Column("since_seq", BigInteger, nullable=False),
)
"""Centre: the node serving each citizen's current polyclinic, which receives what others write."""

sync_deliveries = Table(
    "sync_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("node_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("patient_id", String(64), nullable=True),
)
"""Centre: each node's feed: a central version to deliver (``change``) or a passport to pull."""
Index("ix_sync_deliveries_node", sync_deliveries.c.node_id, sync_deliveries.c.id)
