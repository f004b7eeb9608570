"""The audit chain: intact after appends; `ehp audit verify` fails naming the first bad record when a
row is altered, removed or two rows are swapped directly in the database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update

from ehp.security.audit import AuditRecord, record
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


def test_intact_chain_verifies_and_prints_its_head(audited: tuple[str, Engine]) -> None:
    url, _ = audited
    completed = audit_verify(url)
    assert completed.returncode == 0, completed.stderr
    assert f"{RECORDS} records" in completed.stdout
    head = completed.stdout.split("head ")[1].strip()
    assert audit_verify(url, "--expect-head", head).returncode == 0


def _alter(engine: Engine) -> None:
    with writer(engine).begin() as connection:
        connection.execute(
            update(audit_events)
            .where(audit_events.c.seq == 5)
            .values(content=b'{"resourceType":"AuditEvent"}')
        )


def _remove(engine: Engine) -> None:
    with writer(engine).begin() as connection:
        connection.execute(delete(audit_events).where(audit_events.c.seq == 5))


def _swap(engine: Engine) -> None:
    with writer(engine).begin() as connection:
        rows = {
            row.seq: row
            for row in connection.execute(select(audit_events).where(audit_events.c.seq.in_([5, 6])))
        }
        for seq, other in ((5, 6), (6, 5)):
            source = rows[other]
            connection.execute(
                update(audit_events)
                .where(audit_events.c.seq == seq)
                .values(
                    content=source.content,
                    prev_hash=source.prev_hash,
                    hash=source.hash,
                    patient=source.patient,
                )
            )


@pytest.mark.parametrize("tamper", [_alter, _remove, _swap], ids=["altered", "removed", "swapped"])
def test_tampering_is_detected(audited: tuple[str, Engine], tamper: Callable[[Engine], None]) -> None:
    url, engine = audited
    tamper(engine)
    completed = audit_verify(url)
    assert completed.returncode == 1
    assert "BROKEN at record 5" in completed.stderr


def test_a_removed_tail_is_caught_by_the_recorded_head(audited: tuple[str, Engine]) -> None:
    url, engine = audited
    head = audit_verify(url).stdout.split("head ")[1].strip()
    with writer(engine).begin() as connection:
        connection.execute(delete(audit_events).where(audit_events.c.seq == RECORDS))
    assert audit_verify(url).returncode == 0
    completed = audit_verify(url, "--expect-head", head)
    assert completed.returncode == 1
    assert "records removed" in completed.stderr
