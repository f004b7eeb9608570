"""The audit trail: append-only, hash-chained records of every access.

Each record's ``hash`` is SHA-256 over the previous record's hash, its own sequence number and
its content (an ``AuditEvent`` as JSON). Changing a record breaks its hash; removing or reordering
records breaks the chain (a record's ``prev_hash`` no longer names its predecessor); a removed
tail is caught by comparing the head hash with one recorded elsewhere (``ehp audit verify`` prints
it, and ``--expect-head`` checks it). Appends are serialised (a PostgreSQL advisory lock, or the
SQLite writer lock) so the chain has exactly one order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from ehp.fhir.jsonio import dumps
from ehp.security.schema import audit_events
from ehp.store.bulk import bulk_insert
from ehp.store.clock import now_micros
from ehp.store.database import writer

GENESIS = "0" * 64
AUDIT_LOCK = 727274004
_VERIFY_BATCH = 5000
_COLUMNS = ("seq", "recorded", "actor", "patient", "content", "prev_hash", "hash")


def chain_hash(previous: str, seq: int, content: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(previous.encode())
    digest.update(b"\n%d\n" % seq)
    digest.update(content)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    event: dict[str, Any]
    """The AuditEvent resource."""
    actor: str
    patient: str | None
    """The id of the Patient whose data was touched, for the citizen's access log."""


def append(connection: Connection, records: Sequence[AuditRecord]) -> None:
    """Append records to the chain inside the caller's write transaction."""
    if not records:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({AUDIT_LOCK})")
    last = connection.execute(
        select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
    ).first()
    seq, previous = (last.seq, last.hash) if last is not None else (0, GENESIS)
    rows = []
    recorded = now_micros()
    for record in records:
        seq += 1
        content = dumps(record.event)
        digest = chain_hash(previous, seq, content)
        rows.append((seq, recorded, record.actor, record.patient, content, previous, digest))
        previous = digest
    bulk_insert(connection, audit_events, _COLUMNS, rows)


def record(engine: Engine, records: Sequence[AuditRecord]) -> None:
    """Append records in a transaction of their own."""
    with writer(engine).begin() as connection:
        append(connection, records)


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    head: str
    first_bad: int | None
    """The sequence number of the first record that fails, or ``None`` when the chain holds."""
    problem: str | None


def verify(engine: Engine) -> Verification:
    """Walk the whole chain in order and recompute every hash."""
    previous, expected_seq, count = GENESIS, 1, 0
    with engine.connect() as connection:
        after = 0
        while True:
            rows = connection.execute(
                select(
                    audit_events.c.seq, audit_events.c.content, audit_events.c.prev_hash, audit_events.c.hash
                )
                .where(audit_events.c.seq > after)
                .order_by(audit_events.c.seq)
                .limit(_VERIFY_BATCH)
            ).all()
            if not rows:
                return Verification(count, previous, None, None)
            for row in rows:
                problem = _check(row, previous, expected_seq)
                if problem is not None:
                    return Verification(count, previous, min(row.seq, expected_seq), problem)
                previous, expected_seq, count = row.hash, row.seq + 1, count + 1
            after = rows[-1].seq


def _check(row: Any, previous: str, expected_seq: int) -> str | None:
    if row.seq != expected_seq:
        return f"record {expected_seq} is missing (the next one is {row.seq})"
    if row.prev_hash != previous:
        return f"record {row.seq} does not follow its predecessor (records removed or reordered)"
    if chain_hash(previous, row.seq, bytes(row.content)) != row.hash:
        return f"record {row.seq} was altered (its hash does not match its content)"
    return None


def patient_log(engine: Engine, patient_id: str, limit: int = 100) -> Iterable[bytes]:
    """The AuditEvents about one patient, newest first (for the citizen's access log)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_events.c.content)
            .where(audit_events.c.patient == patient_id)
            .order_by(audit_events.c.seq.desc())
            .limit(limit)
        ).all()
    return [bytes(row.content) for row in rows]
