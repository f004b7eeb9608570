"""batch and transaction Bundles posted to the base URL.

A transaction runs in one store transaction, in the spec's order (DELETE, POST, PUT/PATCH,
GET/HEAD), after giving every created resource its id so that ``urn:uuid:`` and other ``fullUrl``
references between entries, and conditional references (``Patient?identifier=...``), can be
rewritten to ``Type/id``. Any failure rolls the whole Bundle back. A batch runs each entry on its
own and reports each entry's outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from uuid import uuid4

from ehp.api.call import Call
from ehp.api.interactions.common import (
    if_none_exist_criteria,
    is_conditional_reference,
    reference_holders,
    required_profiles,
)
from ehp.api.interactions.paging import embedded
from ehp.api.messages import FhirRequest, FhirResponse
from ehp.api.routing import shape_of
from ehp.errors import Category, FhirError, bad_request, error
from ehp.fhir.issues import Issue
from ehp.fhir.profiles import check_profile
from ehp.fhir.validation import validate_resource
from ehp.index.extract import extract_index
from ehp.search.query import InnerFilter, find_ids
from ehp.store.clock import now_micros, to_instant
from ehp.store.errors import ConcurrentWrite, VersionConflict
from ehp.store.writes import WriteTransaction

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
TRANSACTION_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
STATUS_TEXT = {
    200: "200 OK",
    201: "201 Created",
    204: "204 No Content",
    304: "304 Not Modified",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    409: "409 Conflict",
    410: "410 Gone",
    412: "412 Precondition Failed",
    415: "415 Unsupported Media Type",
    422: "422 Unprocessable Entity",
    500: "500 Internal Server Error",
}
_ENTRY_EXPRESSION = re.compile(r"Bundle\.entry\[(\d+)\]")
_HEADER_FIELDS = {
    "ifMatch": "if-match",
    "ifNoneExist": "if-none-exist",
    "ifNoneMatch": "if-none-match",
    "ifModifiedSince": "if-modified-since",
}


@dataclass(slots=True)
class Entry:
    index: int
    request: FhirRequest
    full_url: str | None
    resource: Any
    target: tuple[str, str] | None = None
    """The Type/id an entry writes, once known."""
    response: FhirResponse | None = field(default=None)
    _holders: list[dict[str, Any]] | None = None

    def reference_holders(self) -> list[dict[str, Any]]:
        """The objects of the resource with a ``reference`` string, found by one walk of it."""
        if self._holders is None:
            self._holders = reference_holders(self.resource, [])
        return self._holders


def batch_or_transaction(call: Call) -> FhirResponse:
    bundle = call.body_resource("Bundle")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise bad_request(
            f"POST to the base takes a batch or transaction Bundle, not '{kind}'", "Bundle.type"
        )
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise bad_request("Bundle.entry must be an array", "Bundle.entry")
    if len(raw_entries) > call.service.settings.max_bundle_entries:
        raise error(
            Category.TOO_LARGE,
            "too-costly",
            f"a Bundle may hold at most {call.service.settings.max_bundle_entries} entries",
        )
    entries = [_entry(call, index, raw) for index, raw in enumerate(raw_entries)]
    if kind == "batch":
        for entry in entries:
            entry.response = call.service.handle(call.ctx, entry.request, call.base)
        return _response_bundle("batch-response", entries)
    _require_valid_transaction(call, bundle, entries)
    links = _prepare(entries)
    try:
        with call.service.store.transaction(call.ctx) as tx:
            _run_transaction(call, tx, entries, links)
    except (VersionConflict, ConcurrentWrite) as failure:
        why = Category.PRECONDITION_FAILED if isinstance(failure, VersionConflict) else Category.CONFLICT
        raise error(why, "conflict", str(failure)) from None
    return _response_bundle("transaction-response", entries)


def _entry(call: Call, index: int, raw: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"entry {index} is not an object", where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise bad_request(f"entry {index} has no request", f"{where}.request")
    method, url = request.get("method"), request.get("url")
    if method not in METHODS:
        raise bad_request(
            f"entry {index}: request.method must be one of {', '.join(METHODS)}", f"{where}.request.method"
        )
    if not isinstance(url, str) or not url:
        raise bad_request(f"entry {index} has no request.url", f"{where}.request.url")
    if url.startswith(call.base + "/"):
        url = url[len(call.base) + 1 :]
    headers = {
        header: request[key] for key, header in _HEADER_FIELDS.items() if isinstance(request.get(key), str)
    }
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise bad_request(f"entry {index}: a {method} needs a resource", f"{where}.resource")
    full_url = raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None
    return Entry(index, FhirRequest.from_url(method, url, headers, resource), full_url, resource)


def _require_valid_transaction(call: Call, bundle: dict[str, Any], entries: list[Entry]) -> None:
    """The whole Bundle validated once, its entries' resources with it: the Bundle rules (unique
    fullUrls, ``urn:uuid:`` references that name an entry...) as well as each resource's own, and
    the profiles their types must conform to (``EHP_REQUIRED_PROFILES``). An issue inside an
    entry names the entry, as a refusal of that entry alone would."""
    issues = [issue for issue in validate_resource(bundle) if issue.is_error]
    for written in entries:
        if isinstance(written.resource, dict) and written.request.method in ("POST", "PUT"):
            profiled: list[Issue] = []
            for profile in required_profiles(call, str(written.resource.get("resourceType"))):
                check_profile(written.resource, profile, profiled, f"Bundle.entry[{written.index}].resource")
            issues.extend(issue for issue in profiled if issue.is_error)
    if issues:
        by_index = {entry.index: entry for entry in entries}
        described: list[Issue] = []
        for issue in issues:
            found = _ENTRY_EXPRESSION.match(issue.expression or "")
            entry = by_index.get(int(found.group(1))) if found else None
            if entry is not None:
                issue = _in_entry(FhirError(Category.UNPROCESSABLE, [issue]), entry).issues[0]
            described.append(issue)
        raise FhirError(Category.UNPROCESSABLE, described)
    for entry in entries:
        if entry.resource is not None and entry.request.method in ("POST", "PUT"):
            entry.request.validated = True


def _prepare(entries: list[Entry]) -> dict[str, str] | None:
    """The work that needs no database, done before the transaction takes the write lock.

    Every resource is validated. When no entry is conditional, ids are assigned, references
    rewritten and index rows extracted here too, and the links are returned; otherwise that
    waits for the transaction (``None``), where the conditions are evaluated consistently.
    """
    written = [e for e in entries if e.resource is not None and e.request.method in ("POST", "PUT")]
    for entry in written:
        if entry.request.validated:
            continue
        issues = [issue for issue in validate_resource(entry.resource) if issue.is_error]
        if issues:
            raise _in_entry(FhirError(Category.UNPROCESSABLE, issues), entry)
        entry.request.validated = True
    if any(_is_conditional(entry) for entry in entries):
        return None
    links = _assign_targets(None, entries)
    for entry in written:
        _rewrite_references(None, entry, links)
        entry.request.index_rows = extract_index(entry.resource)
        entry.request.references_resolved = True  # none is conditional (checked above)
    return links


def _is_conditional(entry: Entry) -> bool:
    request = entry.request
    if request.header("if-none-exist") is not None:
        return True
    if request.method in ("PUT", "PATCH", "DELETE") and request.query:
        return True
    return any(is_conditional_reference(holder["reference"]) for holder in entry.reference_holders())


def _run_transaction(
    call: Call, tx: WriteTransaction, entries: list[Entry], links: dict[str, str] | None
) -> None:
    if links is None:
        # the conditions see only what the caller may see: a match it may not see is no match
        visible = call.access.inner_filter if call.access is not None else None
        links = _assign_targets(tx, entries, visible)
        for entry in entries:
            if entry.resource is not None and entry.request.method in ("POST", "PUT"):
                _rewrite_references(tx, entry, links, visible)
                entry.request.references_resolved = True
    # One query for the current versions of every resource the entries change, not one each.
    tx.preload([e.target for e in entries if e.target is not None and e.request.assigned_id is None])
    for entry in sorted(entries, key=lambda e: TRANSACTION_ORDER[e.request.method]):
        try:
            response = call.service.handle_in(tx, entry.request, call.base)
        except FhirError as failure:
            raise _in_entry(failure, entry) from None
        entry.response = response


def _assign_targets(
    tx: WriteTransaction | None, entries: list[Entry], visible: InnerFilter | None = None
) -> dict[str, str]:
    """Give each written resource its Type/id and map every fullUrl to it."""
    links: dict[str, str] = {}
    targets: dict[tuple[str, str], int] = {}
    for entry in entries:
        request = entry.request
        if request.method in ("GET", "HEAD"):
            continue
        shape, resource_type, resource_id, _, _ = shape_of(request.path)
        if resource_type is None:
            continue
        if request.method == "POST" and shape == "type":
            resource_id = _existing_match(tx, entry, resource_type, request.header("if-none-exist"), visible)
            if resource_id is None:
                resource_id = str(uuid4())
                request.assigned_id = resource_id
        elif shape == "type" and request.query:
            found = find_ids(_inside(tx), resource_type, request.query, limit=2, visible=visible)
            resource_id = found[0] if len(found) == 1 else None
            if resource_id is None and not found:
                body_id = (entry.resource or {}).get("id")
                resource_id = body_id if isinstance(body_id, str) else str(uuid4())
                request.assigned_id = resource_id
        if resource_id is None:
            continue
        key = (resource_type, resource_id)
        if key in targets and request.method != "POST":
            raise bad_request(
                f"entries {targets[key]} and {entry.index} both change {resource_type}/{resource_id}",
                f"Bundle.entry[{entry.index}]",
            )
        targets[key] = entry.index
        entry.target = key
        if entry.full_url:
            links[entry.full_url] = f"{resource_type}/{resource_id}"
    return links


def _existing_match(
    tx: WriteTransaction | None,
    entry: Entry,
    resource_type: str,
    condition: str | None,
    visible: InnerFilter | None,
) -> str | None:
    if condition is None:
        return None
    criteria = if_none_exist_criteria(condition)
    found = find_ids(_inside(tx), resource_type, criteria, limit=2, visible=visible)
    if len(found) > 1:
        raise _in_entry(
            error(
                Category.PRECONDITION_FAILED,
                "multiple-matches",
                "the If-None-Exist criteria match more than one resource",
            ),
            entry,
        )
    return found[0] if found else None


def _rewrite_references(
    tx: WriteTransaction | None, entry: Entry, links: dict[str, str], visible: InnerFilter | None = None
) -> None:
    """Replace references to other entries' fullUrls, and conditional references, with Type/id."""
    for holder in entry.reference_holders():
        reference = holder["reference"]
        if reference in links:
            holder["reference"] = links[reference]
        elif is_conditional_reference(reference):
            holder["reference"] = _resolve_conditional(tx, entry, reference, visible)


