"""The route table, declared once as data: the FHIR core's interactions and operations, then the
registries' and the passport's. Routing, the authorizer's policy, scope checks, audit codes and the
CapabilityStatement are all read from it."""

from __future__ import annotations

from ehp.api.routes import core_routes
from ehp.api.routing import Route
from ehp.bulk.routes import bulk_routes
from ehp.passport.routes import passport_routes
from ehp.registry.routes import registry_routes


def build_routes() -> list[Route]:
    return [*core_routes(), *registry_routes(), *passport_routes(), *bulk_routes()]
