"""history at instance, type and system level: ``_since``, ``_at``, ``_count`` and stable paging."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from ehp.api.call import Call
from ehp.api.interactions.paging import history_entry, int_param, page_link, page_size
from ehp.api.messages import FhirResponse
from ehp.errors import bad_request, not_found
from ehp.index.normalization import date_range
from ehp.store.clock import now_micros, to_instant
from ehp.store.reads import HistoryQuery

CURSOR = "_cursor"
"""The paging parameter: continue with versions older than this change sequence number."""


def instance_history(call: Call) -> FhirResponse:
    return _history(call, call.resource_type, call.resource_id)


def type_history(call: Call) -> FhirResponse:
    return _history(call, call.resource_type, None)


def system_history(call: Call) -> FhirResponse:
    return _history(call, None, None)


def _history(call: Call, resource_type: str | None, resource_id: str | None) -> FhirResponse:
    query = HistoryQuery(
        resource_type=resource_type,
        resource_id=resource_id,
        since=_time(call, "_since")[0] if call.request.param("_since") else None,
        at=_time(call, "_at") if call.request.param("_at") else None,
        before_seq=int_param(call, CURSOR),
        count=page_size(call),
        visible=call.access.history_filter() if call.access and resource_id is None else None,
    )
    versions, more = call.store_reader.history(query)
    if resource_id is not None and not versions and call.store_reader.read(call.type, resource_id) is None:
        raise not_found(f"{call.type}/{resource_id} is not known")
    links = [page_link(call, "self", {})]
    if more and versions:
        links.append(page_link(call, "next", {CURSOR: str(versions[-1].seq)}))
    if call.access is not None:
        # after the paging link: the cursor follows the versions read, not only those shown
        versions = call.access.disclosed_versions(versions)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": to_instant(now_micros())},
        "type": "history",
        "link": links,
        "entry": [history_entry(call, version) for version in versions],
    }
    return FhirResponse(200, resource=bundle)


def _time(call: Call, name: str) -> tuple[int, int]:
    raw = call.request.param(name) or ""
    try:
        return date_range(raw)
    except ValueError:
        raise bad_request(f"{name} must be a FHIR date, dateTime or instant, not '{raw}'", name) from None
