"""read and vread (with conditional read: If-None-Match, If-Modified-Since)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from ehp.api.call import Call
from ehp.api.interactions.common import version_headers
from ehp.api.messages import FhirResponse
from ehp.api.operations import served_definition
from ehp.errors import gone, not_found
from ehp.fhir.primitives import is_whole_number
from ehp.store.versions import StoredVersion


def read(call: Call) -> FhirResponse:
    if call.type == "OperationDefinition":
        # EHP's own operations are defined by the code that serves them, not by stored data
        builtin = served_definition(call.id)
        if builtin is not None:
            return FhirResponse(200, resource=builtin)
    stored = call.store_reader.read(call.type, call.id)
    if stored is None:
        raise not_found(f"{call.type}/{call.id} is not known")
    return _respond(call, stored, f"{call.type}/{call.id} was deleted")


def vread(call: Call) -> FhirResponse:
    version = call.version_id or ""
    # a version id beyond any stored (or any 64-bit integer the database can compare) is unknown
    known = is_whole_number(version)
    stored = call.store_reader.vread(call.type, call.id, int(version)) if known else None
    if stored is None:
        raise not_found(f"{call.type}/{call.id} has no version '{version}'")
    return _respond(call, stored, f"version {version} of {call.type}/{call.id} is a delete")


def _respond(call: Call, stored: StoredVersion, deleted_message: str) -> FhirResponse:
    headers = version_headers(stored, call.base)
    if stored.content is None:
        failure = gone(deleted_message)
        failure.headers.update(headers)
        raise failure
    if _not_modified(call, stored):
        return FhirResponse(304, headers=headers, version=stored)
    return FhirResponse(200, body=stored.content, headers=headers, version=stored)


def _not_modified(call: Call, stored: StoredVersion) -> bool:
    if_none_match = call.request.header("if-none-match")
    if if_none_match is not None:
        return (
            stored.etag in {tag.strip() for tag in if_none_match.split(",")} or if_none_match.strip() == "*"
        )
    if_modified_since = call.request.header("if-modified-since")
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return stored.last_updated // 1_000_000 <= int(since.timestamp())
    return False
