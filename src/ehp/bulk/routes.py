"""The routes of Bulk Data export (added in ``server/routes.py``)."""

from __future__ import annotations

from ehp.access.route_policy import RoutePolicy
from ehp.api.routing import Route
from ehp.bulk import operations
from ehp.bulk.export import EXPORT


def bulk_routes() -> list[Route]:
    kick_off = [
        Route(
            "POST", "system-op", operations.kick_off, "read", operation=EXPORT, policy=RoutePolicy.BULK_EXPORT
        ),
        Route(
            "POST",
            "type-op",
            operations.kick_off,
            "read",
            operation=EXPORT,
            types=("Patient",),
            policy=RoutePolicy.BULK_EXPORT,
        ),
        Route(
            "POST",
            "instance-op",
            operations.kick_off,
            "read",
            operation=EXPORT,
            types=("Group",),
            policy=RoutePolicy.BULK_EXPORT,
        ),
    ]
    jobs = [
        Route(
            "GET",
            "system-op",
            operations.status,
            "none",
            operation=operations.STATUS,
            policy=RoutePolicy.BULK_JOBS,
        ),
        Route(
            "DELETE",
            "system-op",
            operations.delete,
            "none",
            operation=operations.STATUS,
            policy=RoutePolicy.BULK_JOBS,
        ),
        Route(
            "GET",
            "system-op",
            operations.download,
            "none",
            operation=operations.FILE,
            policy=RoutePolicy.BULK_JOBS,
        ),
    ]
    imports = [
        Route(
            "POST",
            "system-op",
            operations.import_kick_off,
            "none",
            operation="import",
            policy=RoutePolicy.BULK_IMPORT,
        ),
        Route(
            "GET",
            "system-op",
            operations.import_status,
            "none",
            operation=operations.IMPORT_STATUS,
            policy=RoutePolicy.BULK_JOBS,
        ),
        Route(
            "DELETE",
            "system-op",
            operations.import_delete,
            "none",
            operation=operations.IMPORT_STATUS,
            policy=RoutePolicy.BULK_JOBS,
        ),
        Route(
            "GET",
            "system-op",
            operations.import_download,
            "none",
            operation=operations.IMPORT_FILE,
            policy=RoutePolicy.BULK_JOBS,
        ),
    ]
    return kick_off + jobs + imports
