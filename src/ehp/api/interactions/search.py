"""search at type level (GET and POST ``_search``): criteria, ``_count``, ``_total`` and stable paging.

Paging is by keyset on the store's row id, so a page boundary never skips or repeats a match
while others write.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl
from uuid import uuid4

from sqlalchemy import and_, false, func, select

from ehp.api.call import Call
from ehp.api.errors import bad_request
from ehp.api.interactions.paging import embedded, int_param, page_link, page_size
from ehp.api.messages import FhirResponse
from ehp.fhir.issues import Issue, issues_to_operation_outcome
from ehp.search.query import SearchError, criteria_clause, parse_criteria
from ehp.store.clock import now_micros, to_instant
from ehp.store.schema import resource_versions, resources

CURSOR = "_cursor"
FORM = "application/x-www-form-urlencoded"


def search_type(call: Call) -> FhirResponse:
    return _search(call)


def search_type_post(call: Call) -> FhirResponse:
    content_type = (call.request.header("content-type") or FORM).split(";")[0].strip()
    if content_type != FORM:
        raise bad_request(f"POST _search takes a '{FORM}' body, not '{content_type}'")
    body = (call.request.body or b"").decode("utf-8", errors="replace")
    call.request.query = [*call.request.query, *parse_qsl(body, keep_blank_values=True)]
    return _search(call)


def _search(call: Call) -> FhirResponse:
    reader = call.store_reader
    strict = call.request.prefer_handling == "strict"
    unknown: list[str] = []
    try:
        where = criteria_clause(
            reader.params, call.type, parse_criteria(call.request.query), strict=strict, unknown=unknown
        )
    except SearchError as failure:
        raise bad_request(str(failure), failure.param) from None
    count = page_size(call)
    after = int_param(call, CURSOR)
    matches = and_(resources.c.resource_type == call.type, resources.c.deleted == false(), where)
    statement = (
        select(resources.c.rid, resource_versions.c.id, resource_versions.c.content)
        .select_from(
            resources.join(
                resource_versions,
                and_(
                    resource_versions.c.rid == resources.c.rid,
                    resource_versions.c.version == resources.c.version,
                ),
            )
        )
        .where(matches, resources.c.rid > (after or 0))
        .order_by(resources.c.rid)
        .limit(count + 1)
    )
    rows = list(reader.query(statement)) if count > 0 else []
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{call.base}/{call.type}/{row.id}",
            "resource": embedded(row.content),
            "search": {"mode": "match"},
        }
        for row in rows[:count]
    ]
    if unknown:
        issues = [
            Issue(
                "warning", "not-supported", f"the search parameter '{name}' is not supported and was ignored"
            )
            for name in unknown
        ]
        entries.append({"resource": issues_to_operation_outcome(issues), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": to_instant(now_micros())},
        "type": "searchset",
    }
    if call.request.param("_total") == "accurate" or count == 0:
        total = reader.query(select(func.count()).select_from(resources).where(matches))
        bundle["total"] = total[0][0]
    links = [page_link(call, "self", {})]
    if len(rows) > count:
        links.append(page_link(call, "next", {CURSOR: str(rows[count - 1].rid)}))
    bundle["link"] = links
    bundle["entry"] = entries
    return FhirResponse(200, resource=bundle)
