"""SMART on FHIR scopes (v2, and the v1 ``read``/``write`` forms) and what they permit.

A v2 resource scope is ``<context>/<type>.<permissions>`` where context is ``patient``, ``user`` or
``system``, type is a resource type or ``*``, and permissions are letters of ``cruds`` in that
order (create, read, update, delete, search), e.g. ``patient/Observation.rs``, ``user/*.cruds``.
v1 scopes map to v2: ``.read`` = ``rs``, ``.write`` = ``cud``, ``.*`` = ``cruds``. Query-string
constraints on scopes (``?category=...``) are not supported: such a scope is refused as malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Context = Literal["patient", "user", "system"]
Permission = Literal["c", "r", "u", "d", "s"]

PERMISSION_ORDER = "cruds"
_RESOURCE_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$")
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
    context, resource_type, permissions = matched.groups()
    return ResourceScope(context, resource_type, _permissions(permissions, scope))  # type: ignore[arg-type]


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
