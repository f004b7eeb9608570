"""Custom SearchParameters and ``$reindex``, over HTTP to a server with two worker processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from ehp.bench.servers import BenchServer
from ehp.context import SYSTEM_CONTEXT
from ehp.index.parameters import parameters_for, set_custom_parameters
from ehp.reindex.jobs import STALE_AFTER_MICROS, JobRunning, create_job, read_job
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.reindex.schema import reindex_jobs
from ehp.store.database import migrate, open_engine, writer
from ehp.store.schema import idx_string, idx_token
from tests.conftest import BACKENDS
from tests.servers import database_url

MAIDEN_NAME = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
LAB_FLAG = "http://ehp.kz/fhir/StructureDefinition/lab-flag"
FLAG_SYSTEM = "http://ehp.kz/fhir/CodeSystem/lab-flag"
STRICT = {"Prefer": "handling=strict"}

MAIDEN_NAME_PARAMETER = {
    "resourceType": "SearchParameter",
    "id": "mothers-maiden-name",
    "url": "http://ehp.kz/fhir/SearchParameter/mothers-maiden-name",
    "name": "MothersMaidenName",
    "status": "active",
    "description": "The mother's maiden name",
    "code": "mothers-maiden-name",
    "base": ["Patient"],
    "type": "string",
    "expression": f"Patient.extension('{MAIDEN_NAME}').value.ofType(string)",
}
LAB_FLAG_PARAMETER = {
    "resourceType": "SearchParameter",
    "id": "lab-flag",
    "url": "http://ehp.kz/fhir/SearchParameter/lab-flag",
    "name": "LabFlag",
    "status": "active",
    "description": "The laboratory's urgency flag",
    "code": "lab-flag",
    "base": ["Observation"],
    "type": "token",
    "expression": f"Observation.extension('{LAB_FLAG}').value as CodeableConcept",
}


@pytest.fixture(scope="module", params=BACKENDS)
def two_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BenchServer]:
    """A fresh server of each backend with ``--workers 2``."""
    backend: str = request.param
    folder = tmp_path_factory.mktemp(f"custom-{backend}")
    with database_url(backend, folder) as url, BenchServer(url, folder / "server.log", workers=2) as server:
        yield server


def _patient(identifier: str, maiden_name: str | None) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": identifier, "name": [{"family": identifier}]}
    if maiden_name is not None:
        patient["extension"] = [{"url": MAIDEN_NAME, "valueString": maiden_name}]
    return patient


def _observation(identifier: str, flag: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": identifier,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "extension": [
            {"url": LAB_FLAG, "valueCodeableConcept": {"coding": [{"system": FLAG_SYSTEM, "code": flag}]}}
        ],
    }


def _put(base: str, resource: dict[str, Any]) -> httpx.Response:
    """A PUT on a new connection, so that successive requests reach either worker process."""
    return httpx.put(f"{base}/{resource['resourceType']}/{resource['id']}", json=resource, timeout=30)


def _ids(base: str, query: str, headers: dict[str, str] | None = None) -> list[str]:
    response = httpx.get(f"{base}/{query}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return sorted(
        entry["resource"]["id"]
        for entry in response.json().get("entry", [])
        if entry["search"]["mode"] == "match"
    )


def _status(parameters: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for part in parameters["parameter"]:
        value = next(v for k, v in part.items() if k.startswith("value"))
        if part["name"] in ("type", "parameter"):
            values.setdefault(part["name"], []).append(value)
        else:
            values[part["name"]] = value
    return values


def _reindex(base: str, path: str = "$reindex") -> tuple[str, dict[str, Any]]:
    started = httpx.post(f"{base}/{path}", timeout=30)
    assert started.status_code == 202, started.text
    location = started.headers["Content-Location"]
    assert location.startswith(f"{base}/$reindex?job=")
    return location, _status(started.json())


def _wait_done(location: str) -> tuple[dict[str, Any], list[float]]:
    """Poll the job until it is done; its last status and every percentage seen."""
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = httpx.get(location, timeout=30)
        assert response.status_code == 200, response.text
        status = _status(response.json())
        if "percent" in status:
            seen.append(status["percent"])
        if status["status"] in ("done", "failed"):
            return status, seen
        time.sleep(0.2)
    raise AssertionError(f"the reindex job at {location} did not finish")


def test_custom_parameters_take_effect_after_reindex(two_workers: BenchServer) -> None:
    base = two_workers.base
    for resource in (
        _patient("mother-kz", "Ахметова"),
        _patient("mother-en", "Smith"),
        _patient("no-extension", None),
        _observation("urgent", "urgent"),
        _observation("routine", "routine"),
    ):
        assert _put(base, resource).status_code == 201
    for parameter in (MAIDEN_NAME_PARAMETER, LAB_FLAG_PARAMETER):
        assert _put(base, parameter).status_code == 201

    # Before a reindex the new parameters are unknown: ignored (all patients), or a 400 when strict.
    assert _ids(base, "Patient?mothers-maiden-name=ахмет") == ["mother-en", "mother-kz", "no-extension"]
    refused = httpx.get(f"{base}/Observation?lab-flag=urgent", headers=STRICT)
    assert refused.status_code == 400 and "lab-flag" in refused.text

    location, started = _reindex(base)
    assert started["status"] in ("queued", "running")
    assert sorted(started["type"]) == ["Observation", "Patient"]
    assert sorted(started["parameter"]) == sorted(
        p["url"] for p in (MAIDEN_NAME_PARAMETER, LAB_FLAG_PARAMETER)
    )
    assert httpx.post(f"{base}/$reindex").status_code == 409, "a second job while one runs"
    # Written while the job runs, by either worker: indexed for the new parameters too.
    assert _put(base, _patient("during", "Ахметова-Ким")).status_code == 201
    assert _put(base, _observation("during", "urgent")).status_code == 201

    done, percentages = _wait_done(location)
    assert done["status"] == "done", done
    assert done["processed"] == done["total"] >= 5 and done["percent"] == 100.0
    assert percentages == sorted(percentages)
    assert done["elapsedSeconds"] > 0 and done["finished"] >= done["started"]

    time.sleep(1.2)  # every worker checks the job table at least once a second
    assert _put(base, _patient("after", "ахметова")).status_code == 201
    for _ in range(4):  # new connections: both worker processes answer
        assert _ids(base, "Patient?mothers-maiden-name=ахмет", STRICT) == ["after", "during", "mother-kz"]
        assert _ids(base, "Patient?mothers-maiden-name:exact=Smith", STRICT) == ["mother-en"]
        assert _ids(base, f"Observation?lab-flag={FLAG_SYSTEM}|urgent", STRICT) == ["during", "urgent"]
        assert _ids(base, "Observation?lab-flag:not=urgent", STRICT) == ["routine"]

    # The reindex wrote index rows only, no versions.
    history = httpx.get(f"{base}/Patient/mother-kz/_history").json()
    assert [entry["resource"]["meta"]["versionId"] for entry in history["entry"]] == ["1"]

    # Retired, the parameter leaves at the next reindex of its type; the other type's stays.
    retired = {**MAIDEN_NAME_PARAMETER, "status": "retired"}
    assert _put(base, retired).status_code == 200
    assert _ids(base, "Patient?mothers-maiden-name=ахмет", STRICT) == ["after", "during", "mother-kz"]
    location, started = _reindex(base, "Patient/$reindex")
    assert started["type"] == ["Patient"] and started["parameter"] == [LAB_FLAG_PARAMETER["url"]]
    assert _wait_done(location)[0]["status"] == "done"
    time.sleep(1.2)
    for _ in range(3):
        assert httpx.get(f"{base}/Patient?mothers-maiden-name=ахмет", headers=STRICT).status_code == 400
        assert _ids(base, "Observation?lab-flag=urgent", STRICT) == ["during", "urgent"]

    latest = _status(httpx.get(f"{base}/$reindex").json())
    assert latest["status"] == "done" and latest["type"] == ["Patient"]
    _check_a_new_process_loads_them(two_workers.database)
    statement = httpx.get(f"{base}/metadata").json()
    assert {"name": "reindex", "definition": "http://ehp.kz/fhir/OperationDefinition/reindex"} in statement[
        "rest"
    ][0]["operation"]
    [observation] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Observation"]
    assert "lab-flag" in {p["name"] for p in observation["searchParam"]}


def _check_a_new_process_loads_them(database: str) -> None:
    """What a restarted server does at start-up (``create_app``), here in the test process."""
    store = open_store(open_engine(database))
    try:
        register_search_parameters(store)
        assert parameters_for("Observation")["lab-flag"].url == LAB_FLAG_PARAMETER["url"]
        assert "mothers-maiden-name" not in parameters_for("Patient")
        # The retired parameter's index rows are deleted shortly after its job.
        retired = select(func.count()).where(
            idx_string.c.pid == store.params.pid("Patient", "mothers-maiden-name")
        )
        flagged = select(func.count()).where(idx_token.c.pid == store.params.pid("Observation", "lab-flag"))
        deadline = time.monotonic() + 10
        while store.reader(SYSTEM_CONTEXT).query(retired)[0][0] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.reader(SYSTEM_CONTEXT).query(retired)[0][0] == 0
        assert store.reader(SYSTEM_CONTEXT).query(flagged)[0][0] == 3
    finally:
        set_custom_parameters([], [])
        store.engine.dispose()


@pytest.mark.parametrize(
    ("name", "change", "expression", "message"),
    [
        ("syntax", {"expression": "Patient.name.where("}, "SearchParameter.expression", "does not compile"),
        ("function", {"expression": "Patient.name.frobnicate()"}, "SearchParameter.expression", "frobnicate"),
        ("official", {"code": "family"}, "SearchParameter.code", "official search parameter 'family'"),
        ("composite", {"type": "composite"}, "SearchParameter.type", "cannot be indexed"),
        ("abstract", {"base": ["DomainResource"]}, "SearchParameter.base", "not a concrete resource type"),
        (
            "taken",
            {"code": "lab-flag", "base": ["Observation"], "expression": "Observation.status"},
            "SearchParameter.code",
            "SearchParameter/lab-flag",
        ),
    ],
)
def test_a_custom_parameter_that_cannot_be_applied_is_refused(
    two_workers: BenchServer, name: str, change: dict[str, Any], expression: str, message: str
) -> None:
    base = two_workers.base
    assert _put(base, LAB_FLAG_PARAMETER).status_code in (200, 201)
    bad = {**MAIDEN_NAME_PARAMETER, "id": f"bad-{name}", "url": f"http://ehp.kz/fhir/SearchParameter/{name}"}
    response = _put(base, {**bad, **change})
    assert response.status_code == 422, response.text
    [issue] = response.json()["issue"]
    assert issue["expression"] == [expression] and message in issue["diagnostics"]
    assert httpx.get(f"{base}/SearchParameter/bad-{name}").status_code == 404, "nothing was written"
    # A draft is a document only: stored without these checks, and never applied.
    assert _put(base, {**bad, **change, "status": "draft"}).status_code == 201


def test_reindex_requests_that_are_refused(two_workers: BenchServer) -> None:
    base = two_workers.base
    assert httpx.get(f"{base}/$reindex?job=999999").status_code == 404
    assert httpx.get(f"{base}/$reindex?job=abc").status_code == 400
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Parameters"}, "request": {"method": "POST", "url": "$reindex"}}
        ],
    }
    inside = httpx.post(base, json=bundle, timeout=30)
    assert inside.status_code == 400 and "transaction" in inside.text
    unknown = httpx.post(f"{base}/$reindex?type=Observation,Nonsense", timeout=30)
    assert unknown.status_code == 400 and "Nonsense" in unknown.text


def test_reindex_of_the_types_named_in_a_parameters_body(two_workers: BenchServer) -> None:
    base = two_workers.base
    body = {"resourceType": "Parameters", "parameter": [{"name": "type", "valueCode": "Observation"}]}
    started = httpx.post(f"{base}/$reindex", json=body, timeout=30)
    assert started.status_code == 202, started.text
    done, _ = _wait_done(started.headers["Content-Location"])
    assert done["status"] == "done" and done["type"] == ["Observation"]
    assert done["parameter"] == [LAB_FLAG_PARAMETER["url"]] and done["total"] == done["processed"] == 3
    assert _ids(base, "Observation?lab-flag=routine", STRICT) == ["routine"]


def test_a_job_left_by_a_stopped_process_does_not_block_the_next(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'ehp.db'}")
    migrate(engine)
    try:
        with writer(engine).begin() as connection:
            left = create_job(connection, ["Patient"], [])
            with pytest.raises(JobRunning) as running:
                create_job(connection, ["Patient"], [])
            assert running.value.job_id == left.id
            connection.execute(
                update(reindex_jobs).values(heartbeat=reindex_jobs.c.heartbeat - STALE_AFTER_MICROS - 1)
            )
            following = create_job(connection, ["Patient"], [])
            abandoned = read_job(connection, left.id)
        assert following.status == "queued" and following.id > left.id
        assert (
            abandoned is not None and abandoned.status == "failed" and "abandoned" in (abandoned.error or "")
        )
    finally:
        engine.dispose()
