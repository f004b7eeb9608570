"""The FHIR core's routes: interactions, $validate, $reindex and the access log.

The whole table is composed in :mod:`ehp.server.routes` with the registries' and the passport's
operations, which sit above the API and declare their own routes as data.
"""

from __future__ import annotations

from ehp.access.route_policy import RoutePolicy
from ehp.api.interactions import bundle, create, delete, history, patch, read, search, update, validate
from ehp.api.interactions.access_log import access_log, break_glass_review
from ehp.api.interactions.capabilities import capabilities
from ehp.api.interactions.reindex import reindex_status, start_reindex
from ehp.api.routing import Route


def core_routes() -> list[Route]:
    return [
        Route("GET", "metadata", capabilities, "none", inline=True, policy=RoutePolicy.PUBLIC),
        Route("POST", "base", bundle.batch_or_transaction, "none", policy=RoutePolicy.ENTRIES),
        Route("GET", "base", search.search_system, "read", policy=RoutePolicy.RECORDS),
        Route("POST", "system-search", search.search_system_post, "read", policy=RoutePolicy.RECORDS),
        Route("GET", "system-history", history.system_history, "read", policy=RoutePolicy.RECORDS),
        Route("GET", "type", search.search_type, "read", policy=RoutePolicy.RECORDS),
        Route("POST", "type-search", search.search_type_post, "read", policy=RoutePolicy.RECORDS),
        Route("POST", "type", create.create, "write", policy=RoutePolicy.WRITES),
        Route("PUT", "type", update.conditional_update, "write", policy=RoutePolicy.WRITES),
        Route("PATCH", "type", patch.conditional_patch, "write", policy=RoutePolicy.WRITES),
        Route("DELETE", "type", delete.conditional_delete, "write", policy=RoutePolicy.WRITES),
        Route("GET", "type-history", history.type_history, "read", policy=RoutePolicy.RECORDS),
        Route("GET", "instance", read.read, "read", inline=True, policy=RoutePolicy.RECORDS),
        Route("PUT", "instance", update.update, "write", policy=RoutePolicy.WRITES),
        Route("PATCH", "instance", patch.patch, "write", policy=RoutePolicy.WRITES),
        Route("DELETE", "instance", delete.delete, "write", policy=RoutePolicy.WRITES),
        Route("GET", "instance-history", history.instance_history, "read", policy=RoutePolicy.RECORDS),
        Route("GET", "version", read.vread, "read", inline=True, policy=RoutePolicy.RECORDS),
        Route("GET", "compartment", search.search_compartment, "read", policy=RoutePolicy.RECORDS),
        Route(
            "POST", "compartment-search", search.search_compartment_post, "read", policy=RoutePolicy.RECORDS
        ),
        Route(
            "POST",
            "system-op",
            validate.validate,
            "none",
            operation="validate",
            policy=RoutePolicy.CONTENT_ONLY,
        ),
        Route(
            "POST",
            "type-op",
            validate.validate,
            "none",
            operation="validate",
            policy=RoutePolicy.CONTENT_ONLY,
        ),
        Route(
            "POST",
            "instance-op",
            validate.validate,
            "none",
            operation="validate",
            policy=RoutePolicy.CONTENT_ONLY,
        ),
        Route(
            "POST", "system-op", start_reindex, "none", operation="reindex", policy=RoutePolicy.ADMINISTRATION
        ),
        Route(
            "POST", "type-op", start_reindex, "none", operation="reindex", policy=RoutePolicy.ADMINISTRATION
        ),
        Route(
            "GET", "system-op", reindex_status, "none", operation="reindex", policy=RoutePolicy.ADMINISTRATION
        ),
        Route(
            "GET", "type-op", reindex_status, "none", operation="reindex", policy=RoutePolicy.ADMINISTRATION
        ),
        Route(
            "GET",
            "instance-op",
            access_log,
            "read",
            operation="access-log",
            types=("Patient",),
            policy=RoutePolicy.AUDIT_LOG,
        ),
        Route(
            "GET",
            "instance-op",
            break_glass_review,
            "read",
            operation="break-glass-review",
            types=("Organization",),
            policy=RoutePolicy.RECORDS,
        ),
    ]
