"""Search matching over real HTTP on SQLite and PostgreSQL: every type, modifier and prefix,
chains, ``_has``, composites, ``_text``/``_content``, compartments and system search.

Each case is a query on the data set of :mod:`tests.search.dataset` and the exact set of
resources it must find. Cases marked "search.html" reproduce the specification's own examples.
"""

from __future__ import annotations

import httpx
import pytest

from tests.search.conftest import ids

CASES: list[tuple[str, set[str]]] = [
    # --- string: prefix, case and accent insensitive (search.html: eve → Eve, Evelyn) ---
    ("Patient?name=eve", {"Patient/pat-eve", "Patient/pat-evelyn"}),
    ("Patient?given=EVE", {"Patient/pat-eve", "Patient/pat-evelyn"}),
    ("Patient?name:exact=Eve", {"Patient/pat-eve"}),
    ("Patient?name:exact=eve", set()),
    ("Patient?family:contains=ver", {"Patient/pat-eve", "Patient/pat-evelyn"}),
    ("Patient?family=severine", {"Patient/pat-evelyn"}),
    ("Patient?name=әли", {"Patient/pat-aliya"}),
    ("Patient?family=НҰРЛАН", {"Patient/pat-aliya"}),
    ("Patient?address-city=алматы", {"Patient/pat-eve"}),
    ("Patient?name=unknown person", {"Patient/pat-unknown"}),
    ("Patient?name=eve,peter", {"Patient/pat-eve", "Patient/pat-evelyn", "Patient/pat-peter"}),
    ("Patient?name=eve&name=everywoman", {"Patient/pat-eve"}),
    ("Patient?address:missing=false", {"Patient/pat-eve"}),
    ("Organization?name=acme", {"Organization/org-acme"}),
    # --- token ---
    ("Patient?gender=male", {"Patient/pat-peter"}),
    (
        "Patient?gender:not=male",  # search.html: includes those without a gender
        {"Patient/pat-eve", "Patient/pat-evelyn", "Patient/pat-aliya", "Patient/pat-unknown"},
    ),
    ("Patient?gender:missing=true", {"Patient/pat-unknown"}),
    ("Patient?identifier=http://acme.org/patient|2345", {"Patient/pat-peter"}),
    ("Patient?identifier=2345", {"Patient/pat-peter"}),
    ("Patient?identifier=|2345", set()),
    ("Patient?identifier=http://acme.org/patient|", {"Patient/pat-peter"}),
    ("Patient?identifier=http://ehp.kz/fhir/sid/iin|900101400122", {"Patient/pat-aliya"}),
    (
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053",
        {"Patient/pat-peter"},
    ),
    (
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|2345",
        {"Patient/pat-peter"},
    ),
    ("Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|NI|2345", set()),
    ("Patient?identifier:text=medical record", {"Patient/pat-peter"}),
    (r"Patient?identifier=urn:odd|a\,b\|c\$d", {"Patient/pat-peter"}),
    ("Patient?identifier=urn:odd|a,b", set()),
    ("Patient?active=true", {"Patient/pat-peter"}),
    ("Patient?telecom=(03) 5555 6473", {"Patient/pat-peter"}),
    ("Patient?telecom=phone|(03) 5555 6473", {"Patient/pat-peter"}),
    ("Patient?phone=phone|(03) 5555 6473", {"Patient/pat-peter"}),
    ("Patient?telecom=email|(03) 5555 6473", set()),
    ("Patient?telecom=|(03) 5555 6473", set()),
    ("Condition?code:text=type 2", {"Condition/cond-1"}),
    ("Condition?code:text=diabetes mell", {"Condition/cond-1"}),
    ("Condition?code=http://snomed.info/sct|44054006", {"Condition/cond-1"}),
    (
        "Observation?code=http://loinc.org|15074-8",
        {"Observation/obs-glucose", "Observation/obs-below", "Observation/obs-lone"},
    ),
    (
        "Observation?code=15074-8,29463-7",
        {
            "Observation/obs-glucose",
            "Observation/obs-below",
            "Observation/obs-lone",
            "Observation/obs-weight",
            "Observation/obs-weight-2",
        },
    ),
    ("Observation?code=15074-8&status=amended", {"Observation/obs-lone"}),
    ("Observation?category=laboratory", {"Observation/obs-glucose"}),
    ("Patient?_tag=urn:ehp:test|search", {"Patient/pat-peter"}),
    ("Patient?_security=R", {"Patient/pat-peter"}),
    ("Patient?_profile=http://example.org/StructureDefinition/kz-patient", {"Patient/pat-peter"}),
    ("Patient?_source=urn:ehp:node:almaty%231", {"Patient/pat-peter"}),
    # --- reference ---
    ("Observation?subject=Patient/pat-peter", {"Observation/obs-bp", "Observation/obs-glucose"}),
    ("Observation?subject:Patient=pat-peter", {"Observation/obs-bp", "Observation/obs-glucose"}),
    ("Observation?patient=pat-peter", {"Observation/obs-bp", "Observation/obs-glucose"}),
    (
        "Observation?subject=pat-peter,pat-evelyn",
        {"Observation/obs-bp", "Observation/obs-glucose", "Observation/obs-string"},
    ),
    ("Observation?subject=Practitioner/pat-peter", set()),
    ("Observation?subject:missing=true", {"Observation/obs-lone"}),
    ("Observation?subject:identifier=http://ehp.kz/fhir/sid/iin|900101400122", {"Observation/obs-iin"}),
    ("Encounter?diagnosis=Condition/cond-1", {"Encounter/enc-1"}),
    ("Observation?performer:Practitioner=pr-joe", {"Observation/obs-bp"}),
    # --- chains (search.html: subject.name, subject:Patient.name, general-practitioner twice) ---
    ("Observation?subject.name=peter", {"Observation/obs-bp", "Observation/obs-glucose"}),
    (
        "Observation?subject:Patient.name=eve",
        {"Observation/obs-weight", "Observation/obs-weight-2", "Observation/obs-string"},
    ),
    (
        "Patient?general-practitioner.name=Joe&general-practitioner.address-state=MN",
        {"Patient/pat-peter", "Patient/pat-evelyn"},
    ),
    ("Patient?general-practitioner:Practitioner.address-state=CA", {"Patient/pat-eve"}),
    ("Observation?subject:Patient.organization.name=acme", {"Observation/obs-bp", "Observation/obs-glucose"}),
    (
        "Observation?subject.organization.name:exact=Other Clinic",
        {"Observation/obs-weight", "Observation/obs-weight-2"},
    ),
    ("Encounter?diagnosis:Condition.code=44054006", {"Encounter/enc-1"}),
    (
        "DiagnosticReport?result.code-value-quantity=http://loinc.org|15074-8$gt5.4|http://unitsofmeasure.org|mmol/L",
        {"DiagnosticReport/report-1"},
    ),
    ("DiagnosticReport?result.code-value-quantity=http://loinc.org|15074-8$lt5.4", set()),
    # --- _has (search.html: reverse chaining, nested) ---
    ("Patient?_has:Observation:patient:code=15074-8", {"Patient/pat-peter", "Patient/pat-aliya"}),
    (
        "Patient?_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/pr-joe",
        {"Patient/pat-peter"},
    ),
    (
        "Practitioner?_has:Patient:general-practitioner:gender=female",
        {"Practitioner/pr-joe", "Practitioner/pr-ann"},
    ),
    ("Patient?_has:Observation:subject:code=85354-9&gender=male", {"Patient/pat-peter"}),
    ("Patient?_has:Observation:subject:code=85354-9&gender=female", set()),
    (
        "Organization?_has:Patient:organization:_has:Observation:patient:code=29463-7",
        {"Organization/org-other"},
    ),
    # --- dates (search.html's prefix table, with Encounter periods) ---
    ("Encounter?date=eq2013-01-14", {"Encounter/enc-1"}),
    (
        "Encounter?date=ne2013-01-14",
        {"Encounter/enc-2", "Encounter/enc-3", "Encounter/enc-4", "Encounter/enc-5"},
    ),
    ("Encounter?date=lt2013-01-14T10:00", {"Encounter/enc-1", "Encounter/enc-3"}),
    (
        "Encounter?date=gt2013-01-14T10:00",
        {"Encounter/enc-1", "Encounter/enc-2", "Encounter/enc-3", "Encounter/enc-4", "Encounter/enc-5"},
    ),
    ("Encounter?date=ge2013-03-14", {"Encounter/enc-2", "Encounter/enc-4", "Encounter/enc-5"}),
    ("Encounter?date=le2013-03-14", {"Encounter/enc-1", "Encounter/enc-2", "Encounter/enc-3"}),
    ("Encounter?date=sa2013-03-14", {"Encounter/enc-4", "Encounter/enc-5"}),
    ("Encounter?date=eb2013-03-14", {"Encounter/enc-1", "Encounter/enc-3"}),
    (
        "Encounter?date=ap2013-03-14",
        {"Encounter/enc-1", "Encounter/enc-2", "Encounter/enc-3", "Encounter/enc-4"},
    ),
    ("Encounter?date=2013-01-14T10:00:00Z", set()),
    (
        "Encounter?date=ge2013-01-01&date=lt2013-02-01",
        {"Encounter/enc-1", "Encounter/enc-2", "Encounter/enc-3"},
    ),
    ("Patient?birthdate=1974", {"Patient/pat-peter"}),
    ("Patient?birthdate=1974-12-25T10:00:00%2B05:00", set()),
    ("Patient?birthdate=ge2000", {"Patient/pat-evelyn"}),
    ("Patient?birthdate=lt1960,gt2010", {"Patient/pat-eve", "Patient/pat-evelyn"}),
    ("Patient?birthdate=1990", {"Patient/pat-aliya"}),
    ("Patient?birthdate=1990-05", set()),
    ("Patient?birthdate=ap1990-05", {"Patient/pat-aliya"}),
    ("Observation?date=2013-01-14", {"Observation/obs-bp", "Observation/obs-glucose"}),
    ("Observation?date=2013-01-14T10:00:00Z", {"Observation/obs-bp"}),
    ("Observation?date=2013-01-14T15:00:00%2B05:00", {"Observation/obs-bp"}),
    (
        "Patient?_lastUpdated=gt2000-01-01",
        {
            "Patient/pat-peter",
            "Patient/pat-eve",
            "Patient/pat-evelyn",
            "Patient/pat-aliya",
            "Patient/pat-unknown",
        },
    ),
    ("Patient?_lastUpdated=lt2000", set()),
    # --- numbers (search.html: 10 is [9.5, 10.5), lt10 is exactly 10...; a probability is <= 100) ---
    ("RiskAssessment?probability=10", {"RiskAssessment/risk-10", "RiskAssessment/risk-10-4"}),
    ("RiskAssessment?probability=10.00", set()),
    (
        "RiskAssessment?probability=1e1",
        {
            "RiskAssessment/risk-10",
            "RiskAssessment/risk-9-4",
            "RiskAssessment/risk-10-4",
            "RiskAssessment/risk-11",
        },
    ),
    (
        "RiskAssessment?probability=lt10",
        {"RiskAssessment/risk-10", "RiskAssessment/risk-9-4", "RiskAssessment/risk-range"},
    ),
    (
        "RiskAssessment?probability=le10",
        {"RiskAssessment/risk-10", "RiskAssessment/risk-9-4", "RiskAssessment/risk-range"},
    ),
    (
        "RiskAssessment?probability=gt10",
        {"RiskAssessment/risk-10", "RiskAssessment/risk-10-4", "RiskAssessment/risk-11"},
    ),
    (
        "RiskAssessment?probability=ge10",
        {"RiskAssessment/risk-10", "RiskAssessment/risk-10-4", "RiskAssessment/risk-11"},
    ),
    (
        "RiskAssessment?probability=ne10",
        {"RiskAssessment/risk-9-4", "RiskAssessment/risk-11", "RiskAssessment/risk-range"},
    ),
    ("RiskAssessment?probability=sa10", {"RiskAssessment/risk-10-4", "RiskAssessment/risk-11"}),
    ("RiskAssessment?probability=eb10", {"RiskAssessment/risk-9-4", "RiskAssessment/risk-range"}),
    (
        "RiskAssessment?probability=ap10",
        {
            "RiskAssessment/risk-10",
            "RiskAssessment/risk-9-4",
            "RiskAssessment/risk-10-4",
            "RiskAssessment/risk-11",
        },
    ),
    ("RiskAssessment?probability=2.5", set()),
    ("RiskAssessment?probability=ap2.5", {"RiskAssessment/risk-range"}),
    # --- quantities (search.html: 5.4|http://unitsofmeasure.org|mg, 5.4||mg, 5.4) ---
    ("Observation?value-quantity=6.3|http://unitsofmeasure.org|mmol/L", {"Observation/obs-glucose"}),
    ("Observation?value-quantity=6.3", {"Observation/obs-glucose"}),
    ("Observation?value-quantity=6.3|http://unitsofmeasure.org|mg", set()),
    ("Observation?value-quantity=100||kg", {"Observation/obs-weight", "Observation/obs-weight-2"}),
    ("Observation?value-quantity=100||kilogram", {"Observation/obs-weight"}),
    ("Observation?value-quantity=lt5|http://unitsofmeasure.org|mmol/L", {"Observation/obs-below"}),
    ("Observation?value-quantity=gt6|http://unitsofmeasure.org|mmol/L", {"Observation/obs-glucose"}),
    (
        "Observation?value-quantity=ap6|http://unitsofmeasure.org|mmol/L",
        {"Observation/obs-glucose", "Observation/obs-below"},
    ),
    # --- composites: the components must match on the SAME element ---
    ("Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100", {"Observation/obs-bp"}),
    ("Observation?component-code-value-quantity=http://loinc.org|8480-6$lt60", set()),
    ("Observation?component-code-value-quantity=http://loinc.org|8480-6$60", set()),
    ("Observation?component-code-value-quantity=http://loinc.org|8462-4$60", {"Observation/obs-bp"}),
    ("Observation?combo-code-value-quantity=15074-8$6.3", {"Observation/obs-glucose"}),
    ("Observation?combo-code-value-quantity=8480-6$107", {"Observation/obs-bp"}),
    ("Observation?code-value-concept=94500-6$260385009", {"Observation/obs-concept"}),
    ("Observation?code-value-string=5778-6$positive", {"Observation/obs-string"}),
    ("Group?characteristic-value=gender$mixed", {"Group/group-mixed"}),
    ("Group?characteristic-value=gender$mixed,gender$male", {"Group/group-mixed", "Group/group-crossed"}),
    ("Group?characteristic-value:missing=false", {"Group/group-mixed", "Group/group-crossed"}),
    ("Questionnaire?context-type-value=focus$http://snomed.info/sct|408934002", {"Questionnaire/quest-1"}),
    # --- uri (search.html: :below and :above) ---
    ("ValueSet?url=http://acme.org/fhir/ValueSet/123", {"ValueSet/vs-123"}),
    ("ValueSet?url:below=http://acme.org/fhir/", {"ValueSet/vs-123", "ValueSet/vs-124"}),
    ("ValueSet?url:above=http://acme.org/fhir/ValueSet/123/_history/5", {"ValueSet/vs-123"}),
    ("ValueSet?url:missing=false", {"ValueSet/vs-123", "ValueSet/vs-124", "ValueSet/vs-other"}),
    # --- _id, _text, _content ---
    ("Patient?_id=pat-eve,pat-peter", {"Patient/pat-eve", "Patient/pat-peter"}),
    ("Patient?_id:not=pat-eve&gender=female", {"Patient/pat-evelyn", "Patient/pat-aliya"}),
    ("Patient?_text=diabetic", {"Patient/pat-peter"}),
    ("Patient?_text=diab gentle", {"Patient/pat-peter"}),
    ("Patient?_text=nothing,diabetic", {"Patient/pat-peter"}),
    ("Patient?_text=diabetic nothing", set()),
    ("Patient?_content=алматы", {"Patient/pat-eve"}),
    ("Patient?_content=EVERYWOMAN", {"Patient/pat-eve"}),
    ("Observation?_content=glucose blood", {"Observation/obs-glucose"}),
    # --- compartments (CompartmentDefinition-patient, -practitioner) ---
    ("Patient/pat-peter/Observation", {"Observation/obs-bp", "Observation/obs-glucose"}),
    ("Patient/pat-peter/Observation?code=15074-8", {"Observation/obs-glucose"}),
    ("Patient/pat-peter/Encounter?date=lt2013-02", {"Encounter/enc-1", "Encounter/enc-2", "Encounter/enc-3"}),
    ("Practitioner/pr-joe/Observation", {"Observation/obs-bp"}),
    (
        "Patient/pat-eve/*",
        {"Observation/obs-weight", "Observation/obs-weight-2", "Condition/cond-2", "Encounter/enc-5"},
    ),
    # --- system level ---
    ("?_type=Patient,Practitioner&name=joe", {"Practitioner/pr-joe"}),
    ("?_type=Patient,Practitioner&address-state=mn", {"Practitioner/pr-joe"}),
    ("?_id=pat-eve", {"Patient/pat-eve"}),
    ("?_tag=urn:ehp:test|search", {"Patient/pat-peter"}),
    ("?_content=chalmers", {"Patient/pat-peter"}),
    ("?_type=Patient,Practitioner&_has:Observation:performer:code=85354-9", {"Practitioner/pr-joe"}),
    ("?_type=Patient,Practitioner&_sort=-_id&_id=pr-ann,pat-eve", {"Practitioner/pr-ann", "Patient/pat-eve"}),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[query for query, _ in CASES])
