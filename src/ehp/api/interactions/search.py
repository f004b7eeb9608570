"""search at type, system and compartment level (GET, and POST ``_search`` with a form body).

The matching, sorting, paging and including is :mod:`ehp.search.engine`'s; this module reads the
HTTP side (``_type``, the compartment in the path, ``Prefer: handling``), shapes the resources
(``_summary``, ``_elements``) and builds the searchset Bundle with its page links. Parameters the
server ignored (lenient handling) are reported in an OperationOutcome entry and left out of the
links; with ``Prefer: handling=strict`` they are a 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode
from uuid import uuid4

from ehp.api.call import Call
from ehp.api.interactions.paging import embedded
from ehp.api.messages import FhirResponse
from ehp.errors import Category, bad_request, error, not_found
from ehp.fhir.definitions import is_resource_type, resource_types
from ehp.fhir.issues import Issue, issues_to_operation_outcome
from ehp.fhir.primitives import is_whole_number
from ehp.search.compartments import compartment_types, members
from ehp.search.engine import Compartment, SearchPage, SearchRequest, prepare, run
from ehp.search.includes import Row
from ehp.search.query import Scope
from ehp.search.summary import Shape, parse_shape, shape_resource
from ehp.store.clock import now_micros, to_instant

FORM = "application/x-www-form-urlencoded"
CURSOR = "_cursor"
ANY_TYPE = "*"


def search_type(call: Call) -> FhirResponse:
    return _search(call, (call.type,), call.type, call.request.query)


def search_type_post(call: Call) -> FhirResponse:
    return _search(call, (call.type,), call.type, _with_form(call))


def search_system(call: Call) -> FhirResponse:
    return _system(call, call.request.query)


def search_system_post(call: Call) -> FhirResponse:
    return _system(call, _with_form(call))


def search_compartment(call: Call) -> FhirResponse:
    return _compartment(call, call.request.query)


def search_compartment_post(call: Call) -> FhirResponse:
    return _compartment(call, _with_form(call))


def _with_form(call: Call) -> list[tuple[str, str]]:
    """The URL's parameters and those of the ``application/x-www-form-urlencoded`` body."""
    content_type = (call.request.header("content-type") or FORM).split(";")[0].strip()
    if content_type != FORM:
        raise bad_request(f"POST _search takes a '{FORM}' body, not '{content_type}'")
    body = (call.request.body or b"").decode("utf-8", errors="replace")
    return [*call.request.query, *parse_qsl(body, keep_blank_values=True)]


def _system(call: Call, query: list[tuple[str, str]]) -> FhirResponse:
    """``GET [base]?_type=A,B&...``: without ``_type``, every type (Resource-level parameters)."""
    named = [t.strip() for name, value in query if name == "_type" for t in value.split(",") if t.strip()]
    for name in named:
        if not is_resource_type(name):
            raise bad_request(f"_type: '{name}' is not a resource type", "_type")
    types = tuple(dict.fromkeys(named)) or tuple(sorted(resource_types()))
    criteria = [(name, value) for name, value in query if name != "_type"]
    kept = [("_type", ",".join(types))] if named else []
    return _search(call, types, "", criteria, all_types=not named, link_parameters=kept)


def _compartment(call: Call, query: list[tuple[str, str]]) -> FhirResponse:
    """``GET [base]/Patient/123/Observation?...`` (or ``/*``): a search within a compartment."""
    owner = call.type
    target = call.request.path.split("/")[2]
    if owner not in compartment_types():
        raise not_found(f"{owner} has no compartment (compartments: {', '.join(compartment_types())})")
    if target == ANY_TYPE:
        # only the types the token may search: Patient/ID/* with patient/Observation.rs is a
        # search of Observations
        types = tuple(sorted(t for t in members(owner) if call.ctx.may(t, "s")))
        if not types:
            raise error(
                Category.FORBIDDEN,
                "forbidden",
                f"the access token's scopes allow searching none of {owner}'s types",
            )
    elif is_resource_type(target):
        types = (target,)
        if not call.ctx.may(target, "s"):
            raise error(
                Category.FORBIDDEN, "forbidden", f"the access token's scopes do not allow searching {target}"
            )
    else:
        raise not_found(f"'{target}' is not a resource type this server knows")
    compartment = Compartment(owner, call.id)
    return _search(call, types, f"{owner}/{call.id}/{target}", query, compartment=compartment)


