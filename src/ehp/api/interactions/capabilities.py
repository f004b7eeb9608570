"""``GET metadata``: the CapabilityStatement, generated from the route table and the definitions."""

from __future__ import annotations

from functools import cache
from typing import Any

from ehp import __version__
from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.fhir.definitions import resource_types
from ehp.fhir.jsonio import dumps
from ehp.search.parameters import parameters_for

INSTANCE_INTERACTIONS = {
    ("GET", "instance"): "read",
    ("GET", "version"): "vread",
    ("PUT", "instance"): "update",
    ("PATCH", "instance"): "patch",
    ("DELETE", "instance"): "delete",
    ("GET", "instance-history"): "history-instance",
    ("GET", "type-history"): "history-type",
    ("POST", "type"): "create",
    ("GET", "type"): "search-type",
}
SUPPORTED_SEARCH_TYPES = frozenset({"token", "string", "reference", "date", "number", "quantity", "uri"})


def capabilities(call: Call) -> FhirResponse:
    return FhirResponse(200, body=_statement(call.base, call.service.settings.role, _route_keys(call)))


def _route_keys(call: Call) -> tuple[tuple[str, str, str | None], ...]:
    return tuple(sorted((r.method, r.shape, r.operation) for r in call.service.router.routes))


@cache
def _statement(base: str, role: str, routes: tuple[tuple[str, str, str | None], ...]) -> bytes:
    keys = {(method, shape) for method, shape, _ in routes}
    interactions = [{"code": code} for key, code in INSTANCE_INTERACTIONS.items() if key in keys]
    operations = sorted({op for _, _, op in routes if op})
    resources: list[dict[str, Any]] = []
    for resource_type in sorted(resource_types()):
        params = parameters_for(resource_type)
        resources.append(
            {
                "type": resource_type,
                "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": True,
                "updateCreate": True,
                "conditionalCreate": ("POST", "type") in keys,
                "conditionalRead": "full-support",
                "conditionalUpdate": ("PUT", "type") in keys,
                "conditionalDelete": "single" if ("DELETE", "type") in keys else "not-supported",
                "searchParam": [
                    {"name": code, "definition": p.url, "type": p.type}
                    for code, p in sorted(params.items())
                    if p.type in SUPPORTED_SEARCH_TYPES
                ],
                "operation": [
                    {"name": op, "definition": f"http://hl7.org/fhir/OperationDefinition/Resource-{op}"}
                    for op in operations
                ],
            }
        )
    system = [{"code": "transaction"}, {"code": "batch"}]
    if ("GET", "system-history") in keys:
        system.append({"code": "history-system"})
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-27",
        "publisher": "EHP",
        "kind": "instance",
        "software": {"name": f"EHP ({role})", "version": __version__},
        "implementation": {
            "description": f"EHP electronic health passport platform, {role} role",
            "url": base,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{"mode": "server", "resource": resources, "interaction": system}],
    }
    return dumps(statement)
