"""An OpenAPI 3.0 description of the FHIR API, generated from the route table.

Served at ``GET /fhir/api-docs`` (where HAPI FHIR serves its own), for API tooling and for the
fuzz suite (``tests/api/test_fuzz.py``, schemathesis): each route becomes one operation per
resource type it serves, with the query parameters that shape or select results and a JSON body
where the interaction takes one. ``?types=Patient,Observation`` limits it to some types (the whole
R4 catalogue makes some two thousand operations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ehp.api.routing import Route, Shape
from ehp.fhir.definitions import resource_types
from ehp.index.parameters import parameters_for

RESULT_PARAMETERS = ("_count", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude")
SEARCH_PARAMETERS_PER_TYPE = 8
"""The type's own search parameters listed (all of them would swell the document, not the test)."""
FHIR_JSON = "application/fhir+json"
PATHS: dict[Shape, str] = {
    "base": "/",
    "metadata": "/metadata",
    "system-search": "/_search",
    "system-history": "/_history",
    "system-op": "/${operation}",
    "type": "/{type}",
    "type-search": "/{type}/_search",
    "type-history": "/{type}/_history",
    "type-op": "/{type}/${operation}",
    "instance": "/{type}/{{id}}",
    "instance-history": "/{type}/{{id}}/_history",
    "version": "/{type}/{{id}}/_history/{{vid}}",
    "instance-op": "/{type}/{{id}}/${operation}",
    "compartment": "/{type}/{{id}}/{{compartment}}",
    "compartment-search": "/{type}/{{id}}/{{compartment}}/_search",
}
TYPELESS = frozenset({"base", "metadata", "system-search", "system-history", "system-op"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def openapi_document(
    routes: Sequence[Route], base: str, types: Sequence[str] | None = None
) -> dict[str, Any]:
    chosen = [t for t in (types or sorted(resource_types()))]
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        for resource_type in [None] if route.shape in TYPELESS else _served(route, chosen):
            path = PATHS[route.shape].format(type=resource_type, operation=route.operation)
            operation = _operation(route, resource_type)
            paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "EHP FHIR R4 API", "version": "4.0.1"},
        "servers": [{"url": base}],
        "paths": paths,
    }


def _served(route: Route, chosen: Sequence[str]) -> list[str]:
    if route.shape.startswith("compartment"):
        return [t for t in chosen if t == "Patient"]
    return [t for t in chosen if route.types is None or t in route.types]


def _operation(route: Route, resource_type: str | None) -> dict[str, Any]:
    name = route.operation or route.shape
    operation: dict[str, Any] = {
        "operationId": f"{route.method.lower()}-{resource_type or 'system'}-{name}".replace("$", ""),
        "parameters": _path_parameters(route) + _query_parameters(route, resource_type),
        "responses": {"default": {"description": "A FHIR resource or an OperationOutcome"}},
    }
    if route.method in BODY_METHODS:
        media = "application/json-patch+json" if route.method == "PATCH" else FHIR_JSON
        if route.shape.endswith("search"):
            media = "application/x-www-form-urlencoded"
        schema: dict[str, Any] = (
            {"type": "array", "items": {"type": "object"}}
            if route.method == "PATCH"
            else {
                "type": "object",
                "additionalProperties": True,
            }
        )
        operation["requestBody"] = {"required": False, "content": {media: {"schema": schema}}}
    return operation


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    names = {
        "instance": ["id"],
        "instance-history": ["id"],
        "version": ["id", "vid"],
        "instance-op": ["id"],
        "compartment": ["id", "compartment"],
        "compartment-search": ["id", "compartment"],
    }.get(route.shape, [])
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _query_parameters(route: Route, resource_type: str | None) -> list[dict[str, Any]]:
    if route.method not in ("GET", "DELETE", "PUT", "PATCH") or route.shape in ("metadata", "instance"):
        return []
    names = list(RESULT_PARAMETERS) if route.method == "GET" else []
    if resource_type is not None and route.shape in ("type", "compartment"):
        names += sorted(parameters_for(resource_type))[:SEARCH_PARAMETERS_PER_TYPE]
    if route.shape in ("base", "system-search"):
        names.append("_type")
    if "history" in route.shape:
        names = ["_count", "_since", "_at"]
    return [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]
