"""The access routes (added to the route table in ``api/routes.py``)."""

from __future__ import annotations

from ehp.access.log import access_log, break_glass_review
from ehp.api.routing import Route


def access_routes() -> list[Route]:
    return [
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
