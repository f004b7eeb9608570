"""The routes of the passport's operations on a patient's record (added in ``routes.py``)."""

from __future__ import annotations

from ehp.access.route_policy import RoutePolicy
from ehp.api.routing import Route
from ehp.passport.operations import everything, summary


def passport_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "instance-op",
            everything.everything,
            "read",
            operation="everything",
            types=("Patient",),
            policy=RoutePolicy.RECORDS,
        ),
        Route(
            "GET",
            "instance-op",
            summary.summary,
            "read",
            operation="summary",
            types=("Patient",),
            policy=RoutePolicy.RECORDS,
            answers_with=("Composition",),
        ),
    ]
