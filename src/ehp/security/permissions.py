"""SMART scopes against what a route needs (its declared ``permission``) and what an answer holds."""

from __future__ import annotations

from ehp.context import RequestContext
from ehp.fhir.definitions import resource_types
from ehp.scopes import Permission


def scope_allows(ctx: RequestContext, permission: Permission | None, resource_type: str | None) -> bool:
    """Whether the token's scopes grant a route's permission (``Route.permission``) on its type."""
    if permission is None:
        return True
    return ctx.may(resource_type or "*", permission)


def readable_types(ctx: RequestContext, types: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``types`` (``None``: all) narrowed to those the token's scopes let it read whole (a
    granular scope opens only searches of its own type): ``types``
    itself when all of them are allowed, ``()`` when none is."""
    if ctx.scopes is None:
        return types
    wanted = types if types is not None else tuple(sorted(resource_types()))
    allowed = tuple(t for t in wanted if ctx.scopes.allows_plainly(t, "r"))
    return types if len(allowed) == len(wanted) else allowed
