"""A small clinical data set for the search tests: every id is fixed, so expected results are exact.

It reproduces the situations of search.html's own examples (dates of the prefix table, numbers
around 100, names Eve/Evelyn/Severine, blood pressure components, Group and Questionnaire
composites, chains, ``_has``, includes) plus Kazakh names and an escaped identifier.
"""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
IIN = "http://ehp.kz/fhir/sid/iin"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TAG = {"system": "urn:ehp:test", "code": "search"}


def _narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    return {**coding, "display": display} if display else coding


def _quantity(value: Any, code: str, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code, **extra}


def _encounter(rid: str, patient: str, period: dict[str, str], status: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": status,
        "class": _coding(ACT, "AMB"),
        "subject": {"reference": f"Patient/{patient}"},
        "period": period,
        **extra,
    }


def _observation(rid: str, code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", "code": code, **extra}


def _percent(value: float) -> dict[str, Any]:
    """A probability range bound: ras-1 wants percentages in UCUM."""
    return {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}


def _risk(rid: str, prediction: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "RiskAssessment",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/pat-peter"},
        "prediction": [prediction],
    }


def _value_set(rid: str, url: str) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "id": rid, "status": "active", "url": url}


def _group(rid: str, characteristics: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "resourceType": "Group",
        "id": rid,
        "type": "person",
        "actual": True,
        "characteristic": [
            {
                "code": {"coding": [_coding("http://example.org/characteristic", code)]},
                "valueCodeableConcept": {"coding": [{"code": value}]},
                "exclude": False,
            }
            for code, value in characteristics
        ],
    }


PATIENTS: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "pat-peter",
        "meta": {
            "tag": [TAG],
            "profile": ["http://example.org/StructureDefinition/kz-patient"],
            "security": [_coding("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")],
            "source": "urn:ehp:node:almaty#1",
        },
        "text": _narrative("Peter James Chalmers, a diabetic gentleman"),
        "identifier": [
            {
                "type": {"coding": [_coding(V2_0203, "MR")], "text": "Medical record number"},
                "system": "http://acme.org/patient",
                "value": "2345",
            },
            {"type": {"coding": [_coding(V2_0203, "MR")]}, "system": "urn:mrn", "value": "446053"},
            {"system": "urn:odd", "value": "a,b|c$d"},
        ],
        "active": True,
        "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
        "telecom": [{"system": "phone", "value": "(03) 5555 6473"}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "generalPractitioner": [{"reference": "Practitioner/pr-joe"}],
        "managingOrganization": {"reference": "Organization/org-acme"},
    },
    {
        "resourceType": "Patient",
        "id": "pat-eve",
        "name": [{"family": "Everywoman", "given": ["Eve"]}],
        "gender": "female",
        "birthDate": "1955-01-06",
        "deceasedBoolean": False,
        "address": [{"city": "Алматы", "country": "KZ"}],
        "generalPractitioner": [{"reference": "Practitioner/pr-ann"}],
        "managingOrganization": {"reference": "Organization/org-other"},
    },
    {
        "resourceType": "Patient",
        "id": "pat-evelyn",
        "name": [{"family": "Sévérine", "given": ["Evelyn"]}],
        "gender": "female",
        "birthDate": "2013-01-14",
        "generalPractitioner": [{"reference": "Practitioner/pr-joe"}],
    },
    {
        "resourceType": "Patient",
        "id": "pat-aliya",
        "identifier": [{"system": IIN, "value": "900101400122"}],
        "name": [{"family": "Нұрланова", "given": ["Әлия"]}],
        "gender": "female",
        "birthDate": "1990",
    },
    {"resourceType": "Patient", "id": "pat-unknown", "name": [{"text": "Unknown Person"}]},
]

