"""Rules of conformance resources that their definitions' invariants do not state, as HL7's
validator checks them against the official SearchParameters:

* a SearchParameter ``derivedFrom`` an official one keeps its type, and its bases are among the
  parent's (an official parameter on ``Resource`` or ``DomainResource`` covers every type); the
  parts of its ``expression`` that start with a type name start with one of its bases;
* a CapabilityStatement's ``rest.resource.searchParam`` whose ``definition`` is an official
  SearchParameter has that parameter's type.
"""

from __future__ import annotations

import re
from typing import Any

from ehp.fhir.definitions import is_resource_type, official_search_parameter
from ehp.fhir.issues import Issue

__all__ = ["check_conformance_resource"]

_ABSTRACT = frozenset({"Resource", "DomainResource"})
_TYPE_AT_START = re.compile(r"\s*\(?\s*([A-Z][A-Za-z]*)\.")


def check_conformance_resource(resource: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    """Append an issue for every rule above that ``resource`` (at expression ``path``) breaks."""
    resource_type = resource.get("resourceType")
    if resource_type == "SearchParameter":
        _search_parameter(resource, path, issues)
    elif resource_type == "CapabilityStatement":
        _capability_statement(resource, path, issues)


def _search_parameter(resource: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    bases = [base for base in resource.get("base") or [] if isinstance(base, str)]
    expression = resource.get("expression")
    if isinstance(expression, str) and bases:
        for part in expression.split("|"):
            found = _TYPE_AT_START.match(part)
            if found and is_resource_type(found.group(1)) and found.group(1) not in bases:
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        f"the expression part {part.strip()!r} starts with {found.group(1)}, "
                        f"which is not a base of this SearchParameter ({', '.join(bases)})",
                        f"{path}.expression",
                    )
                )
    parent_url = resource.get("derivedFrom")
    parent = official_search_parameter(parent_url) if isinstance(parent_url, str) else None
    if parent is None:
        return
    parent_type, parent_bases = parent
    own_type = resource.get("type")
    if isinstance(own_type, str) and own_type != parent_type:
        issues.append(
            Issue(
                "error",
                "invalid",
                f"the type {own_type} differs from the type {parent_type} of {parent_url}, "
                "which it is derived from",
                path,
            )
        )
    if _ABSTRACT.isdisjoint(parent_bases):
        for base in bases:
            if base not in parent_bases:
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        f"the resource type {base} is not a base of {parent_url}, which this SearchParameter "
                        f"is derived from ({', '.join(parent_bases)})",
                        path,
                    )
                )


def _capability_statement(resource: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    for rest_index, rest in _items(resource.get("rest")):
        for resource_index, entry in _items(rest.get("resource")):
            for param_index, param in _items(entry.get("searchParam")):
                definition, declared = param.get("definition"), param.get("type")
                official = official_search_parameter(definition) if isinstance(definition, str) else None
                if official is not None and isinstance(declared, str) and declared != official[0]:
                    issues.append(
                        Issue(
                            "error",
                            "invalid",
                            f"type mismatch: the SearchParameter {definition} is of type {official[0]}, "
                            f"but the type here is {declared}",
                            f"{path}.rest[{rest_index}].resource[{resource_index}].searchParam[{param_index}]",
                        )
                    )


def _items(value: Any) -> list[tuple[int, dict[Any, Any]]]:
    return (
        [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )
