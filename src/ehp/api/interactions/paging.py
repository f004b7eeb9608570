"""Bundle assembly and paging parameters shared by history and search."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from ehp.api.call import Call
from ehp.errors import bad_request
from ehp.fhir.primitives import is_whole_number
from ehp.store.clock import to_instant
from ehp.store.versions import StoredVersion


def page_size(call: Call) -> int:
    settings = call.service.settings
    raw = call.request.param("_count")
    if raw is None:
        return settings.default_page_size
    if not is_whole_number(raw):
        raise bad_request(f"_count must be a whole number, not '{raw}'", "_count")
    return min(int(raw), settings.max_page_size)


def int_param(call: Call, name: str) -> int | None:
    raw = call.request.param(name)
    if raw is None:
        return None
    if not is_whole_number(raw):
        raise bad_request(f"{name} must be a whole number, not '{raw}'", name)
    return int(raw)


def page_link(call: Call, relation: str, replace: dict[str, str]) -> dict[str, str]:
    """A link to this request's URL with some parameters replaced (``self``, ``next``...)."""
    query = [(name, value) for name, value in call.request.query if name not in replace]
    query.extend(replace.items())
    path = f"{call.base}/{call.request.path}" if call.request.path else call.base
    return {"relation": relation, "url": f"{path}?{urlencode(query)}" if query else path}


def embedded(content: bytes) -> orjson.Fragment:
    """A stored resource placed in a Bundle as it is, without parsing it again."""
    return orjson.Fragment(content)


def history_entry(call: Call, version: StoredVersion) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{call.base}/{version.resource_type}/{version.id}"}
    if version.content is not None:
        entry["resource"] = embedded(version.content)
    url = version.resource_type if version.method == "POST" else f"{version.resource_type}/{version.id}"
    entry["request"] = {"method": version.method, "url": url}
    status = {"POST": "201", "DELETE": "204"}.get(version.method, "200")
    entry["response"] = {
        "status": status,
        "etag": version.etag,
        "lastModified": to_instant(version.last_updated),
    }
    return entry
