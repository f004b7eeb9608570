"""Conditional references (``Practitioner?identifier=...``) in a PUT, a POST and a batch's
entries, not only in transactions: resolved to the one match, 422 for none or several, and the
reference then searchable as any other."""

from __future__ import annotations

import uuid

import httpx

SYSTEM = "https://vendor.example/staff"


def _practitioner(fhir: httpx.Client, value: str) -> str:
    created = fhir.post(
        "Practitioner",
        json={"resourceType": "Practitioner", "identifier": [{"system": SYSTEM, "value": value}]},
    )
    assert created.status_code == 201, created.text
    identifier: str = created.json()["id"]
    return identifier


def _observation(performer: str, resource_id: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "performer": [{"reference": performer}],
    }
    if resource_id is not None:
        body["id"] = resource_id
    return body


def test_put_post_and_batch_resolve_conditional_references(fhir: httpx.Client) -> None:
    value = uuid.uuid4().hex
    doctor = _practitioner(fhir, value)
    wanted = f"Practitioner?identifier={SYSTEM}|{value}"
    put_id = f"cond-{value[:8]}"
    put = fhir.put(f"Observation/{put_id}", json=_observation(wanted, put_id))
    assert put.status_code == 201, put.text
    assert put.json()["performer"] == [{"reference": f"Practitioner/{doctor}"}]
    posted = fhir.post("Observation", json=_observation(wanted))
    assert (
        posted.status_code == 201 and posted.json()["performer"][0]["reference"] == f"Practitioner/{doctor}"
    )
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": _observation(wanted), "request": {"method": "POST", "url": "Observation"}},
            {
                "resource": _observation(f"Practitioner?identifier={SYSTEM}|nobody-{value}"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    answer = fhir.post("", json=batch).json()
    statuses = [entry["response"]["status"] for entry in answer["entry"]]
    assert statuses[0].startswith("201") and statuses[1].startswith("422"), statuses
    found = fhir.get("Observation", params={"performer": f"Practitioner/{doctor}"}).json()
    assert len(found["entry"]) == 3, "the resolved references are indexed like any other"


def test_none_or_several_matches_are_refused(fhir: httpx.Client) -> None:
    value = uuid.uuid4().hex
    nobody = fhir.post("Observation", json=_observation(f"Practitioner?identifier={SYSTEM}|{value}"))
    assert nobody.status_code == 422 and "matches no resource" in nobody.text
    _practitioner(fhir, value)
    _practitioner(fhir, value)
    several = fhir.post("Observation", json=_observation(f"Practitioner?identifier={SYSTEM}|{value}"))
    assert several.status_code == 422 and "more than one resource" in several.text
    bad = fhir.post("Observation", json=_observation("Nonsense?identifier=x"))
    assert bad.status_code in (400, 422) and bad.json()["resourceType"] == "OperationOutcome"
    unknown = fhir.post("Observation", json=_observation("Practitioner?nope=1"))
    assert unknown.status_code == 400 and "nope" in unknown.text
