"""Operations are declared once, as data: routes, the CapabilityStatement and OperationDefinitions
all come from the same declarations (real HTTP to a running server)."""

from __future__ import annotations

from typing import Any

import httpx

from ehp.api.operations import BY_CODE, OFFICIAL, definition_url
from ehp.fhir.validation import validate_resource
from ehp.server.routes import build_routes

OFFICIAL_URLS = {
    "everything": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    "match": "http://hl7.org/fhir/OperationDefinition/Patient-match",
    "summary": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary",
    "validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
}


def test_every_operation_route_has_a_definition_of_its_levels_and_types() -> None:
    routes = [route for route in build_routes() if route.operation is not None]
    assert routes
    for route in routes:
        assert route.operation is not None
        url = definition_url(route.operation)
        if route.operation in OFFICIAL:
            continue
        definition = BY_CODE[route.operation]
        level = {
            "system-op": definition.system,
            "type-op": definition.type,
            "instance-op": definition.instance,
        }
        assert level[route.shape], f"${route.operation} is routed at {route.shape} but not defined there"
        if route.types is not None:
            assert set(route.types) <= set(definition.resource), route.operation
        assert url == f"http://ehp.kz/fhir/OperationDefinition/{definition.id}"


def _resource(statement: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(r for r in statement["rest"][0]["resource"] if r["type"] == resource_type)


def test_the_capability_statement_lists_operations_only_where_they_are_served(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    patient = {o["name"]: o["definition"] for o in _resource(statement, "Patient")["operation"]}
    organization = {o["name"] for o in _resource(statement, "Organization")["operation"]}
    observation = {o["name"] for o in _resource(statement, "Observation")["operation"]}
    assert {"everything", "summary", "match", "merge", "attach", "detach", "access-log", "validate"} <= set(
        patient
    )
    assert {name: patient[name] for name in OFFICIAL_URLS} == OFFICIAL_URLS
    assert {"attached", "coverage", "duplicates", "break-glass-review"} <= organization
    assert organization.isdisjoint({"everything", "attach", "summary"})
    assert observation == {"validate", "reindex"}, "only what every type serves"
    system = {o["name"]: o["definition"] for o in statement["rest"][0]["operation"]}
    bulk = {"export", "export-poll-status", "export-file", "import", "import-poll-status", "import-file"}
    assert set(system) == {"validate", "coverage", "reindex"} | bulk
    assert system["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
    assert patient["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
    group = {o["name"]: o["definition"] for o in _resource(statement, "Group")["operation"]}
    assert group["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
    assert statement["date"] >= "2026-12-03", "the date the statement was made, not a constant"
    assert statement["software"]["version"]
    assert "security" not in statement["rest"][0], "this server runs with --auth none"


def test_ehps_own_operation_definitions_are_served_and_valid(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    own = {
        o["definition"]
        for r in statement["rest"][0]["resource"]
        for o in r["operation"]
        if o["definition"].startswith("http://ehp.kz/")
    }
    assert len(own) >= 8
    for url in sorted(own):
        answer = fhir.get(f"OperationDefinition/{url.rsplit('/', 1)[1]}")
        assert answer.status_code == 200, url
        definition = answer.json()
        assert definition["url"] == url
        assert [i for i in validate_resource(definition) if i.is_error] == []
    assert fhir.get("OperationDefinition/no-such-operation").status_code == 404


def test_an_operation_on_a_type_that_does_not_serve_it_is_not_found(fhir: httpx.Client) -> None:
    for method, path in (
        ("GET", "Observation/x/$everything"),
        ("POST", "Organization/x/$attach"),
        ("GET", "Patient/x/$attached"),
        ("POST", "Encounter/$match"),
    ):
        answer = fhir.request(method, path, json={"resourceType": "Parameters"} if method == "POST" else None)
        assert answer.status_code == 404, (path, answer.text)
        assert "is an operation on" in answer.json()["issue"][0]["diagnostics"]
