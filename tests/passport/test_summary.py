"""``Patient/{id}/$summary``: IPS documents for a newborn, a healthy adult and a person with two
chronic diseases, checked against the generated records and the server's own validation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ehp.fhir.validation import validate_resource
from tests.passport.conftest import Loaded

Json = dict[str, Any]
REQUIRED = ("11450-4", "48765-2", "10160-0")
SECTION_CODES = {
    "11450-4", "48765-2", "10160-0", "11369-6", "30954-2", "47519-4",
    "46264-8", "104605-1", "8716-3", "10162-6", "18776-5",
}  # fmt: skip


def summary(loaded: Loaded, kind: str) -> Json:
    patient_id = loaded.people.patients[kind]["id"]
    response = loaded.client.get(f"Patient/{patient_id}/$summary")
    assert response.status_code == 200, response.text
    bundle: Json = response.json()
    return bundle


def sections(bundle: Json) -> dict[str, Json]:
    composition = bundle["entry"][0]["resource"]
    return {s["code"]["coding"][0]["code"]: s for s in composition["section"]}


def entries(bundle: Json, code: str) -> list[Json]:
    by_url = {e["fullUrl"].split("/fhir/")[-1]: e["resource"] for e in bundle["entry"]}
    return [by_url[entry["reference"]] for entry in sections(bundle).get(code, {}).get("entry", [])]


def own(loaded: Loaded, kind: str, resource_type: str) -> list[Json]:
    reference = f"Patient/{loaded.people.patients[kind]['id']}"
    return [
        r
        for r in loaded.people.resources()
        if r["resourceType"] == resource_type
        and (r.get("subject") or r.get("patient") or {}).get("reference") == reference
    ]


def latest(observations: list[Json], loinc: str) -> Json:
    chosen = [o for o in observations if o["code"]["coding"][0]["code"] == loinc]
    return max(chosen, key=lambda o: o["effectiveDateTime"])


@pytest.mark.parametrize("kind", ["newborn", "healthy-adult", "chronic"])
def test_summary_is_a_valid_ips_document(loaded: Loaded, kind: str) -> None:
    bundle = summary(loaded, kind)
    assert bundle["type"] == "document" and bundle["identifier"]["value"].startswith("urn:uuid:")
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["type"]["coding"][0]["code"] == "60591-5"
    assert composition["subject"]["reference"] == f"Patient/{loaded.people.patients[kind]['id']}"
    found = sections(bundle)
    assert set(REQUIRED) <= set(found) <= SECTION_CODES
    for section in found.values():
        assert section["text"]["status"] == "generated"
        assert section["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        assert ("entry" in section) != ("emptyReason" in section)
        assert len(section["text"]["div"]) > 60
    assert [issue for issue in validate_resource(bundle) if issue.is_error] == []
    checked = loaded.client.post("Bundle/$validate", json=bundle)
    assert checked.status_code == 200, checked.text
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    for section in found.values():
        for entry in section.get("entry", []):
            assert any(url.endswith("/" + entry["reference"]) for url in urls)


def test_newborn(loaded: Loaded) -> None:
    bundle = summary(loaded, "newborn")
    found = sections(bundle)
    assert {i["id"] for i in entries(bundle, "11369-6")} == {
        i["id"] for i in own(loaded, "newborn", "Immunization")
    }
    vital = entries(bundle, "8716-3")
    assert [o["code"]["coding"][0]["code"] for o in vital] == ["8339-4"]  # the birth weight
    assert "birth weight" in found["8716-3"]["text"]["div"].lower()
    assert found["48765-2"]["emptyReason"]["coding"][0]["code"] == "unavailable"
    assert found["10160-0"].get("emptyReason") or all(
        m["status"] == "active" for m in entries(bundle, "10160-0")
    )


def test_healthy_adult(loaded: Loaded) -> None:
    bundle = summary(loaded, "healthy-adult")
    problems = entries(bundle, "11450-4")
    assert all(p["clinicalStatus"]["coding"][0]["code"] == "active" for p in problems)
    assert not {c["coding"][0]["code"] for p in problems for c in [p["code"]]} & {"I10", "E11"}
    assert "18776-5" not in sections(bundle)  # no dispensary observation
    assert len(entries(bundle, "11369-6")) == len(own(loaded, "healthy-adult", "Immunization"))


def test_several_chronic_diseases(loaded: Loaded) -> None:
    bundle = summary(loaded, "chronic")
    problems = {p["code"]["coding"][0]["code"] for p in entries(bundle, "11450-4")}
    assert {"I10", "E11"} <= problems
    medications = entries(bundle, "10160-0")
    expected = {m["id"] for m in own(loaded, "chronic", "MedicationRequest") if m["status"] == "active"}
    assert expected and {m["id"] for m in medications} == expected
    plan = entries(bundle, "18776-5")
    dispensary = {
        e["id"]
        for e in own(loaded, "chronic", "EpisodeOfCare")
        if e["type"][0]["coding"][0]["code"] == "dispensary" and e["status"] == "active"
    }
    assert len(dispensary) == 2 and {p["id"] for p in plan} == dispensary
    observations = own(loaded, "chronic", "Observation")
    assert latest(observations, "4548-4")["id"] in {o["id"] for o in entries(bundle, "30954-2")}
    pressure = latest(observations, "85354-9")
    assert pressure["id"] in {o["id"] for o in entries(bundle, "8716-3")}
    systolic, diastolic = (c["valueQuantity"]["value"] for c in pressure["component"])
    assert f"{systolic}/{diastolic} mm[Hg]" in sections(bundle)["8716-3"]["text"]["div"]


@contextmanager
def added(loaded: Loaded, resources: list[Json]) -> Iterator[None]:
    created = []
    try:
        for resource in resources:
            response = loaded.client.post(resource["resourceType"], json=resource)
            assert response.status_code == 201, response.text
            created.append(f"{resource['resourceType']}/{response.json()['id']}")
        yield
    finally:
        for key in created:
            loaded.client.delete(key)


def test_blood_group_allergies_and_alerts(loaded: Loaded) -> None:
    subject = {"reference": f"Patient/{loaded.people.patients['chronic']['id']}"}
    blood_group = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "882-1", "display": "ABO and Rh group"}]},
        "subject": subject,
        "effectiveDateTime": "2001-05-04",
        "valueCodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": "278149003"}],
            "text": "A Rh(D) positive",
        },
    }
    allergy = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01CA04"}], "text": "amoxicillin"},
        "criticality": "high",
        "patient": subject,
        "reaction": [{"manifestation": [{"text": "anaphylaxis"}]}],
    }
    flag = {"resourceType": "Flag", "status": "active", "code": {"text": "Pacemaker"}, "subject": subject}
    with added(loaded, [blood_group, allergy, flag]):
        bundle = summary(loaded, "chronic")
        found = sections(bundle)
        assert entries(bundle, "30954-2")[0]["code"]["coding"][0]["code"] == "882-1"
        assert "A Rh(D) positive" in found["30954-2"]["text"]["div"]
        assert [a["code"]["text"] for a in entries(bundle, "48765-2")] == ["amoxicillin"]
        assert "anaphylaxis" in found["48765-2"]["text"]["div"] and "emptyReason" not in found["48765-2"]
        assert [f["code"]["text"] for f in entries(bundle, "104605-1")] == ["Pacemaker"]
        assert [issue for issue in validate_resource(bundle) if issue.is_error] == []


def test_summary_errors(loaded: Loaded) -> None:
    assert loaded.client.get("Patient/nobody/$summary").status_code == 404
    patient_id = loaded.people.patients["newborn"]["id"]
    response = loaded.client.get(f"Patient/{patient_id}/$summary?profile=x")
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"
    statement = loaded.client.get("metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {o["name"] for o in patient["operation"]} >= {"everything", "summary"}


def test_a_mother_has_the_pregnancy_section(loaded: Loaded) -> None:
    deliveries = [
        r
        for r in loaded.people.resources()
        if r["resourceType"] == "Condition" and r["code"]["coding"][0]["code"] in ("O80", "O82")
    ]
    mother_id = deliveries[0]["subject"]["reference"][8:]
    pregnancy = {
        r["id"]
        for r in loaded.people.resources()
        if r["resourceType"] == "Condition"
        and r["subject"]["reference"] == f"Patient/{mother_id}"
        and r["code"]["coding"][0]["code"].startswith(("O", "Z3"))
    }
    response = loaded.client.get(f"Patient/{mother_id}/$summary")
    assert response.status_code == 200
    bundle = response.json()
    assert {c["id"] for c in entries(bundle, "10162-6")} == pregnancy
    assert any(c["code"]["coding"][0]["code"] in ("O80", "O82") for c in entries(bundle, "10162-6"))