def _resolve_conditional(
    tx: WriteTransaction | None, entry: Entry, reference: str, visible: InnerFilter | None
) -> str:
    resource_type, _, query = reference.partition("?")
    criteria = parse_qsl(query, keep_blank_values=True)
    found = find_ids(_inside(tx), resource_type, criteria, limit=2, visible=visible)
    if len(found) != 1:
        how = "no resource" if not found else "more than one resource"
        raise _in_entry(
            error(
                Category.PRECONDITION_FAILED,
                "not-found",
                f"the conditional reference '{reference}' matches {how}",
            ),
            entry,
        )
    return f"{resource_type}/{found[0]}"


def _in_entry(failure: FhirError, entry: Entry) -> FhirError:
    issues = [
        Issue(
            issue.severity,
            issue.code,
            f"entry {entry.index} ({entry.request.method} {entry.request.path}): {issue.diagnostics}",
            issue.expression or f"Bundle.entry[{entry.index}]",
        )
        for issue in failure.issues
    ]
    return FhirError(failure.category, issues, failure.headers)


def _response_bundle(kind: str, entries: list[Entry]) -> FhirResponse:
    out: list[dict[str, Any]] = []
    for entry in entries:
        response = entry.response
        assert response is not None
        result: dict[str, Any] = {"status": STATUS_TEXT.get(response.status, str(response.status))}
        version = response.version
        if version is not None:
            result["location"] = version.location
            result["etag"] = version.etag
            result["lastModified"] = version.last_updated_instant
        item: dict[str, Any] = {}
        if response.body is not None:
            item["resource"] = embedded(response.body)
        elif response.resource is not None:
            if response.resource.get("resourceType") == "OperationOutcome":
                result["outcome"] = response.resource
            else:
                item["resource"] = response.resource
        item["response"] = result
        out.append(item)
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": to_instant(now_micros())},
        "type": kind,
        "entry": out,
    }
    return FhirResponse(200, resource=bundle)


def _inside(tx: WriteTransaction | None) -> WriteTransaction:
    """The transaction a conditional entry is resolved in (conditions are never prepared outside)."""
    assert tx is not None, "conditional entries are resolved inside the transaction"
    return tx
