"""The FHIR core's routes: interactions, $validate, $reindex and the access log.

The whole table is composed in :mod:`ehp.server.routes` with the registries' and the passport's
operations, which sit above the API and declare their own routes as data.
"""

from __future__ import annotations

from ehp.api.interactions import bundle, create, delete, history, patch, read, search, update, validate
from ehp.api.interactions.access_log import access_log, break_glass_review
from ehp.api.interactions.capabilities import capabilities
from ehp.api.interactions.reindex import reindex_status, start_reindex
from ehp.api.routing import Route


def core_routes() -> list[Route]:
    return [
        Route("GET", "metadata", capabilities, "none", inline=True),
        Route("POST", "base", bundle.batch_or_transaction, "none"),
        Route("GET", "base", search.search_system, "read"),
        Route("POST", "system-search", search.search_system_post, "read"),
        Route("GET", "system-history", history.system_history, "read"),
        Route("GET", "type", search.search_type, "read"),
        Route("POST", "type-search", search.search_type_post, "read"),
        Route("POST", "type", create.create, "write"),
        Route("PUT", "type", update.conditional_update, "write"),
        Route("PATCH", "type", patch.conditional_patch, "write"),
        Route("DELETE", "type", delete.conditional_delete, "write"),
        Route("GET", "type-history", history.type_history, "read"),
        Route("GET", "instance", read.read, "read", inline=True),
        Route("PUT", "instance", update.update, "write"),
        Route("PATCH", "instance", patch.patch, "write"),
        Route("DELETE", "instance", delete.delete, "write"),
        Route("GET", "instance-history", history.instance_history, "read"),
        Route("GET", "version", read.vread, "read", inline=True),
        Route("GET", "compartment", search.search_compartment, "read"),
        Route("POST", "compartment-search", search.search_compartment_post, "read"),
        Route("POST", "system-op", validate.validate, "none", operation="validate"),
        Route("POST", "type-op", validate.validate, "none", operation="validate"),
        Route("POST", "instance-op", validate.validate, "none", operation="validate"),
        Route("POST", "system-op", start_reindex, "none", operation="reindex"),
        Route("POST", "type-op", start_reindex, "none", operation="reindex"),
        Route("GET", "system-op", reindex_status, "none", operation="reindex"),
        Route("GET", "type-op", reindex_status, "none", operation="reindex"),
        Route("GET", "instance-op", access_log, "read", operation="access-log", types=("Patient",)),
        Route(
            "GET",
            "instance-op",
            break_glass_review,
            "read",
            operation="break-glass-review",
            types=("Organization",),
        ),
    ]
