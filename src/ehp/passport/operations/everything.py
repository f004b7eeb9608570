"""``GET Patient/{id}/$everything``: the patient's whole record, paged (see :mod:`ehp.passport.everything`).

Parameters (FHIR R4 OperationDefinition Patient-everything): ``start`` and ``end`` (dates of
care), ``_since`` (an instant: resources updated since), ``_type`` (comma-separated types),
``_count`` (page size) and the ``_cursor`` of the page links. Any other parameter, and any
malformed value, is a 400. The answer is a ``searchset`` Bundle: members of the record with
``search.mode = match``, the practitioners, organisations, locations and medications they refer to
with ``include``; ``next``/``previous`` links page through it with keyset cursors, so a page
boundary never repeats or skips a resource while others write.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

from ehp.api.call import Call
from ehp.api.interactions.paging import embedded
from ehp.api.messages import FhirResponse
from ehp.errors import Category, bad_request, error
from ehp.fhir.definitions import is_resource_type
from ehp.fhir.primitives import is_whole_number
from ehp.index.normalization import date_range
from ehp.passport.everything import RecordQuery, is_referenced, read_page
from ehp.passport.operations.patient_record import record_patient
from ehp.search.engine import SearchPage
from ehp.search.errors import SearchError
from ehp.search.query import Scope
from ehp.search.sorting import Cursor
from ehp.security.permissions import readable_types
from ehp.store.clock import now_micros, to_instant

CURSOR = "_cursor"
PARAMETERS = ("start", "end", "_since", "_type", "_count", CURSOR)
IGNORED = ("_format", "_pretty")


def everything(call: Call) -> FhirResponse:
    record_patient(call, "everything")
    values = _parameters(call)
    query = RecordQuery(
        call.id,
        start=_date(values, "start"),
        end=_date(values, "end"),
        since=_since(values),
        types=_readable(call, _types(values)),
        visible=call.access.search_filter() if call.access else None,
    )
    count = _count(call, values)
    try:
        cursor = Cursor.decode(values[CURSOR], 0) if CURSOR in values else None
    except SearchError as failure:
        raise bad_request(str(failure), CURSOR) from None
    reader = call.store_reader
    page = read_page(reader, Scope(reader.params, call.base), query, count, cursor)
    kept = [(name, values[name]) for name in PARAMETERS if name in values and name != CURSOR]
    return FhirResponse(200, resource=_bundle(call, kept, cursor, page))


def _parameters(call: Call) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in call.request.query:
        if name in IGNORED:
            continue
        if name not in PARAMETERS:
            raise bad_request(
                f"$everything has no parameter '{name}' (it takes {', '.join(PARAMETERS[:-1])})", name
            )
        if name in values:
            raise bad_request(f"'{name}' is given more than once", name)
        values[name] = value
    return values


def _date(values: dict[str, str], name: str) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    try:
        date_range(value)
    except ValueError:
        raise bad_request(
            f"{name} must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD), not '{value}'", name
        ) from None
    if "T" in value:
        raise bad_request(f"{name} must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD), not '{value}'", name)
    return value


def _since(values: dict[str, str]) -> int | None:
    value = values.get("_since")
    if value is None:
        return None
    try:
        return date_range(value)[0]
    except ValueError:
        raise bad_request(f"_since must be a FHIR instant, not '{value}'", "_since") from None


def _readable(call: Call, types: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """So that ``$everything`` with ``patient/Observation.rs`` is the patient's Observations."""
    allowed = readable_types(call.ctx, types)
    if allowed == ():
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            "the access token's scopes allow reading none of the record's types",
        )
    return allowed


def _types(values: dict[str, str]) -> tuple[str, ...] | None:
    value = values.get("_type")
    if value is None:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",")))
    unknown = [name for name in names if not is_resource_type(name)]
    if unknown or not names:
        raise bad_request(f"_type: '{','.join(unknown) or value}' is not a list of resource types", "_type")
    return names


def _count(call: Call, values: dict[str, str]) -> int:
    settings = call.service.settings
    value = values.get("_count")
    if value is None:
        return settings.default_page_size
    if not is_whole_number(value) or int(value) < 1:
        raise bad_request(f"_count must be a positive whole number, not '{value}'", "_count")
    return min(int(value), settings.max_page_size)


def _bundle(
    call: Call, kept: list[tuple[str, str]], cursor: Cursor | None, page: SearchPage
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": to_instant(now_micros())},
        "type": "searchset",
    }
    if page.total is not None:
        bundle["total"] = page.total
    links = [_link(call, "self", kept, cursor)]
    if page.previous is not None:
        links.append(_link(call, "previous", kept, page.previous))
    if page.next is not None:
        links.append(_link(call, "next", kept, page.next))
    bundle["link"] = links
    bundle["entry"] = [
        {
            "fullUrl": f"{call.base}/{row.resource_type}/{row.id}",
            "resource": embedded(row.content),
            "search": {"mode": "include" if is_referenced(row.resource_type) else "match"},
        }
        for row in page.matches
    ]
    return bundle


def _link(call: Call, relation: str, kept: list[tuple[str, str]], cursor: Cursor | None) -> dict[str, str]:
    parameters = [*kept, (CURSOR, cursor.encode())] if cursor is not None else kept
    url = f"{call.base}/Patient/{call.id}/$everything"
    return {"relation": relation, "url": f"{url}?{urlencode(parameters)}" if parameters else url}
