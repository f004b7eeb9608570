"""The routes of the national registries' operations (added to the route table in ``routes.py``)."""

from __future__ import annotations

from ehp.api.interactions import attachment, coverage, duplicates, match, merge
from ehp.api.routing import Route


def registry_routes() -> list[Route]:
    return [
        Route("POST", "type-op", match.match, "read", operation="match"),
        Route("POST", "type-op", merge.merge, "write", operation="merge"),
        Route("POST", "instance-op", attachment.attach, "write", operation="attach"),
        Route("POST", "instance-op", attachment.detach, "write", operation="detach"),
        Route("GET", "instance-op", attachment.attached, "read", operation="attached"),
        Route("GET", "system-op", coverage.coverage_system, "read", operation="coverage"),
        Route("GET", "instance-op", coverage.coverage_instance, "read", operation="coverage"),
        Route("GET", "instance-op", duplicates.duplicates, "read", operation="duplicates"),
    ]
