"""Audit integrity: the chain hash covers every column, and the table is append-only.

Until this revision a record's hash covered its sequence number and content only, so changing the
``patient``, ``actor`` or ``recorded`` column of a stored record moved an access out of a
citizen's log unnoticed. This revision checks the existing chain under the old rule, then
recomputes every hash under the new one (``ehp.security.audit.chain_hash``), in order, in this
migration's transaction: a chain already broken is not laundered into a valid one; the upgrade
stops and names the record.

Then triggers refuse ``UPDATE`` and ``DELETE`` of ``audit_events`` (and ``TRUNCATE`` on
PostgreSQL) for every database role. A role that owns the table can still drop them, which is what
the external anchor (``ehp audit verify --expect-head``) is for.

Revision ID: 0008_audit_integrity
Revises: 0007_search_plans
Create Date: 2026-12-02
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

from ehp.security.audit import GENESIS, chain_hash

revision = "0008_audit_integrity"
down_revision = "0007_search_plans"
branch_labels = None
depends_on = None

REFUSAL = "audit_events is append-only"
SQLITE_TRIGGERS = {
    "audit_events_no_update": "UPDATE",
    "audit_events_no_delete": "DELETE",
}
POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege';
END $$
"""


def _old_hash(previous: str, seq: int, content: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(previous.encode())
    digest.update(b"\n%d\n" % seq)
    digest.update(content)
    return digest.hexdigest()


REHASH_BATCH = 5000


def _rehash(connection: sa.Connection) -> None:
    """Check the chain under the old rule and re-hash it under the new one, a batch of records at a
    time (a national chain holds hundreds of millions: it is never loaded whole)."""
    old_previous, new_previous, expected, after = GENESIS, GENESIS, 1, 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT seq, recorded, actor, patient, content, prev_hash, hash FROM audit_events "
                "WHERE seq > :after ORDER BY seq LIMIT :batch"
            ),
            {"after": after, "batch": REHASH_BATCH},
        ).all()
        if not rows:
            return
        updates = []
        for row in rows:
            content = bytes(row.content)
            if (
                row.seq != expected
                or row.prev_hash != old_previous
                or _old_hash(old_previous, row.seq, content) != row.hash
            ):
                raise RuntimeError(
                    f"the audit chain is broken at record {expected}; "
                    "it is not re-hashed (see ehp audit verify)"
                )
            digest = chain_hash(new_previous, row.seq, row.recorded, row.actor, row.patient, content)
            updates.append({"seq": row.seq, "prev": new_previous, "digest": digest})
            old_previous, new_previous, expected = row.hash, digest, expected + 1
        connection.execute(
            sa.text("UPDATE audit_events SET prev_hash = :prev, hash = :digest WHERE seq = :seq"), updates
        )
        after = rows[-1].seq


def upgrade() -> None:
    connection = op.get_bind()
    _rehash(connection)
    if connection.dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for name, event in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
