"""Business rules on writes: checks a resource must pass beyond the R4 definitions.

A rule sees the resource inside the write transaction, just before it is stored (so it can look
at other resources consistently, e.g. the uniqueness of a national identifier). It refuses by
raising :class:`~ehp.api.errors.FhirError`, and may complete the resource (fill an element that
follows from another); it then returns ``True`` so derived data (index rows) is computed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ehp.store.writes import WriteTransaction


class WriteRule(Protocol):
    resource_types: frozenset[str]
    """The resource types the rule applies to."""

    def check(self, tx: WriteTransaction, resource_id: str, resource: dict[str, Any]) -> bool:
        """Refuse with a FhirError, or accept; ``True`` when the rule changed the resource."""
        ...


def apply_rules(
    rules: Sequence[WriteRule],
    tx: WriteTransaction,
    resource_type: str,
    resource_id: str,
    resource: dict[str, Any],
) -> bool:
    """Run every rule for the type; ``True`` when any of them changed the resource."""
    changed = False
    for rule in rules:
        if resource_type in rule.resource_types:
            changed = rule.check(tx, resource_id, resource) or changed
    return changed
