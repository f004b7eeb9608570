"""The route table: which interaction answers which method and URL shape."""

from __future__ import annotations

from ehp.access.routes import access_routes
from ehp.api.interactions import bundle, create, delete, history, patch, read, search, update, validate
from ehp.api.interactions.capabilities import capabilities
from ehp.api.interactions.reindex import reindex_status, start_reindex
from ehp.api.passport_routes import passport_routes
from ehp.api.registry_routes import registry_routes
from ehp.api.routing import Route


def build_routes() -> list[Route]:
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
        *registry_routes(),
        Route("POST", "system-op", start_reindex, "none", operation="reindex"),
        Route("POST", "type-op", start_reindex, "none", operation="reindex"),
        Route("GET", "system-op", reindex_status, "none", operation="reindex"),
        Route("GET", "type-op", reindex_status, "none", operation="reindex"),
        *passport_routes(),
        *access_routes(),
    ]
