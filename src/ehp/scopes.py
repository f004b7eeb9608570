"""SMART on FHIR scopes (v2, and the v1 ``read``/``write`` forms) and what they permit.

A v2 resource scope is ``<context>/<type>.<permissions>`` where context is ``patient``, ``user`` or
``system``, type is a resource type or ``*``, and permissions are letters of ``cruds`` in that
order (create, read, update, delete, search), e.g. ``patient/Observation.rs``, ``user/*.cruds``.
v1 scopes map to v2: ``.read`` = ``rs``, ``.write`` = ``cud``, ``.*`` = ``cruds``.

A v2 scope may end in search parameters (granular scopes, SMART 2 §3.3.3):
``patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory``
permits only the resources that search finds. Where several scopes permit a type, a plain one wins;
granular ones add up (the union of their searches). Such a scope opens reads by id and searches of
its type only (``api/authorize.py`` adds its search to the request and checks what a read returns);
every other route holding that type (includes, ``$everything``, history, writes) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Context = Literal["patient", "user", "system"]
Permission = Literal["c", "r", "u", "d", "s"]

PERMISSION_ORDER = "cruds"
_RESOURCE_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(?:\?(.+))?$")
_QUERY_PART = re.compile(r"^[a-z][a-z0-9\-_:.]*=[^&=]+$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
OTHER_SCOPES = frozenset(
    {"openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access"}
)


class ScopeError(ValueError):
    """A scope string that is not a SMART scope this server understands."""


@dataclass(frozen=True, slots=True)
class ResourceScope:
    context: Context
    resource_type: str
    """A resource type, or ``*`` for all."""
    permissions: frozenset[str]
    query: str = ""
    """Search parameters the permitted resources must match (a granular scope), or ``""``."""

    def allows(self, resource_type: str, permission: Permission) -> bool:
        return permission in self.permissions and self.resource_type in ("*", resource_type)


def _permissions(text: str, scope: str) -> frozenset[str]:
    if text in _V1:
        return frozenset(_V1[text])
    positions = [PERMISSION_ORDER.find(letter) for letter in text]
    if not text or -1 in positions or positions != sorted(set(positions)):
        raise ScopeError(f"'{scope}': permissions must be letters of 'cruds' in that order, or read/write/*")
    return frozenset(text)


def parse_scope(scope: str) -> ResourceScope | None:
    """A resource scope, or ``None`` for the other SMART scopes (``openid``, ``launch``...)."""
    if scope in OTHER_SCOPES:
        return None
    matched = _RESOURCE_SCOPE.match(scope)
    if matched is None:
        raise ScopeError(f"'{scope}' is not a SMART scope (e.g. patient/Observation.rs, user/*.cruds)")
    context, resource_type, permissions, query = matched.groups()
    if query is not None:
        if permissions in _V1 or resource_type == "*":
            raise ScopeError(f"'{scope}': search parameters need a v2 scope on one resource type")
        if not all(_QUERY_PART.match(part) for part in query.split("&")):
            raise ScopeError(f"'{scope}': the scope's search must be name=value pairs joined by &")
    return ResourceScope(
        context,  # type: ignore[arg-type]
        resource_type,
        _permissions(permissions, scope),
        query or "",
    )


@dataclass(frozen=True, slots=True)
class Scopes:
    """The granted scopes of one access token."""

    resource_scopes: tuple[ResourceScope, ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> Scopes:
        parsed = (parse_scope(part) for part in text.split())
        return cls(tuple(scope for scope in parsed if scope is not None), text)

    def allows(self, resource_type: str, permission: Permission) -> bool:
        return any(scope.allows(resource_type, permission) for scope in self.resource_scopes)

    def contexts(self) -> frozenset[str]:
        return frozenset(scope.context for scope in self.resource_scopes)

    def allows_plainly(self, resource_type: str, permission: Permission) -> bool:
        """Whether a scope without search parameters gives this permission on this type."""
        return any(
            scope.allows(resource_type, permission) and not scope.query for scope in self.resource_scopes
        )

    def searches(self, resource_type: str, permission: Permission) -> tuple[str, ...] | None:
        """What the resources of a type must match for this permission: ``None`` when a plain
        scope gives it, else the searches of the granular scopes that do (any one suffices)."""
        queries = []
        for scope in self.resource_scopes:
            if scope.allows(resource_type, permission):
                if not scope.query:
                    return None
                queries.append(scope.query)
        return tuple(queries)
