"""patch with JSON Patch (RFC 6902): as ``application/json-patch+json``, or in a Bundle as a Binary."""

from __future__ import annotations

import base64
from typing import Any

import jsonpatch

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
from ehp.errors import Category, FhirError, bad_request, error, gone, not_found
from ehp.fhir.issues import Issue
from ehp.fhir.jsonio import JsonError, loads

JSON_PATCH = "application/json-patch+json"


def patch(call: Call) -> FhirResponse:
    operations = _patch_document(call)
    tx = call.write_tx
    current = tx.current(call.type, call.id)
    if current is None:
        raise not_found(f"{call.type}/{call.id} is not known")
    if current.content is None:
        raise gone(f"{call.type}/{call.id} was deleted")
    check_version(call, current)
    resource = loads(current.content)
    try:
        patched = jsonpatch.apply_patch(resource, operations, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as failure:
        raise error(Category.UNPROCESSABLE, "processing", f"the patch cannot be applied: {failure}") from None
    if (
        not isinstance(patched, dict)
        or patched.get("resourceType") != call.type
        or patched.get("id") != call.id
    ):
        raise error(Category.UNPROCESSABLE, "processing", "a patch must not change the resource's type or id")
    require_valid(call, patched)
    check_rules(call, call.id, patched)
    stored = tx.write(call.type, call.id, patched, "PATCH")
    return write_response(call, stored, 200, f"patched {stored.location}")


def conditional_patch(call: Call) -> FhirResponse:
    matches = conditional_matches(call, call.type, call.request.query, "patch")
    if len(matches) > 1:
        raise too_many("conditional patch")
    if not matches:
        raise not_found("no resource matches the conditional patch criteria")
    call.resource_id = matches[0]
    return patch(call)


def _patch_document(call: Call) -> list[Any]:
    request = call.request
    if request.resource is not None:
        document = _from_binary(request.resource)
    else:
        content_type = (request.header("content-type") or "").split(";")[0].strip()
        if content_type != JSON_PATCH:
            raise FhirError(
                Category.UNSUPPORTED_MEDIA_TYPE,
                [
                    Issue(
                        "error",
                        "not-supported",
                        f"PATCH takes '{JSON_PATCH}'; '{content_type or 'none'}' is not supported",
                    )
                ],
            )
        document = call.body_json()
    if not isinstance(document, list) or not all(isinstance(op, dict) for op in document):
        raise bad_request("a JSON Patch document is an array of operation objects")
    return document


def _from_binary(resource: Any) -> Any:
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise bad_request("a PATCH entry of a Bundle carries a Binary with a JSON Patch document")
    if resource.get("contentType") != JSON_PATCH:
        raise FhirError(
            Category.UNSUPPORTED_MEDIA_TYPE,
            [Issue("error", "not-supported", f"the Binary's contentType must be '{JSON_PATCH}'")],
        )
    try:
        return loads(base64.b64decode(resource.get("data", ""), validate=True))
    except (ValueError, JsonError) as failure:
        raise bad_request(f"the Binary's data is not a base64 JSON Patch document: {failure}") from None
