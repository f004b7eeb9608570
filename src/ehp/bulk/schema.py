"""The tables of bulk jobs and their files, on the store's shared metadata (revision ``0012_bulk_data``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text

from ehp.store.schema import metadata

bulk_jobs = Table(
    "bulk_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("context", Text, nullable=False),
    Column("request", Text, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("transaction_time", BigInteger, nullable=False),
    Column("cursor", Text, nullable=False),
    Column("processed", BigInteger, nullable=False),
    Column("lease", String(64), nullable=True),
    Column("heartbeat", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("finished", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
)
"""One row per bulk job: ``status`` queued → running → done | failed (or cancelled, its files
gone); ``context`` (JSON) is the kick-off's caller (actor, scopes, roles, patient in context), whose
access decision the job runs under; ``parameters`` (JSON) what it exports; ``cursor`` (JSON) where
it stands, committed with each chunk it writes, so a job taken over after a crash goes on from
there without writing anything twice; ``lease`` names the server process running it, which moves
``heartbeat`` (microseconds) as it goes."""
Index("ix_bulk_jobs_status", bulk_jobs.c.status, bulk_jobs.c.heartbeat)

bulk_files = Table(
    "bulk_files",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("count", BigInteger, nullable=False),
)
"""A job's output (``kind`` output or error) files: NDJSON of one resource type each."""

bulk_chunks = Table(
    "bulk_chunks",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
"""A file's bytes, in parts of about a megabyte: written one by one as the job goes and read one by
one as the file is downloaded, so neither holds a whole file in memory. In the database, the files
are shared by every server process and kept across restarts."""

bulk_pending = Table(
    "bulk_pending",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("number", BigInteger, primary_key=True),
    Column("input", Integer, nullable=False),
    Column("line", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)
"""An import's resources put off to a later pass: a conditional reference that found nothing yet
(its target may come in a later file). Written with the batch that put them off."""