def _search(
    call: Call,
    types: tuple[str, ...],
    path: str,
    query: Sequence[tuple[str, str]],
    *,
    all_types: bool = False,
    compartment: Compartment | None = None,
    link_parameters: Sequence[tuple[str, str]] = (),
) -> FhirResponse:
    reader = call.store_reader
    scope = Scope(reader.params, call.base, call.access.inner_filter if call.access else None)
    shape = parse_shape(query)
    strict = call.request.prefer_handling == "strict"
    count = 0 if shape.summary == "count" else _page_size(call, query)
    access = call.access
    visible = access.search_filter(None if all_types else types) if access else None
    includes = any(name.partition(":")[0] in ("_include", "_revinclude") for name, _ in query)
    included_visible = access.search_filter() if access and includes else None
    request = prepare(
        scope,
        types,
        query,
        strict=strict,
        count=count,
        all_types=all_types,
        compartment=compartment,
        visible=visible,
        included_visible=included_visible,
    )
    if shape.summary == "count":
        request = replace(request, total="accurate")
    page = run(reader, scope, request, call.service.settings.max_page_size)
    if call.access:
        call.access.returned([*page.matches, *page.included])
    links = [*link_parameters, *request.used]
    return FhirResponse(200, resource=_bundle(call, path, links, request, page, shape))


def _page_size(call: Call, query: Sequence[tuple[str, str]]) -> int:
    settings = call.service.settings
    values = [value for name, value in query if name == "_count"]
    if not values:
        return settings.default_page_size
    if len(values) > 1 or not is_whole_number(values[0]):
        raise bad_request(f"_count must be one whole number, not '{','.join(values)}'", "_count")
    return min(int(values[0]), settings.max_page_size)


def _bundle(
    call: Call,
    path: str,
    kept: list[tuple[str, str]],
    request: SearchRequest,
    page: SearchPage,
    shape: Shape,
) -> dict[str, Any]:
    entries = [_entry(call, row, "match", shape) for row in page.matches]
    entries.extend(_entry(call, row, "include", shape) for row in page.included)
    issues = [
        Issue("warning", "not-supported", f"the search parameter '{name}' is not supported and was ignored")
        for name in request.unknown
    ]
    if page.truncated:
        issues.append(
            Issue(
                "warning", "too-costly", f"only the first {len(page.included)} included resources are given"
            )
        )
    if issues:
        entries.append({"resource": issues_to_operation_outcome(issues), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": to_instant(now_micros())},
        "type": "searchset",
    }
    if page.total is not None:
        bundle["total"] = page.total
    links = [_link(call, "self", path, kept, request.cursor.encode() if request.cursor else None)]
    if page.previous is not None:
        links.append(_link(call, "previous", path, kept, page.previous.encode()))
    if page.next is not None:
        links.append(_link(call, "next", path, kept, page.next.encode()))
    bundle["link"] = links
    bundle["entry"] = entries
    return bundle


def _entry(call: Call, row: Row, mode: str, shape: Shape) -> dict[str, Any]:
    resource: Any = embedded(row.content) if shape.whole else shape_resource(row.content, shape)
    return {
        "fullUrl": f"{call.base}/{row.resource_type}/{row.id}",
        "resource": resource,
        "search": {"mode": mode},
    }


def _link(
    call: Call, relation: str, path: str, query: list[tuple[str, str]], cursor: str | None
) -> dict[str, str]:
    parameters = [*query, (CURSOR, cursor)] if cursor is not None else query
    url = f"{call.base}/{path}" if path else call.base
    return {"relation": relation, "url": f"{url}?{urlencode(parameters)}" if parameters else url}
