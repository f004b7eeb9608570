"""``$validate``: check a resource against the R4 definitions without storing it.

``profile`` (a query parameter, or a Parameters ``profile`` of type uri/canonical) also checks it
against one profile: a core one (``http://hl7.org/fhir/StructureDefinition/bp``) or a
StructureDefinition stored here with that ``url`` (a ministry's national profile). An unknown
profile is refused (400): a caller asking for a profile must not take silence for conformance.
"""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.interactions.common import any_reader
from ehp.api.messages import FhirResponse
from ehp.api.profiles import requested_profile
from ehp.errors import bad_request
from ehp.fhir.issues import Issue, issues_to_operation_outcome
from ehp.fhir.profiles import Profile
from ehp.fhir.validation import validate_resource

MODES = ("create", "update", "delete")


def validate(call: Call) -> FhirResponse:
    body = call.body_resource()
    resource: Any = body
    mode = call.request.param("mode")
    profile_url = call.request.param("profile")
    if body["resourceType"] == "Parameters" and call.resource_type != "Parameters":
        resource, mode, profile_url = _from_parameters(body, mode, profile_url)
    if mode is not None and mode not in MODES:
        raise bad_request(f"mode must be one of {', '.join(MODES)}, not '{mode}'", "mode")
    if mode == "delete":
        return _outcome([])
    if call.resource_type is not None and resource.get("resourceType") != call.resource_type:
        raise bad_request(
            f"the resource is a {resource.get('resourceType')} but the URL is for {call.resource_type}",
            "resourceType",
        )
    profiles = [_profile(call, profile_url)] if profile_url else []
    issues = validate_resource(resource, profiles=profiles)
    if mode == "update" and resource.get("id") is None:
        issues = [*issues, Issue("error", "required", "an update needs the resource's id", "id")]
    if call.resource_id is not None and resource.get("id") not in (None, call.resource_id):
        issues = [*issues, Issue("error", "invalid", "the resource's id differs from the URL's id", "id")]
    return _outcome(issues)


def _profile(call: Call, url: str) -> Profile:
    return requested_profile(any_reader(call), url)


def _from_parameters(
    parameters: dict[str, Any], mode: str | None, profile: str | None
) -> tuple[Any, str | None, str | None]:
    resource: Any = None
    for parameter in parameters.get("parameter") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("name") == "resource":
            resource = parameter.get("resource")
        elif parameter.get("name") == "mode":
            mode = parameter.get("valueCode", mode)
        elif parameter.get("name") == "profile":
            profile = parameter.get("valueUri", parameter.get("valueCanonical", profile))
    if not isinstance(resource, dict):
        raise bad_request("the Parameters of $validate need a 'resource' parameter holding a resource")
    if profile is not None and not isinstance(profile, str):
        raise bad_request("the profile parameter of $validate is a uri", "profile")
    return resource, mode, profile


def _outcome(issues: list[Issue]) -> FhirResponse:
    return FhirResponse(200, resource=issues_to_operation_outcome(issues))
