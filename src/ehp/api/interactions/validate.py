"""``$validate``: check a resource against the R4 definitions without storing it."""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.errors import bad_request
from ehp.fhir.issues import Issue, issues_to_operation_outcome
from ehp.fhir.validation import validate_resource

MODES = ("create", "update", "delete")


def validate(call: Call) -> FhirResponse:
    body = call.body_resource()
    resource: Any = body
    mode = call.request.param("mode")
    if body["resourceType"] == "Parameters" and call.resource_type != "Parameters":
        resource, mode = _from_parameters(body, mode)
    if mode is not None and mode not in MODES:
        raise bad_request(f"mode must be one of {', '.join(MODES)}, not '{mode}'", "mode")
    if mode == "delete":
        return _outcome([])
    if call.resource_type is not None and resource.get("resourceType") != call.resource_type:
        raise bad_request(
            f"the resource is a {resource.get('resourceType')} but the URL is for {call.resource_type}",
            "resourceType",
        )
    issues = validate_resource(resource)
    if mode == "update" and resource.get("id") is None:
        issues = [*issues, Issue("error", "required", "an update needs the resource's id", "id")]
    if call.resource_id is not None and resource.get("id") not in (None, call.resource_id):
        issues = [*issues, Issue("error", "invalid", "the resource's id differs from the URL's id", "id")]
    return _outcome(issues)


def _from_parameters(parameters: dict[str, Any], mode: str | None) -> tuple[Any, str | None]:
    resource: Any = None
    for parameter in parameters.get("parameter") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("name") == "resource":
            resource = parameter.get("resource")
        elif parameter.get("name") == "mode":
            mode = parameter.get("valueCode", mode)
    if not isinstance(resource, dict):
        raise bad_request("the Parameters of $validate need a 'resource' parameter holding a resource")
    return resource, mode


def _outcome(issues: list[Issue]) -> FhirResponse:
    return FhirResponse(200, resource=issues_to_operation_outcome(issues))
