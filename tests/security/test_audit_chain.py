"""The audit chain: intact after appends; `ehp audit verify` fails naming the first bad record when
any column of a record is altered, a record is removed or two are swapped, and, given an anchor
recorded earlier, when the tail is cut, the table emptied or the chain recomputed after a deletion.
The table itself refuses UPDATE and DELETE, so every tampering here first disables its triggers,
as only a role that owns the table could."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.exc import DatabaseError

from ehp.security.audit import GENESIS, AuditRecord, chain_hash, record
from ehp.security.schema import audit_events
from ehp.store.database import migrate, open_engine, writer
from tests.servers import database_url

RECORDS = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def audited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with database_url(request.param, tmp_path) as url:
        engine = open_engine(url, pool_size=1)
        migrate(engine)
        for batch in range(3):
            record(
                engine,
                [
                    AuditRecord(
                        {
                            "resourceType": "AuditEvent",
                            "action": "R",
                            "entity": [{"what": {"reference": f"Patient/p{n}"}}],
                        },
                        actor="Practitioner/doc-1",
                        patient=f"p{n}",
                    )
                    for n in range(batch * 4, batch * 4 + 4)
                ],
            )
        try:
            yield url, engine
        finally:
            engine.dispose()


def audit_verify(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ehp.cli", "audit", "verify", "--database", url, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def head_of(url: str) -> str:
    completed = audit_verify(url)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split("head ")[1].split()[-1]


class Tampering:
    """A transaction with the append-only triggers out of the way (as the table's owner could)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> Connection:
        self._context = writer(self.engine).begin()
        connection = self._context.__enter__()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        return connection

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)


def test_intact_chain_verifies_and_prints_its_head(audited: tuple[str, Engine]) -> None:
    url, _ = audited
    completed = audit_verify(url)
    assert completed.returncode == 0, completed.stderr
    assert f"{RECORDS} records" in completed.stdout
    printed = completed.stdout.split("head ")[1].strip()
    assert printed == f"{RECORDS} {head_of(url)}", "printed as 'SEQ HASH', ready for --expect-head"
    assert audit_verify(url, "--expect-head", printed).returncode == 0
    assert audit_verify(url, "--expect-head", head_of(url)).returncode == 0


def test_an_anchor_still_verifies_after_the_chain_grows(audited: tuple[str, Engine]) -> None:
    url, engine = audited
    anchor = head_of(url)
    record(engine, [AuditRecord({"resourceType": "AuditEvent"}, actor="Practitioner/doc-2", patient=None)])
    assert head_of(url) != anchor
    completed = audit_verify(url, "--expect-head", anchor)
    assert completed.returncode == 0, completed.stderr
    assert audit_verify(url, "--expect-head", f"{RECORDS} {anchor}").returncode == 0
    wrong_position = audit_verify(url, "--expect-head", f"{RECORDS - 1} {anchor}")
    assert wrong_position.returncode == 1


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("recorded", 1),
        ("actor", "Practitioner/someone-else"),
        ("patient", "p-other"),
        ("patient", None),
        ("content", b'{"resourceType":"AuditEvent"}'),
        ("prev_hash", "f" * 64),
        ("hash", "e" * 64),
    ],
    ids=["recorded", "actor", "patient", "patient-null", "content", "prev_hash", "hash"],
)
def test_altering_any_column_is_detected(audited: tuple[str, Engine], column: str, value: object) -> None:
    url, engine = audited
    with Tampering(engine) as connection:
        connection.execute(update(audit_events).where(audit_events.c.seq == 5).values({column: value}))
    completed = audit_verify(url)
    assert completed.returncode == 1
    assert "BROKEN at record 5" in completed.stderr or (
        column == "hash" and "BROKEN at record 6" in completed.stderr
    ), completed.stderr


def test_altering_a_column_and_recomputing_its_hash_breaks_the_next_link(audited: tuple[str, Engine]) -> None:
    url, engine = audited
    with Tampering(engine) as connection:
        row = connection.execute(select(audit_events).where(audit_events.c.seq == 5)).one()
        forged = chain_hash(row.prev_hash, 5, row.recorded, "Practitioner/nobody", row.patient, row.content)
        connection.execute(
            update(audit_events)
            .where(audit_events.c.seq == 5)
            .values(actor="Practitioner/nobody", hash=forged)
        )
    completed = audit_verify(url)
    assert completed.returncode == 1
    assert "BROKEN at record 6" in completed.stderr


def _remove(connection: Connection) -> None:
    connection.execute(delete(audit_events).where(audit_events.c.seq == 5))


def _swap(connection: Connection) -> None:
    rows = {
        row.seq: row for row in connection.execute(select(audit_events).where(audit_events.c.seq.in_([5, 6])))
    }
    for seq, other in ((5, 6), (6, 5)):
        source = rows[other]
        connection.execute(
            update(audit_events)
            .where(audit_events.c.seq == seq)
            .values(
                recorded=source.recorded,
                actor=source.actor,
                content=source.content,
                prev_hash=source.prev_hash,
                hash=source.hash,
                patient=source.patient,
            )
        )