def test_search_finds_exactly(search_fhir: httpx.Client, query: str, expected: set[str]) -> None:
    response = search_fhir.get(query + ("&" if "?" in query else "?") + "_count=100")
    assert response.status_code == 200, response.text
    bundle = response.json()
    found = ids(bundle)
    assert len(found) == len(set(found)), "a resource is listed twice"
    assert set(found) == expected
    assert bundle["total"] == len(expected)


def test_absolute_reference_on_this_server_is_local(search_fhir: httpx.Client) -> None:
    own = f"{search_fhir.base_url}Patient/pat-peter"
    found = ids(search_fhir.get("Observation", params={"subject": own}).json())
    assert set(found) == {"Observation/obs-bp", "Observation/obs-glucose"}
    elsewhere = ids(
        search_fhir.get(
            "Observation", params={"subject": "http://elsewhere.org/fhir/Patient/pat-peter"}
        ).json()
    )
    assert elsewhere == []


def test_post_search_takes_a_form_body(search_fhir: httpx.Client) -> None:
    for path in ("Patient/_search", "_search", "Patient/pat-eve/Observation/_search"):
        response = search_fhir.post(
            path, data={"name": "eve"} if "Observation" not in path else {"code": "29463-7"}
        )
        assert response.status_code == 200, response.text
        assert ids(response.json())
    refused = search_fhir.post("Patient/_search", json={"name": "eve"})
    assert refused.status_code == 400
