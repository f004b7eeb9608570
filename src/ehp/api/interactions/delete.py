"""delete and conditional delete. A delete is a version; deleting a deleted resource changes nothing."""

from __future__ import annotations

from ehp.api.call import Call
from ehp.api.interactions.common import check_version, conditional_matches, too_many, version_headers
from ehp.api.messages import FhirResponse
from ehp.errors import not_found
from ehp.fhir.issues import Issue, issues_to_operation_outcome


def delete(call: Call) -> FhirResponse:
    tx = call.write_tx
    current = tx.current(call.type, call.id)
    if current is None:
        raise not_found(f"{call.type}/{call.id} is not known")
    check_version(call, current)
    if current.deleted:
        return _deleted(call, f"{call.type}/{call.id} was already deleted", {})
    stored = tx.write(call.type, call.id, None, "DELETE")
    response = _deleted(call, f"deleted {call.type}/{call.id}", version_headers(stored, call.base))
    response.version = stored
    return response


def conditional_delete(call: Call) -> FhirResponse:
    matches = conditional_matches(call, call.type, call.request.query, "delete")
    if len(matches) > 1:
        raise too_many("conditional delete")
    if not matches:
        return _deleted(call, "no resource matches the criteria: nothing deleted", {})
    call.resource_id = matches[0]
    return delete(call)


def _deleted(call: Call, message: str, headers: dict[str, str]) -> FhirResponse:
    headers.pop("Content-Location", None)
    if call.request.prefer_return == "OperationOutcome":
        outcome = issues_to_operation_outcome([Issue("information", "informational", message)])
        return FhirResponse(200, resource=outcome, headers=headers)
    return FhirResponse(204, headers=headers)
