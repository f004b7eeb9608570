"""From a request's method and path to the interaction that handles it.

The routes are data: the same table serves REST calls, Bundle entries and the CapabilityStatement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ehp.access.route_policy import RoutePolicy
from ehp.api.messages import FhirRequest, FhirResponse
from ehp.errors import Category, FhirError, bad_request, error, not_found
from ehp.fhir.definitions import is_resource_type
from ehp.scopes import Permission

if TYPE_CHECKING:
    from ehp.api.call import Call

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")

Shape = Literal[
    "base",
    "metadata",
    "system-search",
    "system-history",
    "system-op",
    "type",
    "type-search",
    "type-history",
    "type-op",
    "instance",
    "instance-history",
    "version",
    "instance-op",
    "compartment",
    "compartment-search",
]
Session = Literal["none", "read", "write"]
Handler = Callable[["Call"], FhirResponse]

PERMISSIONS: dict[tuple[str, Shape], Permission] = {
    ("GET", "instance"): "r",
    ("GET", "version"): "r",
    ("GET", "instance-history"): "r",
    ("POST", "type"): "c",
    ("PUT", "instance"): "u",
    ("PUT", "type"): "u",
    ("PATCH", "instance"): "u",
    ("PATCH", "type"): "u",
    ("DELETE", "instance"): "d",
    ("DELETE", "type"): "d",
}
"""SMART permissions of the interactions; every other route that reads data needs ``s``."""
AUDIT_SUBTYPES: dict[Shape, str] = {
    "instance": "read",
    "version": "vread",
    "instance-history": "history-instance",
    "type-history": "history-type",
    "system-history": "history-system",
    "type": "search-type",
    "type-search": "search-type",
    "base": "search-system",
    "system-search": "search-system",
    "compartment": "search-compartment",
    "compartment-search": "search-compartment",
}
"""AuditEvent subtypes (FHIR's restful-interaction codes) of the read interactions."""
WRITE_SUBTYPES = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
WRITE_ACTIONS = {"POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    shape: Shape
    handler: Handler
    session: Session
    operation: str | None = None
    types: tuple[str, ...] | None = None
    """The resource types a type- or instance-level operation serves (``None``: every type); its
    definition is :func:`ehp.api.operations.definition_url` of ``operation``."""
    inline: bool = False
    """Short and bounded (a primary-key read): run on the event loop, not in a worker thread.

    Handing a request to a thread and back costs more than such a read itself."""
    policy: RoutePolicy | None = None
    """How the authorizer treats it; a route that declares none is refused, never served."""
    answers_with: tuple[str, ...] = ()
    """Types every answer holds (``$summary``: a Composition): their read scope is checked up
    front with the route's own permission, on the token alone, before anything is read."""

    @property
    def permission(self) -> Permission | None:
        """The SMART permission it needs on its resource type (``None``: it reads nothing stored
        itself, or, for a Bundle, each entry is checked as its own request)."""
        if self.policy in (
            RoutePolicy.PUBLIC,
            RoutePolicy.CONTENT_ONLY,
            RoutePolicy.ENTRIES,
            RoutePolicy.BULK_EXPORT,
            RoutePolicy.BULK_IMPORT,
            RoutePolicy.BULK_JOBS,
        ):
            return None
        return PERMISSIONS.get((self.method, self.shape), "s")

    @property
    def audit_subtype(self) -> str:
        """The AuditEvent subtype of a call of it."""
        if self.operation:
            return f"operation:{self.operation}"
        if self.policy is RoutePolicy.ENTRIES:
            return "batch"
        if self.session == "write":
            return WRITE_SUBTYPES[self.method]
        return AUDIT_SUBTYPES.get(self.shape, self.shape)

    @property
    def audit_action(self) -> str:
        """The AuditEvent action code: C, R, U, D, or E for operations and Bundles."""
        if self.operation or self.policy is RoutePolicy.ENTRIES:
            return "E"
        return WRITE_ACTIONS[self.method] if self.session == "write" else "R"


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    resource_type: str | None = None
    resource_id: str | None = None
    version_id: str | None = None


def shape_of(path: str) -> tuple[Shape, str | None, str | None, str | None, str | None]:
    """Split a path into its shape, resource type, id, version and operation name."""
    segments = path.split("/") if path else []
    count = len(segments)
    if count == 0:
        return "base", None, None, None, None
    first = segments[0]
    if count == 1:
        if first == "metadata":
            return "metadata", None, None, None, None
        if first == "_history":
            return "system-history", None, None, None, None
        if first == "_search":
            return "system-search", None, None, None, None
        if first.startswith("$"):
            return "system-op", None, None, None, first[1:]
        return "type", first, None, None, None
    second = segments[1]
    if count == 2:
        if second == "_search":
            return "type-search", first, None, None, None
        if second == "_history":
            return "type-history", first, None, None, None
        if second.startswith("$"):
            return "type-op", first, None, None, second[1:]
        return "instance", first, second, None, None
    third = segments[2]
    if count == 3 and third == "_history":
        return "instance-history", first, second, None, None
    if count == 3 and third.startswith("$"):
        return "instance-op", first, second, None, third[1:]
    if count == 3:
        return "compartment", first, second, None, None
    if count == 4 and third == "_history":
        return "version", first, second, segments[3], None
    if count == 4 and segments[3] == "_search":
        return "compartment-search", first, second, None, None
    raise not_found(f"no FHIR interaction is found at '{path}'")


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._table = {(route.method, route.shape, route.operation): route for route in routes}

    def match(self, request: FhirRequest) -> Match:
        shape, resource_type, resource_id, version_id, operation = shape_of(request.path)
        if resource_type is not None and not is_resource_type(resource_type):
            raise not_found(f"'{resource_type}' is not a resource type this server knows")
        if resource_id is not None and not ID_PATTERN.fullmatch(resource_id):
            raise bad_request(f"'{resource_id}' is not a valid resource id ([A-Za-z0-9-.]{{1,64}})")
        method = "GET" if request.method == "HEAD" else request.method
        route = self._table.get((method, shape, operation))
        if route is None and operation is not None and method == "GET":
            route = self._table.get(("POST", shape, operation))
            if route is not None and not _idempotent(route):
                route = None
        if route is None:
            raise self._not_allowed(request, shape, operation)
        if route.types is not None and resource_type not in route.types:
            served = " or ".join(route.types)
            raise not_found(f"${operation} is an operation on {served}, not on {resource_type}")
        return Match(route, resource_type, resource_id, version_id)

    def _not_allowed(self, request: FhirRequest, shape: Shape, operation: str | None) -> FhirError:
        if operation is not None and not any(r.operation == operation for r in self.routes):
            return not_found(f"the operation '${operation}' is not supported")
        allowed = sorted({r.method for r in self.routes if r.shape == shape and r.operation == operation})
        failure = error(
            Category.NOT_SUPPORTED,
            "not-supported",
            f"{request.method} is not allowed on '{request.path or '/'}'",
        )
        failure.headers["Allow"] = ", ".join(allowed)
        return failure


def _idempotent(route: Route) -> bool:
    """Operations that change nothing may also be invoked with GET."""
    return route.session != "write"
