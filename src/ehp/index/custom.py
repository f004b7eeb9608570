"""Custom search parameters: ``SearchParameter`` resources that a ``$reindex`` puts into effect.

A ``SearchParameter`` with ``status: active`` whose ``url`` is not an official parameter's is
*custom*. It is checked when written (:func:`custom_parameter` raises :class:`CustomParameterError`
naming the element at fault): a code searches can use, a ``type`` the indexer has rows for, only
concrete resource types as ``base``, a ``code`` that no official parameter of a base has, and an
``expression`` that compiles (natively, or with fhirpathpy) for every base. Other
``SearchParameter`` resources (drafts, retired ones, copies of official definitions) are stored as
documents and never applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ehp.fhir.fhirpath_parse import split_union
from ehp.index.compiled import compile_for_base
from ehp.index.fhirpath_fallback import probe_fallback
from ehp.index.parameters import (
    SearchParameter,
    official_parameters_for,
    parameter_by_url,
    resource_types,
)

INDEXED_TYPES = ("token", "string", "date", "number", "quantity", "reference", "uri")
"""Parameter types a custom parameter may have: those with index rows (no composite, no special)."""
CODE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")


class CustomParameterError(ValueError):
    """A custom SearchParameter that cannot be applied; ``expression`` names the element."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


def is_custom(resource: Mapping[str, Any]) -> bool:
    """An active SearchParameter that is not a copy of an official definition."""
    if resource.get("status") != "active":
        return False
    url = resource.get("url")
    try:
        parameter_by_url(url if isinstance(url, str) else "")
    except KeyError:
        return True
    return False


def custom_parameter(resource: Mapping[str, Any]) -> SearchParameter:
    """The checked search parameter of a custom ``SearchParameter`` resource (see the module doc)."""
    code = resource.get("code")
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise CustomParameterError(
            f"code {code!r} is not usable in a search: a letter, then letters, digits, '-' or '_'",
            "SearchParameter.code",
        )
    kind = resource.get("type")
    if kind not in INDEXED_TYPES:
        raise CustomParameterError(
            f"type {kind!r} cannot be indexed; a custom parameter is one of {', '.join(INDEXED_TYPES)}",
            "SearchParameter.type",
        )
    bases = _bases(resource.get("base"))
    for base in bases:
        if code in official_parameters_for(base):
            raise CustomParameterError(
                f"{base} already has the official search parameter '{code}'", "SearchParameter.code"
            )
    expression = resource.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise CustomParameterError("a custom parameter needs an expression", "SearchParameter.expression")
    parameter = SearchParameter(
        url=str(resource.get("url") or ""),
        code=code,
        type=kind,
        base=bases,
        expression=expression,
        expressions=MappingProxyType(_split_per_base(expression, bases)),
        target=tuple(t for t in resource.get("target") or () if isinstance(t, str)),
        comparator=tuple(c for c in resource.get("comparator") or () if isinstance(c, str)),
        modifier=tuple(m for m in resource.get("modifier") or () if isinstance(m, str)),
        components=(),
    )
    for base in bases:
        try:
            if not compile_for_base(parameter, base).native:
                probe_fallback(parameter.expressions[base], base)
        except ValueError as failure:
            raise CustomParameterError(
                f"the expression does not compile for {base}: {failure}", "SearchParameter.expression"
            ) from None
    return parameter


def _bases(value: Any) -> tuple[str, ...]:
    bases = tuple(value) if isinstance(value, list) else ()
    if not bases:
        raise CustomParameterError("a custom parameter needs a base", "SearchParameter.base")
    for base in bases:
        if base not in resource_types():
            raise CustomParameterError(
                f"base {base!r} is not a concrete resource type (Resource and DomainResource are not "
                "allowed for custom parameters)",
                "SearchParameter.base",
            )
    return bases


def _split_per_base(expression: str, bases: tuple[str, ...]) -> dict[str, str]:
    """``{base: expression}``: with several bases, each ``|`` operand starts with its base type."""
    if len(bases) == 1:
        return {bases[0]: expression}
    grouped: dict[str, list[str]] = {}
    for part in split_union(expression):
        leading = part.lstrip("(").split(".", 1)[0].split(" ", 1)[0].strip()
        if leading not in bases:
            raise CustomParameterError(
                f"the part {part.strip()!r} of the expression does not start with one of the bases",
                "SearchParameter.expression",
            )
        grouped.setdefault(leading, []).append(part.strip())
    missing = [base for base in bases if base not in grouped]
    if missing:
        raise CustomParameterError(
            f"the expression has no part for {', '.join(missing)}", "SearchParameter.expression"
        )
    return {base: " | ".join(parts) for base, parts in grouped.items()}
