"""The routes of the national registries' operations (added to the route table in ``routes.py``)."""

from __future__ import annotations

from ehp.access.route_policy import RoutePolicy
from ehp.api.routing import Route
from ehp.registry.operations import attachment, coverage, duplicates, match, merge

PATIENT = ("Patient",)
ORGANIZATION = ("Organization",)


def registry_routes() -> list[Route]:
    return [
        Route(
            "POST",
            "type-op",
            match.match,
            "read",
            operation="match",
            types=PATIENT,
            policy=RoutePolicy.ADMINISTRATION,
        ),
        Route(
            "POST",
            "type-op",
            merge.merge,
            "write",
            operation="merge",
            types=PATIENT,
            policy=RoutePolicy.ADMINISTRATION,
        ),
        Route(
            "POST",
            "instance-op",
            attachment.attach,
            "write",
            operation="attach",
            types=PATIENT,
            policy=RoutePolicy.REGISTRY,
        ),
        Route(
            "POST",
            "instance-op",
            attachment.detach,
            "write",
            operation="detach",
            types=PATIENT,
            policy=RoutePolicy.REGISTRY,
        ),
        Route(
            "GET",
            "instance-op",
            attachment.attached,
            "read",
            operation="attached",
            types=ORGANIZATION,
            policy=RoutePolicy.RECORDS,
        ),
        Route(
            "GET",
            "system-op",
            coverage.coverage_system,
            "read",
            operation="coverage",
            policy=RoutePolicy.ADMINISTRATION,
        ),
        Route(
            "GET",
            "instance-op",
            coverage.coverage_instance,
            "read",
            operation="coverage",
            types=ORGANIZATION,
            policy=RoutePolicy.REGISTRY,
        ),
        Route(
            "GET",
            "instance-op",
            duplicates.duplicates,
            "read",
            operation="duplicates",
            types=ORGANIZATION,
            policy=RoutePolicy.REGISTRY,
        ),
    ]
