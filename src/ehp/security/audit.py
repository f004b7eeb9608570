"""The audit trail: append-only, hash-chained records of every access.

Each record's ``hash`` is SHA-256 over every other column of its row: the previous record's hash,
its sequence number, when it was recorded, the actor, the patient whose log shows it, and its
content (an ``AuditEvent`` as JSON). Changing any column of a record breaks its hash; removing or
reordering records breaks the chain (a record's ``prev_hash`` no longer names its predecessor).
What the chain alone cannot show is a cut tail, an emptied table or a chain recomputed after a
deletion: for those a head recorded *outside* the table is the anchor. ``ehp audit verify``
prints the head; ``--expect-head HASH`` then passes only while that hash is still a record of the
intact chain, so an anchor taken earlier keeps verifying on a live server whose chain has grown
since (extended, not replaced); ``--anchors FILE`` checks a file of such ``SEQ HASH`` lines.

Appends are serialised (a PostgreSQL advisory lock, or the SQLite writer lock) so the chain has
exactly one order; the table refuses ``UPDATE`` and ``DELETE`` (and on PostgreSQL ``TRUNCATE``)
through triggers, for every role that has not dropped them (revision ``0008_audit_integrity``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
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
_HEX = re.compile("[0-9a-f]{64}")
_COLUMNS = ("seq", "recorded", "actor", "patient", "content", "prev_hash", "hash")


def chain_hash(
    previous: str, seq: int, recorded: int, actor: str, patient: str | None, content: bytes
) -> str:
    """SHA-256 over every column of a record but its own hash.

    The columns before the content form one JSON array (strings escaped, ``null`` for no
    patient), which ends unambiguously, so two different rows never hash the same bytes."""
    digest = hashlib.sha256()
    digest.update(orjson.dumps([previous, seq, recorded, actor, patient]))
    digest.update(b"\n")
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
    last = head(connection)
    seq, previous = (last.seq or 0, last.hash) if last is not None else (0, GENESIS)
    rows = []
    recorded = now_micros()
    for record in records:
        seq += 1
        content = dumps(record.event)
        digest = chain_hash(previous, seq, recorded, record.actor, record.patient, content)
        rows.append((seq, recorded, record.actor, record.patient, content, previous, digest))
        previous = digest
    bulk_insert(connection, audit_events, _COLUMNS, rows)


def record(engine: Engine, records: Sequence[AuditRecord]) -> None:
    """Append records in a transaction of their own."""
    with writer(engine).begin() as connection:
        append(connection, records)


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head recorded outside the table: the chain must still hold a record with this hash
    (at this sequence number, when known)."""

    hash: str
    seq: int | None = None

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``HASH`` or ``SEQ HASH`` (a line of an anchor file, or what ``verify`` prints)."""
        parts = text.split()
        if len(parts) == 1 and _HEX.fullmatch(parts[0]):
            return cls(parts[0])
        if len(parts) == 2 and parts[0].isdigit() and _HEX.fullmatch(parts[1]):
            return cls(parts[1], int(parts[0]))
        raise ValueError(f"an audit anchor is a 64-digit hex hash, optionally after its seq: '{text}'")


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    head: str
    first_bad: int | None
    """The sequence number of the first record that fails, or ``None`` when the chain holds."""
    problem: str | None


def verify(engine: Engine, anchors: Sequence[Anchor] = ()) -> Verification:
    """Walk the whole chain in order, recompute every hash, and find every anchor in it."""
    previous, expected_seq, count = GENESIS, 1, 0
    missing = {anchor.hash: anchor for anchor in anchors}
    with engine.connect() as connection:
        after = 0
        while True:
            rows = connection.execute(
                select(*(audit_events.c[name] for name in _COLUMNS))
                .where(audit_events.c.seq > after)
                .order_by(audit_events.c.seq)
                .limit(_VERIFY_BATCH)
            ).all()
            if not rows:
                break
            for row in rows:
                problem = _check(row, previous, expected_seq)
                if problem is not None:
                    return Verification(count, previous, min(row.seq, expected_seq), problem)
                anchor = missing.pop(row.hash, None)
                if anchor is not None and anchor.seq not in (None, row.seq):
                    return Verification(
                        count, previous, row.seq, f"anchor {anchor.seq} {anchor.hash} is now record {row.seq}"
                    )
                previous, expected_seq, count = row.hash, row.seq + 1, count + 1
            after = rows[-1].seq
    if missing:
        anchor = min(missing.values(), key=lambda a: a.seq or 0)
        where = f"record {anchor.seq}" if anchor.seq is not None else "the recorded head"
        return Verification(
            count,
            previous,
            anchor.seq or expected_seq,
            f"{where} ({anchor.hash}) is not in the chain: records removed or the chain rewritten",
        )
    return Verification(count, previous, None, None)


def _check(row: Any, previous: str, expected_seq: int) -> str | None:
    if row.seq != expected_seq:
        return f"record {expected_seq} is missing (the next one is {row.seq})"
    if row.prev_hash != previous:
        return f"record {row.seq} does not follow its predecessor (records removed or reordered)"
    digest = chain_hash(previous, row.seq, row.recorded, row.actor, row.patient, bytes(row.content))
    if digest != row.hash:
        return f"record {row.seq} was altered (its hash does not match its columns)"
    return None


def head(connection: Connection) -> Anchor | None:
    """The newest record's sequence number and hash."""
    last = connection.execute(
        select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
    ).first()
    return Anchor(last.hash, last.seq) if last is not None else None


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
