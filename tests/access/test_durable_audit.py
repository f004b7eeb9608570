"""A read's audit record is stored before its response leaves: ``kill -9`` loses none.

Clients stream authenticated reads (by id, searches, ``$everything``) from several threads; the
server is killed with SIGKILL mid-stream. After a restart on the same database, every response a
client received (named by its ``X-Request-Id``) must have its AuditEvent in the chain, attributed
to the patient it disclosed, and the chain must still verify.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from ehp.bench.servers import BenchServer
from ehp.security.schema import audit_events
from ehp.store.database import open_engine
from tests.access.conftest import World, _put, give_world_roles, world_resources
from tests.servers import database_url

READERS = 6
READS = (
    ("Observation/obs-P", "pat-P"),
    ("Patient/pat-K", "pat-K"),
    ("Observation?patient=Patient/pat-P", "pat-P"),
    ("Patient/pat-P/$everything", "pat-P"),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


def _world(url: str, log: Path) -> BenchServer:
    server = BenchServer(url, log, auth="required")
    server.start()
    return server


def _stream(
    world: World, received: list[tuple[str, str]], failures: list[str], stop: threading.Event
) -> None:
    """Doctor A (attached polyclinic of P and K) reads until the server dies."""
    with world.client("Practitioner/doc-A", "user/*.rs") as client:
        number = 0
        while not stop.is_set():
            path, patient = READS[number % len(READS)]
            number += 1
            try:
                response = client.get(path)
            except httpx.TransportError:
                return
            if response.status_code != 200:
                failures.append(f"{path}: {response.status_code} {response.text[:300]}")
                return
            received.append((response.headers["x-request-id"], patient))


def test_every_received_read_is_audited_after_kill_9(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchors = tmp_path / "anchors.txt"
    monkeypatch.setenv("EHP_AUDIT_ANCHOR", str(anchors))
    server = _world(database, tmp_path / "server.log")
    try:
        world = World(server, give_world_roles(database))
        with world.client("admin", "system/*.cruds") as admin:
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [_put(r) for r in world_resources()],
            }
            assert admin.post("", json=bundle).status_code == 200
        received: list[tuple[str, str]] = []
        failures: list[str] = []
        stop = threading.Event()
        readers = [
            threading.Thread(target=_stream, args=(world, received, failures, stop)) for _ in range(READERS)
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 60
        while len(received) < 200 and time.monotonic() < deadline and not failures:
            time.sleep(0.05)
        server.kill()
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
    finally:
        server.stop()
    assert not failures, failures
    assert len(received) >= 200, f"only {len(received)} reads answered before the kill"

    restarted = _world(database, tmp_path / "restarted.log")
    restarted.stop()
    engine = open_engine(database, pool_size=1)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(audit_events.c.patient, audit_events.c.content)).all()
    finally:
        engine.dispose()
    audited: dict[str, set[str]] = {}
    for row in stored:
        event = orjson.loads(row.content)
        request_id = event["id"].rsplit("-", 1)[0]
        if event["outcome"] == "0" and row.patient is not None:
            audited.setdefault(request_id, set()).add(row.patient)
    missing = [
        (request_id, patient)
        for request_id, patient in received
        if patient not in audited.get(request_id, ())
    ]
    assert not missing, (
        f"{len(missing)} of {len(received)} received reads have no audit record: {missing[:5]}"
    )
    lines = anchors.read_text().splitlines()
    assert lines, "the server anchored the chain's head outside the database"
    assert int(lines[-1].split()[0]) <= len(stored)
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "ehp.cli",
            "audit",
            "verify",
            "--database",
            database,
            "--anchors",
            str(anchors),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


REFUSE_SQLITE = (
    "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk full'); END"
)
REFUSE_POSTGRES = (
    "CREATE FUNCTION audit_refused() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
    "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_refused()",
)


def test_a_read_whose_audit_cannot_be_stored_is_refused_not_answered(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EHP_AUDIT_WAIT_SECONDS", "1")
    server = _world(database, tmp_path / "server.log")
    engine = open_engine(database, pool_size=1)
    try:
        world = World(server, give_world_roles(database))
        with world.client("admin", "system/*.cruds") as admin:
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [_put(r) for r in world_resources()],
            }
            assert admin.post("", json=bundle).status_code == 200
        with engine.begin() as connection:
            for statement in (REFUSE_SQLITE,) if database.startswith("sqlite") else REFUSE_POSTGRES:
                connection.exec_driver_sql(statement)
        with world.client("Practitioner/doc-A", "user/*.rs") as doctor:
            refused = doctor.get("Observation/obs-P")
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["issue"][0]["code"] == "transient"
            assert "obs-P" not in refused.text
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "DROP TRIGGER audit_refused"
                    + ("" if database.startswith("sqlite") else " ON audit_events")
                )
            answered = doctor.get("Observation/obs-P")
            assert answered.status_code == 200, answered.text
            assert answered.json()["id"] == "obs-P"
    finally:
        engine.dispose()
        server.stop()
