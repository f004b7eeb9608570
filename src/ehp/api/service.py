"""The FHIR service: routes a request to its interaction and runs it in the right store session."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ehp.access.policy import AccessPolicy
from ehp.api.authorize import guarded
from ehp.api.call import Call
from ehp.api.errors import status_of
from ehp.api.messages import FhirRequest, FhirResponse
from ehp.api.profiles import required_profiles_setting
from ehp.api.routing import Match, Route, Router
from ehp.api.rules import WriteRule
from ehp.context import RequestContext
from ehp.environment import seconds
from ehp.errors import Category, FhirError, bad_request, error
from ehp.fhir.issues import issues_to_operation_outcome
from ehp.search.errors import SearchError
from ehp.security.permissions import scope_allows
from ehp.store.errors import ConcurrentWrite, VersionConflict
from ehp.store.store import Store
from ehp.store.writes import WriteTransaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    role: str = "node"
    """``node`` (a polyclinic's or region's store) or ``central`` (the national platform)."""
    max_body_bytes: int = 64 * 1024 * 1024
    default_page_size: int = 50
    max_page_size: int = 1000
    max_bundle_entries: int = 10_000
    body_timeout_seconds: float = seconds("EHP_BODY_TIMEOUT_SECONDS", 60.0)
    """A request body must arrive within this (408 otherwise)."""
    required_profiles: Mapping[str, tuple[str, ...]] = field(default_factory=required_profiles_setting)
    """Profiles every write of a type must conform to (``EHP_REQUIRED_PROFILES``, see api/profiles.py)."""


class FhirService:
    def __init__(
        self, store: Store, settings: Settings, routes: Sequence[Route], rules: Sequence[WriteRule] = ()
    ) -> None:
        self.store = store
        self.settings = settings
        self.rules = tuple(rules)
        self.router = Router(list(routes))
        self.access: AccessPolicy | None = None
        """Set when the server runs with authentication: every interaction is then authorized."""

    def handle(self, ctx: RequestContext, request: FhirRequest, base: str) -> FhirResponse:
        """Run one request in its own session; every failure becomes an OperationOutcome response."""
        try:
            match = self.router.match(request)
        except FhirError as failure:
            return error_response(failure)
        return self.run(ctx, request, base, match)

    def run(self, ctx: RequestContext, request: FhirRequest, base: str, match: Match) -> FhirResponse:
        """Run a routed request; every failure becomes an OperationOutcome response."""
        try:
            self.store.custom_parameters.refresh_if_due()
            call = Call(self, ctx, request, base, match.resource_type, match.resource_id, match.version_id)
            call.access = self.access.access(ctx) if self.access else None
            session = match.route.session
            if session == "write":
                with self.store.transaction(ctx) as tx:
                    call.tx = call.reader = tx
                    return guarded(call, match.route, lambda: check_scope(ctx, request, match))
            if session == "read":
                call.reader = self.store.reader(ctx)
            return guarded(call, match.route, lambda: check_scope(ctx, request, match))
        except FhirError as failure:
            return error_response(failure)
        except (VersionConflict, ConcurrentWrite) as failure:
            return error_response(store_error(failure))
        except SearchError as failure:
            return error_response(bad_request(str(failure), failure.param))
        except Exception:
            log.exception("request %s failed: %s %s", ctx.request_id, request.method, request.path)
            return error_response(
                error(
                    Category.INTERNAL,
                    "exception",
                    f"internal error; the server log has the details (request {ctx.request_id})",
                )
            )

    def handle_in(self, tx: WriteTransaction, request: FhirRequest, base: str) -> FhirResponse:
        """Run one entry of a transaction Bundle inside the Bundle's transaction; failures propagate."""
        match = self.router.match(request)
        call = Call(self, tx.ctx, request, base, match.resource_type, match.resource_id, match.version_id)
        call.reader = tx
        call.access = self.access.access(tx.ctx) if self.access else None
        if match.route.session == "write":
            call.tx = tx
        return guarded(call, match.route, lambda: check_scope(tx.ctx, request, match))


def check_scope(ctx: RequestContext, request: FhirRequest, match: Match) -> None:
    """Refuse (403) an interaction the access token's scopes do not grant."""
    route = match.route
    if not scope_allows(ctx, route.permission, match.resource_type) or not all(
        scope_allows(ctx, "r", kind) for kind in route.answers_with
    ):
        what = match.resource_type or "all resource types"
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            f"the access token's scopes do not allow {request.method} on {what}",
        )


def store_error(failure: Exception) -> FhirError:
    if isinstance(failure, VersionConflict):
        return error(Category.PRECONDITION_FAILED, "conflict", str(failure))
    return error(Category.CONFLICT, "conflict", str(failure))


def error_response(failure: FhirError) -> FhirResponse:
    return FhirResponse(
        status_of(failure), issues_to_operation_outcome(failure.issues), headers=dict(failure.headers)
    )
