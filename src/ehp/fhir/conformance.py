"""Rules of conformance resources that their definitions' invariants do not state, as HL7's
validator checks them against the official SearchParameters:

* a SearchParameter ``derivedFrom`` an official one keeps its type, and its bases are among the
  parent's (an official parameter on ``Resource`` or ``DomainResource`` covers every type); the
  parts of its ``expression`` that start with a type name start with one of its bases (unless a
  base is abstract: what a concrete type's parameter may say is the custom parameter rule's job);
* a CapabilityStatement's ``rest.resource.searchParam`` whose ``definition`` is an official
  SearchParameter has that parameter's type;
* a ValueSet's filter values given as expressions (the ``cqf-expression`` extension on
  ``filter._value``) are FHIRPath (``text/fhirpath``) that parses, and every ``%name`` they use is
  a parameter the ValueSet declares (the ``valueset-parameter`` extension of HL7's tools IG);
* a CodeSystem declares each property code and URI once, gives a standard property
  (``http://hl7.org/fhir/concept-properties#notSelectable``) its standard code and type, defines
  each concept code once, and its concepts' property values have the declared property's type.
"""

from __future__ import annotations

import re
from typing import Any

from ehp.fhir.definitions import is_resource_type, official_search_parameter
from ehp.fhir.fhirpath_parse import Var, parse
from ehp.fhir.issues import Issue

__all__ = ["CONFORMANCE_TYPES", "check_conformance_resource"]

CONFORMANCE_TYPES = frozenset({"SearchParameter", "CapabilityStatement", "CodeSystem", "ValueSet"})
"""The types :func:`check_conformance_resource` has rules for."""

_ABSTRACT = frozenset({"Resource", "DomainResource"})
_TYPE_AT_START = re.compile(r"\s*\(?\s*([A-Z][A-Za-z]*)\.")


def check_conformance_resource(resource: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    """Append an issue for every rule above that ``resource`` (at expression ``path``) breaks."""
    resource_type = resource.get("resourceType")
    if resource_type == "SearchParameter":
        _search_parameter(resource, path, issues)
    elif resource_type == "CapabilityStatement":
        _capability_statement(resource, path, issues)
    elif resource_type == "CodeSystem":
        _code_system(resource, path, issues)
    elif resource_type == "ValueSet":
        _value_set(resource, path, issues)


def _search_parameter(resource: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    bases = [base for base in resource.get("base") or [] if isinstance(base, str)]
    expression = resource.get("expression")
    if isinstance(expression, str) and bases and _ABSTRACT.isdisjoint(bases):
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


STANDARD_PROPERTIES = {
    # http://hl7.org/fhir/concept-properties: R4's five (CodeSystem-concept-properties.json), and
    # the ones R5 added that R4 code systems already use.
    "inactive": "boolean",
    "deprecated": "dateTime",
    "notSelectable": "boolean",
    "parent": "code",
    "child": "code",
    "deprecationDate": "dateTime",
    "retirementDate": "dateTime",
    "status": "code",
}
_STANDARD_PREFIX = "http://hl7.org/fhir/concept-properties#"


def _code_system(resource: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    declared: dict[str, str] = {}
    uris: set[str] = set()
    for index, prop in _items(resource.get("property")):
        where = f"{path}.property[{index}]"
        code, uri, kind = prop.get("code"), prop.get("uri"), prop.get("type")
        if isinstance(uri, str) and uri.startswith(_STANDARD_PREFIX):
            standard = uri.removeprefix(_STANDARD_PREFIX)
            expected = STANDARD_PROPERTIES.get(standard)
            if expected is not None and isinstance(kind, str) and kind != expected:
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        f"wrong type {kind!r}: the URI {uri} names a property of type {expected!r}",
                        where,
                    )
                )
            if expected is not None and isinstance(code, str) and code != standard:
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        f"the URI {uri} is assigned the code {standard!r}; "
                        f"the code {code!r} confuses value set filters",
                        where,
                    )
                )
        if isinstance(code, str):
            if code in declared:
                issues.append(
                    Issue("error", "invalid", f"a property with the code {code!r} is already defined", where)
                )
            elif isinstance(kind, str):
                declared[code] = kind
        if isinstance(uri, str):
            if uri in uris:
                issues.append(
                    Issue("error", "invalid", f"a property with the URI {uri} is already defined", where)
                )
            uris.add(uri)
    seen: set[str] = set()
    pending = [(f"{path}.concept[{index}]", concept) for index, concept in _items(resource.get("concept"))]
    while pending:
        where, concept = pending.pop(0)
        code = concept.get("code")
        if isinstance(code, str):
            if code in seen:
                issues.append(
                    Issue("error", "duplicate", f"the code {code!r} is defined more than once", where)
                )
            seen.add(code)
        for index, value in _items(concept.get("property")):
            name = value.get("code")
            kind = declared.get(name) if isinstance(name, str) else None
            found = next((key[5:] for key in value if isinstance(key, str) and key.startswith("value")), None)
            if (
                kind is not None
                and found is not None
                and found[0].lower() + found[1:] != kind
                and found != kind
            ):
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        f"the property {name!r} has the type {found[0].lower() + found[1:]!r}, "
                        f"but it is defined with the type {kind!r}",
                        f"{where}.property[{index}]",
                    )
                )
        pending.extend(
            (f"{where}.concept[{index}]", child) for index, child in _items(concept.get("concept"))
        )


