"""Pieces shared by the interactions: validation, version headers, write responses, conditions."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.api.profiles import UnknownProfile, profile_by_url
from ehp.api.rules import apply_rules
from ehp.errors import Category, FhirError, bad_request, error
from ehp.fhir.definitions import is_resource_type
from ehp.fhir.issues import Issue, issues_to_operation_outcome
from ehp.fhir.profiles import Profile
from ehp.fhir.validation import validate_resource
from ehp.search.errors import SearchError
from ehp.search.query import find_ids
from ehp.store.clock import to_http_date
from ehp.store.errors import VersionConflict
from ehp.store.store import StoreReader
from ehp.store.versions import StoredVersion
from ehp.store.writes import WriteTransaction

_ETAG = re.compile(r'^\s*(?:W/)?"?([0-9]+)"?\s*$')


def require_valid(call: Call, resource: dict[str, Any]) -> None:
    """Refuse (422) a resource with any error-level issue against the R4 definitions and the
    profiles its type must conform to (``EHP_REQUIRED_PROFILES``)."""
    if call.request.validated:
        return
    issues = validate_resource(resource, profiles=required_profiles(call, str(resource.get("resourceType"))))
    errors = [issue for issue in issues if issue.severity in ("error", "fatal")]
    if errors:
        raise FhirError(Category.UNPROCESSABLE, errors)


def any_reader(call: Call) -> StoreReader | WriteTransaction:
    """The call's session, or a reader for routes that open none ($validate, transactions, which
    take their own write lock later) but must look up a conformance resource."""
    return call.reader if call.reader is not None else call.service.store.reader(call.ctx)


def required_profiles(call: Call, resource_type: str) -> list[Profile]:
    """The profiles writes of ``resource_type`` must conform to; one that cannot be found refuses
    the write (503-free: a 422 naming it), since accepting would break the ministry's rule."""
    urls = call.service.settings.required_profiles.get(resource_type, ())
    found: list[Profile] = []
    for url in urls:
        try:
            found.append(profile_by_url(any_reader(call), url))
        except UnknownProfile as failure:
            raise FhirError(
                Category.UNPROCESSABLE,
                [
                    Issue(
                        "error",
                        "not-found",
                        f"{resource_type} must conform to {url}: {failure}",
                        resource_type,
                    )
                ],
            ) from None
    return found


def check_rules(call: Call, resource_id: str, resource: dict[str, Any]) -> None:
    """The server's business rules for this resource type (see ``ehp.api.rules``); conditional
    references are resolved first."""
    body = call.request.body
    may_hold = not call.request.references_resolved and (body is None or b"?" in body)
    # a REST body without any '?' holds no conditional reference: no walk of the resource on
    # every write (the walk costs about 57 µs a resource, measured in the import's profile)
    if may_hold and resolve_conditional_references(call, resource):
        call.request.index_rows = None
    if apply_rules(call.service.rules, call.write_tx, call.type, resource_id, resource):
        call.request.index_rows = None


def resolve_conditional_references(call: Call, resource: dict[str, Any]) -> bool:
    """Replace each conditional reference (``Practitioner?identifier=...``) of a PUT, a POST or a
    batch entry by the one resource it matches among those the caller may see (422 when it
    matches none or several), each distinct one searched once per request; whether any was.
    (A transaction resolves its own before its entries run, so none is left here.)"""
    holders = [h for h in reference_holders(resource, []) if is_conditional_reference(h["reference"])]
    if not holders:
        return False
    visible = call.access.inner_filter if call.access is not None else None
    found: dict[str, str] = {}
    for holder in holders:
        reference = holder["reference"]
        if reference not in found:
            resource_type, _, query = reference.partition("?")
            if not is_resource_type(resource_type):
                raise bad_request(f"the conditional reference '{reference[:200]}' names no resource type")
            try:
                ids = find_ids(
                    call.write_tx, resource_type, parse_qsl(query, keep_blank_values=True), 2, visible
                )
            except SearchError as failure:
                raise bad_request(f"the conditional reference '{reference[:200]}': {failure}") from None
            if len(ids) != 1:
                how = "no resource" if not ids else "more than one resource"
                raise error(
                    Category.UNPROCESSABLE,
                    "not-found",
                    f"the conditional reference '{reference[:200]}' matches {how}",
                )
            found[reference] = f"{resource_type}/{ids[0]}"
        holder["reference"] = found[reference]
    return True


def reference_holders(value: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every object with a ``reference`` string in a resource (Reference elements)."""
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            found.append(value)
        for item in value.values():
            if isinstance(item, dict | list):
                reference_holders(item, found)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                reference_holders(item, found)
    return found


def is_conditional_reference(reference: str) -> bool:
    return "?" in reference and not reference.startswith(("http:", "https:", "urn:"))


def version_headers(stored: StoredVersion, base: str) -> dict[str, str]:
    return {
        "ETag": stored.etag,
        "Last-Modified": to_http_date(stored.last_updated),
        "Content-Location": f"{base}/{stored.location}",
    }


def write_response(call: Call, stored: StoredVersion, status: int, message: str) -> FhirResponse:
    """The answer to a write, shaped by ``Prefer: return=...``."""
    headers = version_headers(stored, call.base)
    if status == 201:
        headers["Location"] = headers["Content-Location"]
    preference = call.request.prefer_return
    if preference == "minimal" or stored.content is None:
        return FhirResponse(status, headers=headers, version=stored)
    if preference == "OperationOutcome":
        outcome = issues_to_operation_outcome([Issue("information", "informational", message)])
        return FhirResponse(status, resource=outcome, headers=headers, version=stored)
    return FhirResponse(status, body=stored.content, headers=headers, version=stored)


def expected_version(call: Call) -> int | None:
    """The version named by ``If-Match``, or ``None`` without the header."""
    header = call.request.header("if-match")
    if header is None:
        return None
    matched = _ETAG.match(header)
    if matched is None:
        raise bad_request(f"If-Match '{header}' is not a version ETag like W/\"3\"")
    return int(matched.group(1))


def check_version(call: Call, current: StoredVersion | None) -> None:
    """``If-Match``: the current version must be the one the client read (412 otherwise)."""
    expected = expected_version(call)
    if expected is None:
        return
    if current is None or current.deleted:
        raise VersionConflict(f'If-Match W/"{expected}" given but {call.type}/{call.id} does not exist')
    if current.version != expected:
        raise VersionConflict(
            f"{current.resource_type}/{current.id} is at version {current.version}, not {expected}: "
            "it was changed since you read it"
        )


def conditional_matches(call: Call, resource_type: str, query: list[tuple[str, str]], what: str) -> list[str]:
    """Ids of the resources a conditional interaction's criteria select, of those the caller may
    see: a match the caller may not see is no match, so the answer tells nothing about it."""
    criteria = [(name, value) for name, value in query if name not in ("_format", "_pretty")]
    if not criteria:
        raise bad_request(f"a conditional {what} needs search criteria")
    visible = call.access.inner_filter if call.access is not None else None
    return find_ids(call.store_reader, resource_type, criteria, limit=2, visible=visible)


def if_none_exist_criteria(header: str) -> list[tuple[str, str]]:
    _, _, query = header.rpartition("?")
    return parse_qsl(query, keep_blank_values=True)


def too_many(what: str) -> FhirError:
    return error(
        Category.PRECONDITION_FAILED, "multiple-matches", f"the {what} criteria match more than one resource"
    )
