"""Rules beyond structure and invariants: Bundles, Codings, URIs, Attachments (see
:mod:`ehp.fhir.bundles` and :mod:`ehp.fhir.validation`)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ehp.fhir.validation import Issue, validate_resource

UUID_A = "urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301"
UUID_B = "urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3302"


def errors(resource: Any) -> list[tuple[str, str]]:
    return [(i.code, i.expression) for i in validate_resource(resource) if i.severity in ("error", "fatal")]


def warnings(resource: Any) -> list[Issue]:
    return [issue for issue in validate_resource(resource) if issue.severity == "warning"]


def patient(**changes: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", **changes}


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def test_full_url_must_be_absolute() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "Patient/1", "resource": patient()}],
    }
    assert errors(bundle) == [("invalid", "Bundle.entry[0]")]
    bundle["entry"][0]["fullUrl"] = "http://example.org/fhir/Patient/p1"
    assert errors(bundle) == []


def test_restful_full_url_names_the_resource() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "http://example.org/fhir/Patient/other", "resource": patient()}],
    }
    assert errors(bundle) == []
    assert [issue.expression for issue in warnings(bundle)] == ["Bundle.entry[0]"]


def test_duplicate_full_urls_in_a_transaction() -> None:
    bundle = transaction(post(UUID_A, patient()), post(UUID_A, patient(id="p2")))
    assert ("invariant", "Bundle") in errors(bundle)  # bdl-7


def test_transaction_urn_reference_must_name_an_entry() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": UUID_B},
    }
    bundle = transaction(
        post(UUID_A, patient()), post("urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3303", observation)
    )
    assert errors(bundle) == [("not-found", "Bundle.entry[1].resource.subject.reference")]
    observation["subject"]["reference"] = UUID_A
    assert errors(bundle) == []
    # In a collection, nothing says the reference must resolve inside the bundle.
    observation["subject"]["reference"] = UUID_B
    entries = [{key: value for key, value in entry.items() if key != "request"} for entry in bundle["entry"]]
    assert errors({**bundle, "type": "collection", "entry": entries}) == []


def test_link_relations() -> None:
    links = [
        {"relation": "self", "url": "http://x/Patient"},
        {"relation": "self", "url": "http://x/Patient?a=1"},
    ]
    searchset = {"resourceType": "Bundle", "type": "searchset", "link": links}
    assert errors(searchset) == [("invalid", "Bundle.link[1]")]
    document_links = [{"relation": "next", "url": "http://x/Patient?page=2"}]
    document = {"resourceType": "Bundle", "type": "collection", "link": document_links}
    assert errors(document) == [("invalid", "Bundle.link[0].relation")]


def test_search_set_entries() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": "http://x/fhir?_type=Observation,Condition"}],
        "entry": [
            {"fullUrl": "http://x/fhir/Patient/p1", "resource": patient(), "search": {"mode": "match"}},
            {"resource": {"resourceType": "Patient"}, "search": {"mode": "include"}},
            {"resource": patient(id="p3"), "search": {"mode": "outcome"}},
        ],
    }
    assert errors(bundle) == [
        ("invalid", "Bundle.entry[0].resource"),
        ("invalid", "Bundle.entry[2].resource"),
    ]
    bundle["entry"] = [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}}
    ]
    assert errors(bundle) == [("required", "Bundle.entry[0].resource")]


def coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    return patient(maritalStatus={"coding": [coding]})


def test_coding_system_rules() -> None:
    assert errors(coded("#local", "x")) == [("invalid", "Patient.maritalStatus.coding[0].system")]
    assert errors(coded("http://hl7.org/fhir/ValueSet/marital-status", "M")) == [
        ("invalid", "Patient.maritalStatus.coding[0].system")
    ]


def test_codes_of_code_systems_the_package_holds() -> None:
    system = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
    assert errors(coded(system, "M", "Married")) == []
    assert warnings(coded(system, "M", "Married")) == []
    # HL7's terminology grows apart from R4 (the package's copy is of 2019): an unknown code warns.
    assert errors(coded(system, "Q")) == []
    assert [issue.expression for issue in warnings(coded(system, "Q"))] == [
        "Patient.maritalStatus.coding[0].code"
    ]
    # FHIR's own code systems are fixed with R4: an unknown code is an error.
    fhir_system = "http://hl7.org/fhir/administrative-gender"
    assert errors(coded(fhir_system, "bogus")) == [("code-invalid", "Patient.maritalStatus.coding[0].code")]
    wrong = warnings(coded(system, "M", "Divorced"))
    assert [(issue.expression, "Married" in issue.diagnostics) for issue in wrong] == [
        ("Patient.maritalStatus.coding[0].display", True)
    ]
    # A code system the package does not hold is not judged.
    assert errors(coded("http://snomed.info/sct", "87915002")) == []


def test_attachment_size_and_hash() -> None:
    data = b"help i'm a bug"
    attachment = {"contentType": "text/plain", "data": base64.b64encode(data).decode(), "size": 100}
    assert errors(patient(photo=[attachment])) == [("structure", "Patient.photo[0].size")]
    attachment["size"] = len(data)
    attachment["hash"] = base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert errors(patient(photo=[attachment])) == []
    assert warnings(patient(photo=[attachment])) == []
    attachment["hash"] = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    assert [issue.expression for issue in warnings(patient(photo=[attachment]))] == ["Patient.photo[0].hash"]


def test_value_set_include_system_must_be_absolute() -> None:
    value_set = {"resourceType": "ValueSet", "status": "draft", "compose": {"include": [{"system": "#cs"}]}}
    assert errors(value_set) == [("invalid", "ValueSet.compose.include[0]")]
    value_set["compose"]["exclude"] = [{"system": "cs"}]
    value_set["compose"]["include"][0]["system"] = "http://example.org/cs"
    assert errors(value_set) == [("invalid", "ValueSet.compose.exclude[0]")]


DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
NATIONALITY = "http://hl7.org/fhir/StructureDefinition/patient-nationality"
LOCAL = "https://ehp.kz/fhir/StructureDefinition/local-thing"


def test_core_extension_value_types() -> None:
    link = {"url": "http://hl7.org/fhir/StructureDefinition/narrativeLink", "valueString": "#a"}
    assert errors(patient(extension=[link])) == [("structure", "Patient.extension[0]")]
    link = {"url": "http://hl7.org/fhir/StructureDefinition/narrativeLink", "valueUrl": "#a"}
    assert errors(patient(extension=[link])) == []
    complex_with_value = {"url": NATIONALITY, "valueCode": "KZ"}
    assert errors(patient(extension=[complex_with_value])) == [("structure", "Patient.extension[0]")]


def test_nested_extensions_of_a_core_complex_extension() -> None:
    code = {"url": "code", "valueCodeableConcept": {"text": "Kazakhstan"}}
    assert errors(patient(extension=[{"url": NATIONALITY, "extension": [code]}])) == []
    wrong = {"url": "code", "valueString": "KZ"}
    assert errors(patient(extension=[{"url": NATIONALITY, "extension": [wrong]}])) == [
        ("structure", "Patient.extension[0].extension[0]")
    ]
    unknown = {"url": "country", "valueString": "KZ"}
    assert errors(patient(extension=[{"url": NATIONALITY, "extension": [unknown]}])) == [
        ("structure", "Patient.extension[0].extension[0]")
    ]


def test_extension_context_is_a_warning() -> None:
    organization = {"resourceType": "Organization", "name": "Clinic"}
    nationality = {"url": NATIONALITY, "extension": [{"url": "code", "valueCodeableConcept": {"text": "KZ"}}]}
    found = validate_resource({**organization, "extension": [nationality]})
    assert [(i.severity, i.expression) for i in found if i.severity != "information"] == [
        ("warning", "Organization.extension[0]")
    ]


def test_versioned_and_relative_extension_urls() -> None:
    assert errors(patient(extension=[{"url": DAR + "|4.0.1", "valueCode": "unknown"}])) == [
        ("structure", "Patient.extension[0].url")
    ]
    assert errors(patient(extension=[{"url": "local-thing", "valueCode": "x"}])) == [
        ("structure", "Patient.extension[0].url")
    ]


def test_unknown_extension_policy() -> None:
    resource = patient(extension=[{"url": LOCAL, "valueString": "x"}])
    assert errors(resource) == []
    assert [issue.expression for issue in warnings(resource)] == ["Patient.extension[0]"]
    strict = validate_resource(resource, unknown_extensions="error")
    assert [(i.severity, i.expression) for i in strict if i.severity != "information"] == [
        ("error", "Patient.extension[0]")
    ]
    assert [
        i for i in validate_resource(resource, unknown_extensions="ignore") if i.severity == "warning"
    ] == []


def test_search_parameter_derived_from_an_official_one() -> None:
    derived = {
        "resourceType": "SearchParameter",
        "url": "http://ehp.kz/fhir/SearchParameter/org-name",
        "name": "name",
        "status": "active",
        "description": "A name",
        "code": "name",
        "base": ["Organization"],
        "type": "string",
        "expression": "Organization.name | Organization.alias",
        "derivedFrom": "http://hl7.org/fhir/SearchParameter/Organization-name",
    }
    assert errors(derived) == []
    assert errors({**derived, "type": "token"}) == [("invalid", "SearchParameter")]
    assert sorted(errors({**derived, "base": ["Patient"]})) == [
        ("invalid", "SearchParameter"),
        ("invalid", "SearchParameter.expression"),
        ("invalid", "SearchParameter.expression"),
    ]


def test_capability_statement_search_param_types() -> None:
    param = {"name": "clinical-status", "type": "token"}
    param["definition"] = "http://hl7.org/fhir/SearchParameter/AllergyIntolerance-clinical-status"
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-04",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementation": {"description": "EHP"},
        "rest": [{"mode": "server", "resource": [{"type": "AllergyIntolerance", "searchParam": [param]}]}],
    }
    assert errors(statement) == []
    param["type"] = "date"
    assert errors(statement) == [("invalid", "CapabilityStatement.rest[0].resource[0].searchParam[0]")]


def test_code_system_properties_and_codes() -> None:
    code_system: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "url": "http://ehp.kz/fhir/CodeSystem/test",
        "status": "draft",
        "content": "complete",
        "property": [
            {
                "code": "notSelectable",
                "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
                "type": "boolean",
            },
            {"code": "weight", "type": "decimal"},
        ],
        "concept": [
            {
                "code": "a",
                "property": [
                    {"code": "notSelectable", "valueBoolean": True},
                    {"code": "weight", "valueDecimal": 1.5},
                ],
            },
            {"code": "b", "concept": [{"code": "b1"}]},
        ],
    }
    assert errors(code_system) == []
    code_system["property"][0]["type"] = "dateTime"
    code_system["property"].append({"code": "weight", "type": "string"})
    code_system["concept"][1]["concept"].append({"code": "a"})
    code_system["concept"][0]["property"][1] = {"code": "weight", "valueInteger": 2}
    assert sorted(errors(code_system)) == [
        ("duplicate", "CodeSystem.concept[1].concept[1]"),
        ("invalid", "CodeSystem.concept[0].property[0]"),  # notSelectable is now declared a dateTime
        ("invalid", "CodeSystem.concept[0].property[1]"),
        ("invalid", "CodeSystem.property[0]"),
        ("invalid", "CodeSystem.property[2]"),
        ("invariant", "CodeSystem"),  # csd-1: codes are unique, as FHIRPath
    ]


def test_contained_resources_have_unique_ids() -> None:
    organization = {"resourceType": "Organization", "name": "Clinic"}
    holder = patient(contained=[organization], managingOrganization={"reference": "#"})
    assert errors(holder) == [("required", "Patient.contained[0]")]
    twins = [{**organization, "id": "o"}, {**organization, "id": "o", "name": "Other"}]
    holder = patient(contained=twins, managingOrganization={"reference": "#o"})
    assert errors(holder) == [("duplicate", "Patient.contained[1].id")]


def test_presence_only_invariants_are_remembered_by_what_is_present() -> None:
    """qty-3 (``code.empty() or system.exists()``) depends only on which elements are present; its
    remembered outcomes must follow the presence, in any order."""

    def weighed(quantity: dict[str, Any]) -> list[tuple[str, str]]:
        observation = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}}
        return errors({**observation, "valueQuantity": quantity})

    for _ in range(2):
        assert weighed({"value": 70, "code": "kg"}) == [("invariant", "Observation.valueQuantity")]
        assert weighed({"value": 70, "code": "kg", "system": "http://unitsofmeasure.org"}) == []
        assert weighed({"value": 70}) == []
        assert weighed({"value": 70, "system": "http://unitsofmeasure.org"}) == []


def test_value_set_filter_expressions_use_declared_parameters() -> None:
    parameter = {
        "url": "http://hl7.org/fhir/tools/StructureDefinition/valueset-parameter",
        "extension": [{"url": "name", "valueCode": "p-inactive"}],
    }

    def value_set(language: str, expression: str) -> dict[str, Any]:
        filtered = {
            "property": "inactive",
            "op": "=",
            "_value": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/cqf-expression",
                        "valueExpression": {"language": language, "expression": expression},
                    }
                ]
            },
        }
        include = {"system": "http://snomed.info/sct", "filter": [filtered]}
        return {
            "resourceType": "ValueSet",
            "status": "draft",
            "extension": [parameter],
            "compose": {"include": [include]},
        }

    assert errors(value_set("text/fhirpath", "%p-inactive")) == []
    for language, expression in [
        ("text/fhirpath", "%p-other"),
        ("text/fhirpath", "$ and %p-inactive"),
        ("text/cql", "%p-inactive"),
    ]:
        assert errors(value_set(language, expression)) == [
            ("invalid", "ValueSet.compose.include[0].filter[0]")
        ]


def test_operation_outcomes_list_the_most_severe_first() -> None:
    from ehp.fhir.issues import issues_to_operation_outcome

    found = validate_resource(
        {"resourceType": "Patient", "name": [{"period": {"start": "2020", "end": "2019"}}]}
    )
    severities = [issue["severity"] for issue in issues_to_operation_outcome(found)["issue"]]
    assert severities == sorted(severities, key=["fatal", "error", "warning", "information"].index)
    assert severities[0] == "error" and "information" in severities
