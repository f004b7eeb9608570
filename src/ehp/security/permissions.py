"""Which SMART permission each interaction needs (``c r u d s``), checked before it runs."""

from __future__ import annotations

from ehp.context import RequestContext
from ehp.fhir.definitions import resource_types
from ehp.scopes import Permission

INTERACTION_PERMISSIONS: dict[tuple[str, str], Permission] = {
    ("GET", "instance"): "r",
    ("GET", "version"): "r",
    ("GET", "instance-history"): "r",
    ("GET", "type"): "s",
    ("POST", "type-search"): "s",
    ("GET", "type-history"): "s",
    ("GET", "system-history"): "s",
    ("POST", "type"): "c",
    ("PUT", "instance"): "u",
    ("PUT", "type"): "u",
    ("PATCH", "instance"): "u",
    ("PATCH", "type"): "u",
    ("DELETE", "instance"): "d",
    ("DELETE", "type"): "d",
}
FREE_SHAPES = frozenset({"metadata", "base"})
"""Routes that touch no stored data themselves (a Bundle's entries are checked one by one)."""
FREE_OPERATIONS = frozenset({"validate"})


def required_permission(method: str, shape: str, operation: str | None) -> Permission | None:
    """The permission a route needs; unknown data routes need search rights (deny by default)."""
    if shape in FREE_SHAPES or operation in FREE_OPERATIONS:
        return None
    return INTERACTION_PERMISSIONS.get(("GET" if method == "HEAD" else method, shape), "s")


def scope_allows(
    ctx: RequestContext, method: str, shape: str, operation: str | None, resource_type: str | None
) -> bool:
    permission = required_permission(method, shape, operation)
    if permission is None:
        return True
    return ctx.may(resource_type or "*", permission)


def readable_types(ctx: RequestContext, types: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``types`` (``None``: all) narrowed to those the token's scopes let it read: ``types``
    itself when all of them are allowed, ``()`` when none is."""
    if ctx.scopes is None:
        return types
    wanted = types if types is not None else tuple(sorted(resource_types()))
    allowed = tuple(t for t in wanted if ctx.may(t, "r"))
    return types if len(allowed) == len(wanted) else allowed
