"""batch and transaction Bundles over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import orjson


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(full_url: str, resource: dict[str, Any], **request: str) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def observation(subject: str, value: str = "7.0") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": float(value), "unit": "%"},
    }


def test_transaction_resolves_urn_uuid_references(fhir: httpx.Client) -> None:
    patient_urn = urn()
    bundle = transaction(
        post(urn(), observation(patient_urn)),
        post(patient_urn, {"resourceType": "Patient", "gender": "female"}),
    )
    response = fhir.post("", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    observation_entry, patient_entry = result["entry"]
    assert patient_entry["response"]["status"].startswith("201")
    patient_id = patient_entry["resource"]["id"]
    assert observation_entry["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert patient_entry["response"]["location"] == f"Patient/{patient_id}/_history/1"
    stored = fhir.get(observation_entry["response"]["location"].rsplit("/_history", 1)[0]).json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"


def test_transaction_is_all_or_nothing(fhir: httpx.Client) -> None:
    kept_id = f"tx-{uuid.uuid4().hex[:12]}"
    bundle = transaction(
        {
            "resource": {"resourceType": "Patient", "id": kept_id},
            "request": {"method": "PUT", "url": f"Patient/{kept_id}"},
        },
        post(urn(), {"resourceType": "Patient", "gender": "not-a-gender"}),
    )
    response = fhir.post("", json=bundle)
    assert response.status_code == 422
    assert "entry 1" in response.json()["issue"][0]["diagnostics"]
    assert fhir.get(f"Patient/{kept_id}").status_code == 404


def test_transaction_processing_order_and_reads_see_writes(fhir: httpx.Client) -> None:
    pid = f"tx-{uuid.uuid4().hex[:12]}"
    fhir.put(f"Patient/{pid}", json={"resourceType": "Patient", "id": pid, "gender": "male"})
    bundle = transaction(
        {"request": {"method": "GET", "url": f"Patient/{pid}"}},
        {
            "resource": {"resourceType": "Patient", "id": pid, "gender": "female"},
            "request": {"method": "PUT", "url": f"Patient/{pid}"},
        },
    )
    result = fhir.post("", json=bundle).json()
    read_entry, put_entry = result["entry"]
    assert put_entry["response"]["status"] == "200 OK"
    assert read_entry["resource"]["gender"] == "female"
    assert read_entry["resource"]["meta"]["versionId"] == "2"


def test_transaction_conditional_create_and_conditional_reference(fhir: httpx.Client) -> None:
    system, value = "http://ehp.example/test-ids", uuid.uuid4().hex
    existing = fhir.post(
        "Patient", json={"resourceType": "Patient", "identifier": [{"system": system, "value": value}]}
    ).json()
    patient_urn = urn()
    bundle = transaction(
        post(
            patient_urn,
            {"resourceType": "Patient", "identifier": [{"system": system, "value": value}]},
            ifNoneExist=f"identifier={system}|{value}",
        ),
        post(urn(), observation(patient_urn)),
        post(urn(), observation(f"Patient?identifier={system}|{value}")),
    )
    result = fhir.post("", json=bundle).json()
    assert result["entry"][0]["response"]["status"] == "200 OK"
    for entry in result["entry"][1:]:
        assert entry["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    missing = transaction(post(urn(), observation(f"Patient?identifier={system}|no-such-{value}")))
    assert fhir.post("", json=missing).status_code == 412


def test_transaction_refuses_two_entries_for_one_resource(fhir: httpx.Client) -> None:
    pid = f"tx-{uuid.uuid4().hex[:12]}"
    entry = {
        "resource": {"resourceType": "Patient", "id": pid},
        "request": {"method": "PUT", "url": f"Patient/{pid}"},
    }
    response = fhir.post("", json=transaction(entry, entry))
    assert response.status_code == 400
    assert fhir.get(f"Patient/{pid}").status_code == 404


def test_transaction_stale_if_match_rolls_back(fhir: httpx.Client) -> None:
    pid = f"tx-{uuid.uuid4().hex[:12]}"
    fhir.put(f"Patient/{pid}", json={"resourceType": "Patient", "id": pid})
    fhir.put(f"Patient/{pid}", json={"resourceType": "Patient", "id": pid, "gender": "male"})
    new_urn = urn()
    bundle = transaction(
        post(new_urn, {"resourceType": "Patient"}),
        {
            "resource": {"resourceType": "Patient", "id": pid},
            "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"1"'},
        },
    )
    assert fhir.post("", json=bundle).status_code == 412
    assert fhir.get(f"Patient/{pid}").json()["meta"]["versionId"] == "2"


def test_transaction_patch_delete_and_json_patch_binary(fhir: httpx.Client) -> None:
    keep, drop = (f"tx-{uuid.uuid4().hex[:12]}" for _ in range(2))
    for pid in (keep, drop):
        fhir.put(f"Patient/{pid}", json={"resourceType": "Patient", "id": pid})
    patch = base64.b64encode(orjson.dumps([{"op": "add", "path": "/gender", "value": "female"}])).decode()
    bundle = transaction(
        {
            "resource": {
                "resourceType": "Binary",
                "contentType": "application/json-patch+json",
                "data": patch,
            },
            "request": {"method": "PATCH", "url": f"Patient/{keep}"},
        },
        {"request": {"method": "DELETE", "url": f"Patient/{drop}"}},
    )
    response = fhir.post("", json=bundle)
    assert response.status_code == 200, response.text
    assert fhir.get(f"Patient/{keep}").json()["gender"] == "female"
    assert fhir.get(f"Patient/{drop}").status_code == 410


def test_batch_runs_entries_independently(fhir: httpx.Client) -> None:
    pid = f"batch-{uuid.uuid4().hex[:12]}"
    bundle = transaction(
        {
            "resource": {"resourceType": "Patient", "id": pid},
            "request": {"method": "PUT", "url": f"Patient/{pid}"},
        },
        {
            "resource": {"resourceType": "Patient", "gender": "robot"},
            "request": {"method": "POST", "url": "Patient"},
        },
        {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        kind="batch",
    )
    result = fhir.post("", json=bundle).json()
    assert result["type"] == "batch-response"
    statuses = [entry["response"]["status"] for entry in result["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "404 Not Found"]
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert fhir.get(f"Patient/{pid}").status_code == 200


def test_bad_bundles(fhir: httpx.Client) -> None:
    assert fhir.post("", json={"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert fhir.post("", json={"resourceType": "Patient"}).status_code == 400
    no_request = transaction({"resource": {"resourceType": "Patient"}})
    assert fhir.post("", json=no_request).status_code == 400
    bad_method = transaction({"request": {"method": "FETCH", "url": "Patient"}})
    assert fhir.post("", json=bad_method).status_code == 400


def test_transaction_bundle_rules_refuse_before_writing(fhir: httpx.Client) -> None:
    """A duplicate fullUrl (bdl-7) and a urn:uuid: reference naming no entry are refused (422) with
    the entry named, and nothing of the transaction is written."""
    family = f"Rules{uuid.uuid4().hex[:8]}"
    patient = {"resourceType": "Patient", "name": [{"family": family}]}
    shared = urn()
    duplicate = fhir.post("", json=transaction(post(shared, patient), post(shared, patient)))
    assert duplicate.status_code == 422, duplicate.text
    assert any("bdl-7" in issue["diagnostics"] for issue in duplicate.json()["issue"])
    dangling = fhir.post("", json=transaction(post(urn(), patient), post(urn(), observation(urn()))))
    assert dangling.status_code == 422, dangling.text
    [issue] = dangling.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[1].resource.subject.reference"]
    assert issue["diagnostics"].startswith("entry 1 (POST Observation): ")
    assert fhir.get("Patient", params={"family": family}).json().get("total", 0) == 0
