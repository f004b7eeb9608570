"""``GET metadata``: the CapabilityStatement, generated from the route table and the definitions."""

from __future__ import annotations

from functools import cache
from typing import Any

from ehp import __version__
from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.api.operations import definition_url
from ehp.fhir.definitions import resource_types
from ehp.fhir.jsonio import dumps
from ehp.index.parameters import SearchParameter, overlay_generation, parameters_for
from ehp.search.compartments import compartment_types, compartment_url
from ehp.search.criteria import MODIFIERS
from ehp.store.clock import now_micros, to_instant

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
SEARCH_TYPES = frozenset(MODIFIERS) - {"words"}
WORDS = frozenset({"_text", "_content"})
STORE_COLUMNS = {"_id": "token", "_lastUpdated": "date"}
SYSTEM_PARAMETERS = ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_content", "_type")
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
LEVELS = ("system-op", "type-op", "instance-op")
RouteKey = tuple[str, str, str | None, tuple[str, ...] | None]
REINDEX_DOCUMENTATION = (
    "$reindex (POST [base]/$reindex or [base]/[type]/$reindex) puts the active custom SearchParameter "
    "resources into effect in a background job: 202 with Content-Location [base]/$reindex?job=ID, whose "
    "GET gives the progress; 409 while another job runs."
)
RESULT_DOCUMENTATION = (
    "Result parameters: _sort (several keys, -descending), _count, _total (none, estimate, accurate), "
    "_summary (true, text, data, count, false), _elements, _include and _revinclude (with :iterate and *), "
    "chains (ref.param, ref:Type.param, any depth) and _has (nested). "
    "Prefer: handling=strict makes unknown parameters an error (400) instead of being ignored and reported."
)


def _search_param(code: str, parameter: SearchParameter) -> dict[str, str] | None:
    """The searchParam entry of a parameter that really works, with its modifiers; None for the others."""
    if code in WORDS:
        kind = "words"
    elif code in STORE_COLUMNS:
        kind = STORE_COLUMNS[code]
    elif parameter.type in SEARCH_TYPES and parameter.expression is not None:
        kind = parameter.type
    else:
        return None
    modifiers = [m for m in MODIFIERS[kind] if code not in STORE_COLUMNS or m == "missing"]
    if code == "_id":
        modifiers.append("not")
    text = f"modifiers: {', '.join(':' + m for m in modifiers)}" if modifiers else "no modifiers"
    if parameter.type in ("date", "number", "quantity"):
        text += "; prefixes: eq, ne, gt, lt, ge, le, sa, eb, ap"
    return {"name": code, "definition": parameter.url, "type": parameter.type, "documentation": text}


@cache
def _revincludes(generation: int) -> dict[str, list[str]]:
    """Target resource type → the ``Source:parameter`` references that can point to it (``generation``
    of the custom search parameters keys the cache)."""
    found: dict[str, list[str]] = {}
    for source in sorted(resource_types()):
        for code, parameter in parameters_for(source).items():
            if parameter.type == "reference":
                for target in parameter.target:
                    found.setdefault(target, []).append(f"{source}:{code}")
    return found


def capabilities(call: Call) -> FhirResponse:
    secured = call.service.access is not None
    keys = _route_keys(call)
    statement = _statement(call.base, call.service.settings.role, keys, overlay_generation(), secured)
    return FhirResponse(200, body=statement)


def _route_keys(call: Call) -> tuple[RouteKey, ...]:
    return tuple(
        sorted(
            ((r.method, r.shape, r.operation, r.types) for r in call.service.router.routes),
            key=lambda key: (key[0], key[1], key[2] or "", key[3] or ()),
        )
    )


def _operations(routes: tuple[RouteKey, ...], resource_type: str | None) -> list[dict[str, str]]:
    """The operations served on ``resource_type`` (type or instance level; ``None``: the system)."""
    names = {
        operation
        for _, shape, operation, types in routes
        if operation is not None
        and shape in LEVELS
        and (
            shape == "system-op"
            if resource_type is None
            else shape != "system-op" and (types is None or resource_type in types)
        )
    }
    return [{"name": name, "definition": definition_url(name, resource_type)} for name in sorted(names)]


def _security(base: str) -> dict[str, Any]:
    """SMART on FHIR, with the OAuth endpoints (the SMART App Launch ``oauth-uris`` extension)."""
    origin = base.removesuffix("/fhir")
    return {
        "cors": False,
        "service": [
            {"coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}], "text": "SMART on FHIR"}
        ],
        "description": "OAuth 2.0 bearer tokens (SMART App Launch and Backend Services); discovery at "
        f"{origin}/.well-known/smart-configuration",
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {"url": "token", "valueUri": f"{origin}/auth/token"},
                    {"url": "authorize", "valueUri": f"{origin}/auth/authorize"},
                ],
            }
        ],
    }


@cache
def _statement(base: str, role: str, routes: tuple[RouteKey, ...], generation: int, secured: bool) -> bytes:
    """The statement; ``generation`` (of the custom search parameters) is part of the cache key, and
    its ``date`` is when it was generated: when the server started, or the search parameters changed."""
    keys = {(method, shape) for method, shape, _, _ in routes}
    interactions = [{"code": code} for key, code in INSTANCE_INTERACTIONS.items() if key in keys]
    operations = sorted({op for _, _, op, _ in routes if op})
    resources: list[dict[str, Any]] = []
    for resource_type in sorted(resource_types()):
        params = parameters_for(resource_type)
        if secured and resource_type == "AuditEvent":
            resources.append(_audit_event())
            continue
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
                "searchInclude": [
                    "*",
                    *(f"{resource_type}:{c}" for c, p in sorted(params.items()) if p.type == "reference"),
                ],
                "searchRevInclude": ["*", *_revincludes(generation).get(resource_type, [])],
                "searchParam": [
                    entry
                    for code, p in sorted(params.items())
                    if (entry := _search_param(code, p)) is not None
                ],
                "operation": _operations(routes, resource_type),
            }
        )
    system = [{"code": "transaction"}, {"code": "batch"}]
    if ("GET", "system-history") in keys:
        system.append({"code": "history-system"})
    if ("GET", "base") in keys:
        system.append({"code": "search-system"})
    patient = parameters_for("Patient")
    system_parameters = [
        {"name": "_type", "type": "token", "documentation": "resource types searched, comma-separated"}
        if code == "_type"
        else _search_param(code, patient[code])
        for code in SYSTEM_PARAMETERS
    ]
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": to_instant(now_micros()),
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
        "rest": [
            {
                "mode": "server",
                "documentation": f"{RESULT_DOCUMENTATION} {REINDEX_DOCUMENTATION}"
                if "reindex" in operations
                else RESULT_DOCUMENTATION,
                "resource": resources,
                "interaction": system,
                "searchParam": system_parameters,
                "operation": _operations(routes, None),
                "compartment": [compartment_url(code) for code in compartment_types()]
                if ("GET", "compartment") in keys
                else [],
            }
        ],
    }
    if secured:
        statement["rest"][0]["security"] = _security(base)
    return dumps(statement)


def _audit_event() -> dict[str, Any]:
    """With authentication on, AuditEvents are the audit trail's: searched by patient only (the
    citizen, their representatives, administrators) and written by no one through the API."""
    return {
        "type": "AuditEvent",
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "documentation": "The access log: AuditEvent?patient=Patient/ID (or Patient/ID/$access-log), "
        "read from the hash-chained audit trail; not writable through the API.",
        "interaction": [{"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchParam": [
            {
                "name": "patient",
                "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-patient",
                "type": "reference",
            }
        ],
    }