OTHERS: list[dict[str, Any]] = [
    {
        "resourceType": "Organization",
        "id": "org-acme",
        "name": "Acme Healthcare",
        "address": [{"state": "MN"}],
    },
    {"resourceType": "Organization", "id": "org-other", "name": "Other Clinic"},
    {
        "resourceType": "Practitioner",
        "id": "pr-joe",
        "name": [{"family": "Smith", "given": ["Joe"]}],
        "address": [{"state": "MN"}],
    },
    {
        "resourceType": "Practitioner",
        "id": "pr-ann",
        "name": [{"family": "Lee", "given": ["Ann"]}],
        "address": [{"state": "CA"}],
    },
    _encounter(
        "enc-1",
        "pat-peter",
        {"start": "2013-01-14T09:00:00Z", "end": "2013-01-14T11:00:00Z"},
        "finished",
        diagnosis=[{"condition": {"reference": "Condition/cond-1"}}],
    ),
    _encounter("enc-2", "pat-peter", {"start": "2013-01-21"}, "in-progress"),
    _encounter("enc-3", "pat-peter", {"end": "2013-01-21"}, "finished"),
    _encounter("enc-4", "pat-peter", {"start": "2013-03-15"}, "planned"),
    _encounter("enc-5", "pat-eve", {"start": "2020-06-15", "end": "2020-06-15"}, "finished"),
    _observation(
        "obs-bp",
        {"coding": [_coding(LOINC, "85354-9", "Blood pressure panel")]},
        subject={"reference": "Patient/pat-peter"},
        encounter={"reference": "Encounter/enc-1"},
        performer=[{"reference": "Practitioner/pr-joe"}],
        effectiveDateTime="2013-01-14T10:00:00Z",
        component=[
            {"code": {"coding": [_coding(LOINC, "8480-6")]}, "valueQuantity": _quantity(107, "mm[Hg]")},
            {"code": {"coding": [_coding(LOINC, "8462-4")]}, "valueQuantity": _quantity(60, "mm[Hg]")},
        ],
    ),
    _observation(
        "obs-glucose",
        {"coding": [_coding(LOINC, "15074-8", "Glucose")], "text": "Glucose [Moles/volume] in Blood"},
        category=[
            {"coding": [_coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")]}
        ],
        subject={"reference": "Patient/pat-peter"},
        effectiveDateTime="2013-01-14",
        valueQuantity=_quantity(6.3, "mmol/L"),
    ),
    _observation(
        "obs-weight",
        {"coding": [_coding(LOINC, "29463-7", "Body weight")]},
        subject={"reference": "Patient/pat-eve"},
        effectiveDateTime="2013-01-15T00:00:00Z",
        valueQuantity=_quantity(100, "kg", "kilogram"),
    ),
    _observation(
        "obs-weight-2",
        {"coding": [_coding(LOINC, "29463-7", "Body weight")]},
        subject={"reference": "Patient/pat-eve"},
        effectiveDateTime="2013-02-15",
        valueQuantity={"value": 99.7, "unit": "kg"},
    ),
    _observation(
        "obs-string",
        {"coding": [_coding(LOINC, "5778-6")]},
        subject={"reference": "Patient/pat-evelyn"},
        valueString="Positive result",
    ),
    _observation(
        "obs-concept",
        {"coding": [_coding(LOINC, "94500-6")]},
        subject={"reference": "Patient/pat-aliya"},
        valueCodeableConcept={"coding": [_coding(SNOMED, "260385009", "Negative")]},
    ),
    _observation(
        "obs-below",
        {"coding": [_coding(LOINC, "15074-8")]},
        subject={"reference": "Patient/pat-aliya"},
        valueQuantity=_quantity(5.4, "mmol/L", comparator="<"),
    ),
    _observation("obs-lone", {"coding": [_coding(LOINC, "15074-8")]}, status="amended"),
    _observation(
        "obs-iin",
        {"coding": [_coding(LOINC, "2339-0")]},
        subject={"identifier": {"system": IIN, "value": "900101400122"}, "type": "Patient"},
    ),
    {
        "resourceType": "Condition",
        "id": "cond-1",
        "code": {
            "coding": [_coding(SNOMED, "44054006", "Diabetes mellitus type 2")],
            "text": "Type 2 diabetes",
        },
        "subject": {"reference": "Patient/pat-peter"},
        "onsetDateTime": "2010",
    },
    {
        "resourceType": "Condition",
        "id": "cond-2",
        "code": {"coding": [_coding(SNOMED, "38341003", "Hypertension")]},
        "subject": {"reference": "Patient/pat-eve"},
    },
    _risk("risk-10", {"probabilityDecimal": 10}),
    _risk("risk-9-4", {"probabilityDecimal": 9.4}),
    _risk("risk-10-4", {"probabilityDecimal": 10.4}),
    _risk("risk-11", {"probabilityDecimal": 11}),
    _risk("risk-range", {"probabilityRange": {"low": _percent(2), "high": _percent(3)}}),
    _value_set("vs-123", "http://acme.org/fhir/ValueSet/123"),
    _value_set("vs-124", "http://acme.org/fhir/ValueSet/124"),
    _value_set("vs-other", "http://other.org/ValueSet/1"),
    _group("group-mixed", [("gender", "mixed"), ("owner", "John Smith")]),
    _group("group-crossed", [("gender", "male"), ("owner", "mixed")]),
    {
        "resourceType": "Questionnaire",
        "id": "quest-1",
        "status": "active",
        "useContext": [
            {
                "code": _coding("http://terminology.hl7.org/CodeSystem/usage-context-type", "focus"),
                "valueCodeableConcept": {"coding": [_coding(SNOMED, "408934002")]},
            }
        ],
    },
    {
        "resourceType": "Provenance",
        "id": "prov-1",
        "target": [{"reference": "Observation/obs-glucose"}],
        "recorded": "2013-01-14T12:00:00Z",
        "agent": [{"who": {"reference": "Practitioner/pr-joe"}}],
    },
    {
        "resourceType": "Medication",
        "id": "med-1",
        "code": {"coding": [_coding("http://www.nlm.nih.gov/research/umls/rxnorm", "860975")]},
        "manufacturer": {"reference": "Organization/org-acme"},
    },
    {
        "resourceType": "MedicationRequest",
        "id": "medrx-1",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "Medication/med-1"},
        "subject": {"reference": "Patient/pat-peter"},
        "requester": {"reference": "Practitioner/pr-joe"},
    },
    {
        "resourceType": "DiagnosticReport",
        "id": "report-1",
        "status": "final",
        "code": {"coding": [_coding(LOINC, "24323-8")]},
        "subject": {"reference": "Patient/pat-peter"},
        "result": [{"reference": "Observation/obs-glucose"}, {"reference": "Observation/obs-bp"}],
    },
    {
        "resourceType": "AuditEvent",
        "id": "audit-1",
        "type": _coding("http://dicom.nema.org/resources/ontology/DCM", "110110"),
        "recorded": "2013-01-15T00:00:00Z",
        "agent": [{"who": {"reference": "Practitioner/pr-joe"}, "requestor": True}],
        "source": {"observer": {"reference": "Organization/org-acme"}},
        "entity": [{"what": {"reference": "Observation/obs-glucose"}}],
    },
]

RESOURCES = PATIENTS + OTHERS


def transaction() -> dict[str, Any]:
    """Every resource of the data set PUT in one transaction."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
            for resource in RESOURCES
        ],
    }