@pytest.mark.parametrize("tamper", [_remove, _swap], ids=["removed", "swapped"])
def test_removing_or_reordering_is_detected(
    audited: tuple[str, Engine], tamper: Callable[[Connection], None]
) -> None:
    url, engine = audited
    with Tampering(engine) as connection:
        tamper(connection)
    completed = audit_verify(url)
    assert completed.returncode == 1
    assert "BROKEN at record 5" in completed.stderr


def test_a_cut_tail_is_caught_by_the_anchor(audited: tuple[str, Engine]) -> None:
    url, engine = audited
    anchor = head_of(url)
    with Tampering(engine) as connection:
        connection.execute(delete(audit_events).where(audit_events.c.seq >= RECORDS - 2))
    assert audit_verify(url).returncode == 0
    completed = audit_verify(url, "--expect-head", anchor)
    assert completed.returncode == 1
    assert "not in the chain" in completed.stderr


def test_an_emptied_table_is_caught_by_the_anchor(audited: tuple[str, Engine]) -> None:
    url, engine = audited
    anchor = head_of(url)
    with Tampering(engine) as connection:
        connection.execute(delete(audit_events))
    assert audit_verify(url).returncode == 0
    assert audit_verify(url, "--expect-head", anchor).returncode == 1


def test_a_chain_recomputed_after_a_deletion_is_caught_by_the_anchor(audited: tuple[str, Engine]) -> None:
    url, engine = audited
    anchor = head_of(url)
    with Tampering(engine) as connection:
        kept = connection.execute(
            select(audit_events).where(audit_events.c.seq != 3).order_by(audit_events.c.seq)
        ).all()
        connection.execute(delete(audit_events))
        previous = GENESIS
        for seq, row in enumerate(kept, start=1):
            digest = chain_hash(previous, seq, row.recorded, row.actor, row.patient, row.content)
            connection.execute(
                audit_events.insert().values(
                    seq=seq,
                    recorded=row.recorded,
                    actor=row.actor,
                    patient=row.patient,
                    content=row.content,
                    prev_hash=previous,
                    hash=digest,
                )
            )
            previous = digest
    assert audit_verify(url).returncode == 0
    completed = audit_verify(url, "--expect-head", anchor)
    assert completed.returncode == 1
    assert "rewritten" in completed.stderr


def test_the_anchor_file_is_checked_line_by_line(audited: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = audited
    anchors = tmp_path / "anchors"
    anchors.write_text(f"{RECORDS} {head_of(url)}\n")
    assert audit_verify(url, "--anchors", str(anchors)).returncode == 0
    with Tampering(engine) as connection:
        connection.execute(delete(audit_events).where(audit_events.c.seq == RECORDS))
    assert audit_verify(url, "--anchors", str(anchors)).returncode == 1


def test_a_malformed_anchor_is_refused(audited: tuple[str, Engine]) -> None:
    url, _ = audited
    completed = audit_verify(url, "--expect-head", "not-a-hash")
    assert completed.returncode == 2
    assert "64-digit hex hash" in completed.stderr


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_table_refuses_updates_and_deletes(audited: tuple[str, Engine], statement: str) -> None:
    _, engine = audited
    change = (
        update(audit_events).where(audit_events.c.seq == 1).values(actor="x")
        if statement == "update"
        else delete(audit_events).where(audit_events.c.seq == 1)
    )
    with pytest.raises(DatabaseError, match="append-only"), writer(engine).begin() as connection:
        connection.execute(change)
    with engine.connect() as connection:
        assert connection.execute(select(audit_events.c.actor).where(audit_events.c.seq == 1)).scalar() == (
            "Practitioner/doc-1"
        )


def test_postgresql_refuses_truncate(tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        engine = open_engine(url, pool_size=1)
        try:
            migrate(engine)
            with pytest.raises(DatabaseError, match="append-only"), writer(engine).begin() as connection:
                connection.execute(text("TRUNCATE audit_events"))
        finally:
            engine.dispose()


def test_the_migration_rehashes_an_old_chain(tmp_path: Path) -> None:
    """A store audited under revision 0007's rule verifies after the upgrade."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = open_engine(url, pool_size=1)
    try:
        migrate(engine, "0007_search_plans")
        previous = GENESIS
        with writer(engine).begin() as connection:
            for seq in (1, 2, 3):
                content = b'{"resourceType":"AuditEvent","n":%d}' % seq
                digest = hashlib.sha256(previous.encode() + b"\n%d\n" % seq + content).hexdigest()
                connection.execute(
                    audit_events.insert().values(
                        seq=seq,
                        recorded=seq,
                        actor="admin",
                        patient="p",
                        content=content,
                        prev_hash=previous,
                        hash=digest,
                    )
                )
                previous = digest
        migrate(engine)
    finally:
        engine.dispose()
    completed = audit_verify(url)
    assert completed.returncode == 0, completed.stderr
    assert "3 records" in completed.stdout
