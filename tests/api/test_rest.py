"""The REST interactions over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(**fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": "Абенов", "given": ["Ержан"]}]}
    resource.update(fields)
    return resource


def new_id() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


def issue_codes(response: httpx.Response) -> list[str]:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return [issue["code"] for issue in outcome["issue"]]


def test_create_assigns_uuid_version_and_headers(fhir: httpx.Client) -> None:
    response = fhir.post("Patient", json=patient(id="ignored"), headers=FHIR_JSON)
    assert response.status_code == 201
    body = response.json()
    uuid.UUID(body["id"])
    assert body["id"] != "ignored"
    assert body["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["Content-Type"].startswith("application/fhir+json")


def test_update_as_create_then_update_keeps_every_version(fhir: httpx.Client) -> None:
    pid = new_id()
    first = fhir.put(f"Patient/{pid}", json=patient(id=pid, gender="male"))
    assert first.status_code == 201
    second = fhir.put(f"Patient/{pid}", json=patient(id=pid, gender="female"))
    assert second.status_code == 200
    assert second.json()["meta"]["versionId"] == "2"
    assert fhir.get(f"Patient/{pid}").json()["gender"] == "female"
    assert fhir.get(f"Patient/{pid}/_history/1").json()["gender"] == "male"
    assert fhir.get(f"Patient/{pid}/_history/2").json()["gender"] == "female"
    assert fhir.get(f"Patient/{pid}/_history/3").status_code == 404


def test_decimals_and_unknown_extensions_are_kept_exactly(fhir: httpx.Client) -> None:
    oid = new_id()
    text = (
        '{"resourceType":"Observation","id":"' + oid + '","status":"final",'
        '"code":{"text":"HbA1c"},"valueQuantity":{"value":1.50,"unit":"%"},'
        '"extension":[{"url":"http://ehp.example/fhir/StructureDefinition/x","valueDecimal":0.10}],'
        '"referenceRange":[{"low":{"value":4.0},"high":{"value":6.00E0}}]}'
    )
    assert fhir.put(f"Observation/{oid}", content=text, headers=FHIR_JSON).status_code == 201
    raw = fhir.get(f"Observation/{oid}").text
    assert '"value":1.50' in raw
    assert '"valueDecimal":0.10' in raw
    assert '"value":4.0' in raw
    assert '"value":6.00E0' in raw
    assert "http://ehp.example/fhir/StructureDefinition/x" in raw


def test_delete_is_a_version_and_read_gives_410(fhir: httpx.Client) -> None:
    pid = new_id()
    fhir.put(f"Patient/{pid}", json=patient(id=pid))
    deleted = fhir.delete(f"Patient/{pid}")
    assert deleted.status_code == 204
    assert deleted.headers["ETag"] == 'W/"2"'
    gone = fhir.get(f"Patient/{pid}")
    assert gone.status_code == 410
    assert issue_codes(gone) == ["deleted"]
    assert fhir.delete(f"Patient/{pid}").status_code == 204
    history = fhir.get(f"Patient/{pid}/_history").json()
    assert [entry["request"]["method"] for entry in history["entry"]] == ["DELETE", "PUT"]
    assert fhir.get(f"Patient/{pid}/_history/2").status_code == 410
    assert fhir.put(f"Patient/{pid}", json=patient(id=pid)).status_code == 201


def test_read_of_unknown_resource_is_404_and_unknown_type_too(fhir: httpx.Client) -> None:
    assert issue_codes(fhir.get(f"Patient/{new_id()}")) == ["not-found"]
    assert fhir.get("Patient/x").status_code == 404
    assert fhir.get("Spaceship/1").status_code == 404


def test_if_match_protects_against_lost_updates(fhir: httpx.Client) -> None:
    pid = new_id()
    fhir.put(f"Patient/{pid}", json=patient(id=pid))
    ok = fhir.put(f"Patient/{pid}", json=patient(id=pid, gender="male"), headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = fhir.put(f"Patient/{pid}", json=patient(id=pid, gender="other"), headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert fhir.get(f"Patient/{pid}").json()["gender"] == "male"
    assert fhir.delete(f"Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 412


def test_conditional_read(fhir: httpx.Client) -> None:
    pid = new_id()
    etag = fhir.put(f"Patient/{pid}", json=patient(id=pid)).headers["ETag"]
    assert fhir.get(f"Patient/{pid}", headers={"If-None-Match": etag}).status_code == 304
    assert fhir.get(f"Patient/{pid}", headers={"If-None-Match": 'W/"9"'}).status_code == 200


def test_prefer_return(fhir: httpx.Client) -> None:
    minimal = fhir.post("Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "Location" in minimal.headers
    outcome = fhir.post("Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.json()["resourceType"] == "OperationOutcome"
    full = fhir.post("Patient", json=patient(), headers={"Prefer": "return=representation"})
    assert full.json()["resourceType"] == "Patient"


def test_conditional_create(fhir: httpx.Client) -> None:
    system, value = "http://ehp.example/test-ids", new_id()
    body = patient(identifier=[{"system": system, "value": value}])
    condition = {"If-None-Exist": f"identifier={system}|{value}"}
    first = fhir.post("Patient", json=body, headers=condition)
    assert first.status_code == 201
    again = fhir.post("Patient", json=body, headers=condition)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    fhir.post("Patient", json=body)
    assert fhir.post("Patient", json=body, headers=condition).status_code == 412


def test_conditional_update_and_delete(fhir: httpx.Client) -> None:
    system, value = "http://ehp.example/test-ids", new_id()
    body = patient(identifier=[{"system": system, "value": value}])
    created = fhir.put(f"Patient?identifier={system}|{value}", json=body)
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = fhir.put(f"Patient?identifier={system}|{value}", json={**body, "gender": "male"})
    assert updated.status_code == 200
    assert updated.json()["id"] == pid
    assert updated.json()["meta"]["versionId"] == "2"
    assert fhir.delete(f"Patient?identifier={system}|{value}").status_code == 204
    assert fhir.get(f"Patient/{pid}").status_code == 410
    assert fhir.put("Patient?bogus-param=1", json=body).status_code == 400
    assert fhir.delete("Patient").status_code == 400


def test_json_patch(fhir: httpx.Client) -> None:
    pid = new_id()
    fhir.put(f"Patient/{pid}", json=patient(id=pid))
    operations = [
        {"op": "add", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/active", "value": True},
    ]
    patched = fhir.patch(
        f"Patient/{pid}",
        content=orjson.dumps(operations),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200
    assert patched.json()["gender"] == "female"
    assert patched.json()["meta"]["versionId"] == "2"
    bad = [{"op": "replace", "path": "/gender", "value": "robot"}]
    refused = fhir.patch(
        f"Patient/{pid}", content=orjson.dumps(bad), headers={"Content-Type": "application/json-patch+json"}
    )
    assert refused.status_code == 422
    assert fhir.get(f"Patient/{pid}").json()["meta"]["versionId"] == "2"
    not_json_patch = fhir.patch(f"Patient/{pid}", json=operations)
    assert not_json_patch.status_code == 415


def test_history_type_and_system_with_paging_and_since(fhir: httpx.Client) -> None:
    pid = new_id()
    for gender in ("male", "female", "other", "unknown"):
        fhir.put(f"Patient/{pid}", json=patient(id=pid, gender=gender))
    page = fhir.get(f"Patient/{pid}/_history", params={"_count": 3}).json()
    assert page["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in page["entry"]] == ["4", "3", "2"]
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    rest = httpx.get(next_url).json()
    assert [e["resource"]["meta"]["versionId"] for e in rest["entry"]] == ["1"]
    assert not any(link["relation"] == "next" for link in rest["link"])
    since = page["entry"][1]["resource"]["meta"]["lastUpdated"]
    recent = fhir.get(f"Patient/{pid}/_history", params={"_since": since}).json()
    assert [e["resource"]["meta"]["versionId"] for e in recent["entry"]] == ["4", "3"]
    at = fhir.get(f"Patient/{pid}/_history", params={"_at": since}).json()
    assert [e["resource"]["meta"]["versionId"] for e in at["entry"]] == ["3"]
    type_history = fhir.get("Patient/_history", params={"_count": 2}).json()
    assert len(type_history["entry"]) == 2
    system = fhir.get("_history", params={"_count": 1}).json()
    assert len(system["entry"]) == 1
    assert fhir.get("_history", params={"_since": "yesterday"}).status_code == 400


def test_malformed_requests_get_operation_outcomes(fhir: httpx.Client) -> None:
    bad_json = fhir.post("Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON)
    assert bad_json.status_code == 400
    assert issue_codes(bad_json) == ["structure"]
    wrong_type = fhir.post("Patient", json={"resourceType": "Observation"})
    assert wrong_type.status_code == 400
    pid = new_id()
    mismatch = fhir.put(f"Patient/{pid}", json=patient(id="other"))
    assert mismatch.status_code == 400
    assert fhir.get(f"Patient/{pid}").status_code == 404
    invalid = fhir.put(f"Patient/{pid}", json=patient(id=pid, gender="robot"))
    assert invalid.status_code == 422
    assert invalid.json()["issue"][0]["expression"] == ["Patient.gender"]
    assert fhir.get(f"Patient/{pid}").status_code == 404
    not_allowed = fhir.post(f"Patient/{pid}", json=patient())
    assert not_allowed.status_code == 405
    assert "PUT" in not_allowed.headers["Allow"]


def test_formats_other_than_json_are_refused_clearly(fhir: httpx.Client) -> None:
    assert fhir.get("metadata", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert fhir.get("metadata", params={"_format": "xml"}).status_code == 406
    assert fhir.get("metadata", headers={"Accept": "text/html,*/*;q=0.8"}).status_code == 200
    xml = fhir.post("Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    assert xml.status_code == 415
    assert issue_codes(xml) == ["not-supported"]


def test_too_large_body_is_413(fhir: httpx.Client) -> None:
    huge = b"{" + b" " * (65 * 1024 * 1024) + b"}"
    response = fhir.post("Patient", content=huge, headers=FHIR_JSON)
    assert response.status_code == 413


def test_validate_operation(fhir: httpx.Client) -> None:
    good = fhir.post("Patient/$validate", json=patient())
    assert good.status_code == 200
    assert good.json()["issue"][0]["severity"] == "information"
    bad = fhir.post("Patient/$validate", json=patient(birthDate="1990-13-01"))
    assert bad.status_code == 200
    assert any(
        i["severity"] == "error" and i["expression"] == ["Patient.birthDate"] for i in bad.json()["issue"]
    )
    wrapped = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": patient(gender="x")}],
    }
    assert fhir.post("Patient/$validate", json=wrapped).json()["issue"][0]["severity"] == "error"


def test_capability_statement_lists_what_works(fhir: httpx.Client, examples_dir: Path) -> None:
    statement = fhir.get("metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    patient_entry = next(r for r in rest["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient_entry["interaction"]}
    assert {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "create",
        "history-instance",
        "search-type",
    } <= codes
    assert any(p["name"] == "identifier" for p in patient_entry["searchParam"])
    assert {i["code"] for i in rest["interaction"]} >= {"transaction", "batch", "history-system"}
    definitions = (orjson.loads(p.read_bytes()) for p in examples_dir.glob("StructureDefinition-*.json"))
    concrete = {d["type"] for d in definitions if d["kind"] == "resource" and not d["abstract"]}
    assert {r["type"] for r in rest["resource"]} == concrete
