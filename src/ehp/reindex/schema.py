"""The table of reindex jobs, on the store's shared metadata (created by revision ``0004_reindex``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from ehp.store.schema import BigId, metadata

reindex_jobs = Table(
    "reindex_jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),
    Column("types", Text, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("start_seq", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=True),
    Column("processed", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("started", BigInteger, nullable=True),
    Column("finished", BigInteger, nullable=True),
    Column("heartbeat", BigInteger, nullable=False),
    Column("error", Text, nullable=True),
)
"""One row per ``$reindex``: ``status`` queued → running → done | failed; ``types`` (a JSON list)
are re-extracted; ``parameters`` (a JSON list of SearchParameter resources, each ``base`` narrowed
to the types it applies to) are every custom parameter in effect once the job is done;
``start_seq`` is the change sequence when it was created (the catch-up pass starts after it);
times are microseconds since the epoch; ``heartbeat`` moves with every batch."""
Index("ix_reindex_jobs_status", reindex_jobs.c.status, reindex_jobs.c.id)