VALUE_SET_PARAMETER = "http://hl7.org/fhir/tools/StructureDefinition/valueset-parameter"
CQF_EXPRESSION = "http://hl7.org/fhir/StructureDefinition/cqf-expression"
_STANDARD_VARIABLES = frozenset({"resource", "rootResource", "context", "ucum", "sct", "loinc", "$this"})


def _value_set(resource: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    declared = {
        item.get("valueCode")
        for extension in resource.get("extension") or []
        if isinstance(extension, dict) and extension.get("url") == VALUE_SET_PARAMETER
        for item in extension.get("extension") or []
        if isinstance(item, dict) and item.get("url") == "name"
    }
    compose = resource.get("compose")
    if not isinstance(compose, dict):
        return
    for part in ("include", "exclude"):
        for index, include in _items(compose.get(part)):
            for position, condition in _items(include.get("filter")):
                holder = condition.get("_value")
                extensions = holder.get("extension") if isinstance(holder, dict) else None
                for expression in _items(extensions):
                    if expression[1].get("url") != CQF_EXPRESSION:
                        continue
                    where = f"{path}.compose.{part}[{index}].filter[{position}]"
                    _filter_expression(expression[1].get("valueExpression"), declared, where, issues)


def _filter_expression(value: Any, declared: set[Any], where: str, issues: list[Issue]) -> None:
    if not isinstance(value, dict):
        return
    language, text = value.get("language"), value.get("expression")
    if language != "text/fhirpath":
        issues.append(
            Issue(
                "error",
                "invalid",
                f"a ValueSet filter expression must be 'text/fhirpath', not {language!r}",
                where,
            )
        )
        return
    if not isinstance(text, str):
        return
    try:
        tree = parse(text)
    except ValueError as failure:
        issues.append(
            Issue(
                "error", "invalid", f"the filter expression {text!r} is not valid FHIRPath: {failure}", where
            )
        )
        return
    for name in sorted(_variables(tree)):
        if name not in declared and name not in _STANDARD_VARIABLES and not name.startswith(("vs-", "ext-")):
            issues.append(
                Issue(
                    "error",
                    "invalid",
                    f"the filter expression {text!r} uses %{name}, which is not a parameter of this ValueSet",
                    where,
                )
            )


def _variables(expr: Any) -> set[str]:
    """The environment variables (``%name``) an expression uses."""
    if isinstance(expr, Var):
        return {expr.name}
    found: set[str] = set()
    for field_name in getattr(expr, "__dataclass_fields__", {}):
        child = getattr(expr, field_name)
        for item in child if isinstance(child, tuple) else (child,):
            if hasattr(item, "__dataclass_fields__"):
                found |= _variables(item)
    return found


def _items(value: Any) -> list[tuple[int, dict[Any, Any]]]:
    return (
        [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )
