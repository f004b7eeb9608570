"""A centre on PostgreSQL and three nodes on SQLite, as separate ``ehp serve`` processes on loopback.

Polyclinic ``A`` (north region), polyclinic ``B`` (south region) and ambulance station ``C``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehp.bench.federation import applied_seq, central_server, check_origin, node_server, unsent, wait_for
from ehp.bench.servers import BenchServer
from ehp.fhir.codes import FACILITY_KINDS
from tests.servers import POSTGRES_ADMIN, require_postgres

FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass
class Federation:
    folder: Path
    central_database: str
    centre: BenchServer
    a: BenchServer
    b: BenchServer
    c: BenchServer


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    require_postgres()
    from ehp.bench.servers import throwaway_postgres

    folder = tmp_path_factory.mktemp("federation")
    with throwaway_postgres(POSTGRES_ADMIN) as central_database:
        centre = central_server(central_database, folder)
        centre.start()
        a = node_server("north-a", folder, centre, ["Organization/poly-a"])
        b = node_server("south-b", folder, centre, ["Organization/poly-b"])
        c = node_server("amb-c", folder, centre, ["Organization/amb-c"])
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(BenchServer.start, (a, b, c)))
        try:
            yield Federation(folder, central_database, centre, a, b, c)
        finally:
            for server in (a, b, c, centre):
                server.stop()


def fhir(server: BenchServer) -> httpx.Client:
    return httpx.Client(base_url=server.base + "/", timeout=30, headers=FHIR_JSON)


def put(server: BenchServer, resource: dict[str, Any]) -> dict[str, Any]:
    with fhir(server) as client:
        response = client.put(f"{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text
    stored: dict[str, Any] = response.json()
    return stored


def post(server: BenchServer, path: str, resource: dict[str, Any]) -> dict[str, Any]:
    with fhir(server) as client:
        response = client.post(path, json=resource)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def organization(org_id: str, kind: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": org_id,
        "type": [FACILITY_KINDS[kind][0].concept()],
        "name": f"{kind} {org_id}",
    }


def visit(patient_id: str, organization_id: str, code: str = "AMB") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code},
        "subject": {"reference": f"Patient/{patient_id}"},
        "serviceProvider": {"reference": f"Organization/{organization_id}"},
        "period": {"start": "2026-11-20T09:00:00+05:00"},
    }


def attach(server: BenchServer, patient_id: str, organization_id: str, day: str, reason: str) -> None:
    post(
        server,
        f"Patient/{patient_id}/$attach",
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "organization", "valueReference": {"reference": f"Organization/{organization_id}"}},
                {"name": "date", "valueDate": day},
                {"name": "reason", "valueCode": reason},
            ],
        },
    )


def ehp(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ehp.cli", *arguments], capture_output=True, text=True, timeout=120
    )


def count(server: BenchServer, query: str) -> int:
    with fhir(server) as client:
        response = client.get(query + ("&" if "?" in query else "?") + "_summary=count")
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def readable(server: BenchServer, path: str) -> bool:
    with fhir(server) as client:
        return client.get(path).status_code == 200


def test_visits_survive_an_outage_and_the_passport_follows_the_person(federation: Federation) -> None:
    f = federation
    put(f.a, organization("poly-a", "polyclinic"))
    put(f.b, organization("poly-b", "polyclinic"))
    put(f.c, organization("amb-c", "ambulance"))
    patients = [
        post(f.a, "Patient", {"resourceType": "Patient", "name": [{"family": f"Ахметов{i}"}]})["id"]
        for i in range(4)
    ]
    for patient_id in patients:
        attach(f.a, patient_id, "poly-a", "2024-01-10", "free-choice")
        for _ in range(3):
            post(f.a, "Encounter", visit(patient_id, "poly-a"))
    wait_for(lambda: unsent(f.a.database) == 0, 30, "node A shipping its visits")
    wait_for(lambda: readable(f.centre, "Organization/poly-b"), 30, "node B shipping its organisation")

    f.centre.kill()
    for patient_id in patients:
        for _ in range(2):
            post(f.a, "Encounter", visit(patient_id, "poly-a"))
    renamed = put(f.a, {"resourceType": "Patient", "id": patients[0], "name": [{"family": "Ахметова"}]})
    assert renamed["meta"]["versionId"] == "2"
    status = ehp("sync", "status", "--database", f.a.database)
    assert status.returncode == 0, status.stderr
    assert "unsent 9 " in status.stdout, status.stdout
    time.sleep(1.5)
    f.centre.start()
    wait_for(lambda: unsent(f.a.database) == 0, 60, "node A catching up after the outage")
    check = check_origin(f.a.database, f.central_database, "north-a")
    assert check.identical, check
    assert count(f.centre, "Encounter") == len(patients) * 5, "every visit exactly once"
    assert applied_seq(f.central_database, "north-a") > 0
    central = ehp("sync", "status", "--database", f.central_database)
    assert "node north-a: applied up to its seq" in central.stdout, central.stdout

    moving = patients[0]
    day = datetime.now(UTC).date().isoformat()
    attach(f.centre, moving, "poly-b", day, "change-of-residence")
    wait_for(lambda: count(f.b, f"Encounter?subject=Patient/{moving}") == 5, 30, "the passport arriving at B")
    with fhir(f.b) as client:
        history = client.get(f"Patient/{moving}/_history").json()
    assert [entry["resource"]["meta"]["versionId"] for entry in history["entry"]] == ["2", "1"]
    assert history["entry"][0]["resource"]["meta"]["source"] == "urn:ehp:node:north-a"
    wait_for(
        lambda: count(f.a, f"EpisodeOfCare?patient=Patient/{moving}&status=finished") == 1,
        45,
        "node A learning that its patient left",
    )

    call = post(f.c, "Encounter", visit(moving, "amb-c", "EMER"))
    started = time.monotonic()
    wait_for(lambda: readable(f.b, f"Encounter/{call['id']}"), 15, "the ambulance call reaching B")
    assert time.monotonic() - started < 10
    news = ehp("sync", "news", "--database", f.b.database)
    assert f"Encounter/{call['id']}/_history/1 from urn:ehp:node:amb-c" in news.stdout, news.stdout
    assert not readable(f.a, f"Encounter/{call['id']}"), "the previous polyclinic no longer receives news"
    assert not readable(f.c, f"Patient/{moving}"), "the ambulance station does not receive the passport"

    verify_b = ehp(
        "sync",
        "verify",
        "--database",
        f.b.database,
        "--central",
        f.centre.base,
        "--patient",
        moving,
        "--node-id",
        "south-b",
    )
    assert verify_b.returncode == 0, verify_b.stdout + verify_b.stderr
    assert "0 difference(s)" in verify_b.stdout
    others = [argument for patient_id in patients[1:] for argument in ("--patient", patient_id)]
    as_a = ("--node-id", "north-a")
    verify_a = ehp("sync", "verify", "--database", f.a.database, "--central", f.centre.base, *others, *as_a)
    assert verify_a.returncode == 0, verify_a.stdout + verify_a.stderr
    moved = ehp(
        "sync", "verify", "--database", f.a.database, "--central", f.centre.base, "--patient", moving, *as_a
    )
    assert moved.returncode == 2 and "does not serve" in moved.stderr, "no hashes of a passport that moved on"

    wait_for(lambda: unsent(f.b.database) == 0, 30, "node B shipping")
    assert check_origin(f.b.database, f.central_database, "south-b").identical, "B echoes nothing back"
    assert check_origin(f.c.database, f.central_database, "amb-c").identical


def test_a_conflicting_change_is_refused_and_shown_not_overwritten(federation: Federation) -> None:
    f = federation
    put(f.a, organization("lab-a", "laboratory"))
    wait_for(lambda: readable(f.centre, "Organization/lab-a"), 30, "the organisation reaching the centre")
    at_centre = put(f.centre, organization("lab-a", "laboratory") | {"name": "renamed at the centre"})
    assert at_centre["meta"]["versionId"] == "2"
    put(f.a, organization("lab-a", "laboratory") | {"name": "renamed at A"})
    put(f.a, organization("lab-a", "laboratory") | {"name": "renamed at A again"})
    wait_for(lambda: unsent(f.a.database) == 0, 30, "node A shipping")
    conflicts = ehp("sync", "conflicts", "--database", f.a.database)
    assert "Organization/lab-a/_history/2 (centre has version 2)" in conflicts.stdout, conflicts.stdout
    assert "Organization/lab-a/_history/3" in conflicts.stdout
    assert "2 conflict(s)" in conflicts.stdout
    with fhir(f.centre) as client:
        current = client.get("Organization/lab-a").json()
    assert current["name"] == "renamed at the centre" and current["meta"]["versionId"] == "2"


def test_bad_replication_input_gets_an_operation_outcome_and_writes_nothing(federation: Federation) -> None:
    origin = federation.centre.base.removesuffix("/fhir")
    ndjson = {"Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=origin, timeout=30) as client:
        no_node = client.post("/sync/changes", content=b"", headers=ndjson)
        assert no_node.status_code == 400 and no_node.json()["resourceType"] == "OperationOutcome"
        broken = client.post("/sync/changes?node=x1", content=b'{"seq":1,"type":"Patient"}\n', headers=ndjson)
        assert broken.status_code == 400 and "resource" in broken.text
        line = (
            b'{"seq":1,"type":"Patient","id":"p1","version":1,"lastUpdated":1,"method":"PUT",'
            b'"resource":{"resourceType":"Observation","id":"p1","meta":{"versionId":"1"}}}\n'
        )
        mismatch = client.post("/sync/changes?node=x1", content=line, headers=ndjson)
        assert mismatch.status_code == 400 and "is not a Patient" in mismatch.text
        wrong_type = client.post(
            "/sync/changes?node=x1", content=line, headers={"Content-Type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        paging = client.get("/sync/feed?node=x1&after=minus")
        assert paging.status_code == 400
        stranger = client.get("/sync/passport?node=x1&patient=someone")
        assert stranger.status_code == 403 and "does not serve" in stranger.text
    assert not readable(federation.centre, "Patient/p1")
    assert applied_seq(federation.central_database, "x1") == 0


def _line(seq: int, resource_id: str, version: int, family: str) -> bytes:
    resource = (
        f'{{"resourceType":"Patient","id":"{resource_id}","meta":{{"versionId":"{version}",'
        f'"lastUpdated":"2026-11-27T08:00:00.000Z"}},"name":[{{"family":"{family}"}}]}}'
    )
    header = (
        f'{{"seq":{seq},"type":"Patient","id":"{resource_id}","version":{version},'
        f'"lastUpdated":1764230400000000,"method":"PUT","resource":'
    )
    return (header + resource + "}\n").encode()


def test_a_replayed_batch_is_harmless_and_a_batch_sent_ahead_waits_its_turn(federation: Federation) -> None:
    origin = federation.centre.base.removesuffix("/fhir")
    ndjson = {"Content-Type": "application/x-ndjson"}
    first = _line(1, "replay-1", 1, "Бекова") + _line(2, "replay-1", 2, "Бекова-Ли")
    second = _line(5, "replay-2", 1, "Омаров")
    with httpx.Client(base_url=origin, timeout=30) as client:
        ahead = client.post("/sync/changes?node=x2&after=2", content=second, headers=ndjson)
        assert ahead.status_code == 409, ahead.text
        sent = client.post("/sync/changes?node=x2", content=first, headers=ndjson).json()
        assert (sent["applied"], sent["replayed"], sent["acknowledged"]) == (2, 0, 2)
        again = client.post("/sync/changes?node=x2", content=first, headers=ndjson).json()
        assert (again["applied"], again["replayed"], again["conflicts"]) == (0, 2, [])
        now = client.post("/sync/changes?node=x2&after=2", content=second, headers=ndjson).json()
        assert (now["applied"], now["acknowledged"]) == (1, 5)
    with fhir(federation.centre) as client:
        history = client.get("Patient/replay-1/_history").json()
    assert [entry["resource"]["meta"]["versionId"] for entry in history["entry"]] == ["2", "1"]
    assert history["entry"][0]["resource"]["meta"]["source"] == "urn:ehp:node:x2"
    assert history["entry"][0]["resource"]["meta"]["lastUpdated"] == "2026-11-27T08:00:00.000Z"


def test_an_invalid_replicated_version_is_refused_not_written(federation: Federation) -> None:
    """What the REST API would refuse (here per-1: a period ending before it starts) is refused from
    a node too: recorded as a refusal of that change, the rest of the batch applied."""
    origin = federation.centre.base.removesuffix("/fhir")
    ndjson = {"Content-Type": "application/x-ndjson"}
    invalid = _line(1, "invalid-1", 1, "Нурланова").replace(
        b'"name":[{"family":"\xd0\x9d', b'"name":[{"period":{"start":"2020","end":"2019"},"family":"\xd0\x9d'
    )
    assert b'"period"' in invalid
    batch = invalid + _line(2, "valid-1", 1, "Сейткали")
    with httpx.Client(base_url=origin, timeout=30) as client:
        sent = client.post("/sync/changes?node=x3", content=batch, headers=ndjson)
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["applied"] == 1
    assert [(item["type"], item["id"], "per-1" in item["reason"]) for item in answer["conflicts"]] == [
        ("Patient", "invalid-1", True)
    ]
    assert not readable(federation.centre, "Patient/invalid-1")
    assert readable(federation.centre, "Patient/valid-1")
