"""update (update-as-create with the client's id included) and conditional update."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from ehp.api.call import Call
from ehp.api.interactions.common import (
    check_rules,
    check_version,
    conditional_matches,
    require_valid,
    too_many,
    write_response,
)
from ehp.api.messages import FhirResponse
from ehp.errors import bad_request


def update(call: Call) -> FhirResponse:
    resource = call.body_resource(call.type)
    body_id = resource.get("id")
    if body_id is None:
        raise bad_request("an update must carry the resource's id in the body", "id")
    if body_id != call.id:
        raise bad_request(f"the body's id '{body_id}' differs from the URL's id '{call.id}'", "id")
    return put(call, resource, call.id)


def conditional_update(call: Call) -> FhirResponse:
    resource = call.body_resource(call.type)
    matches = conditional_matches(call, call.type, call.request.query, "update")
    if len(matches) > 1:
        raise too_many("conditional update")
    body_id = resource.get("id")
    if matches:
        if body_id is not None and body_id != matches[0]:
            raise bad_request(
                f"the body's id '{body_id}' differs from the id '{matches[0]}' the criteria select", "id"
            )
        return put(call, resource, matches[0])
    if body_id is None:
        resource_id = call.request.assigned_id or str(uuid4())
    elif isinstance(body_id, str):
        resource_id = body_id
    else:
        raise bad_request("the resource's id must be a string", "id")
    return put(call, resource, resource_id)


def put(call: Call, resource: dict[str, Any], resource_id: str) -> FhirResponse:
    require_valid(call, resource)
    tx = call.write_tx
    current = tx.current(call.type, resource_id)
    call.resource_id = resource_id
    check_version(call, current)
    check_rules(call, resource_id, resource)
    stored = tx.write(call.type, resource_id, resource, "PUT", index=call.request.index_rows)
    created = current is None or current.deleted
    return write_response(
        call, stored, 201 if created else 200, f"{'created' if created else 'updated'} {stored.location}"
    )
