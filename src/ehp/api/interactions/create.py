"""create, with conditional create (``If-None-Exist``)."""

from __future__ import annotations

from uuid import uuid4

from ehp.api.call import Call
from ehp.api.interactions.common import (
    check_rules,
    conditional_matches,
    if_none_exist_criteria,
    require_valid,
    too_many,
    version_headers,
    write_response,
)
from ehp.api.messages import FhirResponse


def create(call: Call) -> FhirResponse:
    resource = call.body_resource(call.type)
    condition = call.request.header("if-none-exist")
    if condition is not None:
        matches = conditional_matches(call, call.type, if_none_exist_criteria(condition), "create")
        if len(matches) > 1:
            raise too_many("If-None-Exist")
        if matches:
            existing = call.write_tx.current(call.type, matches[0])
            assert existing is not None
            headers = version_headers(existing, call.base)
            headers["Location"] = headers["Content-Location"]
            if call.request.prefer_return == "minimal" or existing.content is None:
                return FhirResponse(200, headers=headers, version=existing)
            return FhirResponse(200, body=existing.content, headers=headers, version=existing)
    require_valid(call, resource)
    resource_id = call.request.assigned_id or str(uuid4())
    check_rules(call, resource_id, resource)
    stored = call.write_tx.write(
        call.type, resource_id, resource, "POST", fresh_id=True, index=call.request.index_rows
    )
    return write_response(call, stored, 201, f"created {stored.resource_type}/{stored.id}")
