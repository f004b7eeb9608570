"""The official FHIR R4 search parameters, loaded once from the derived table, and custom ones.

The table ``definitions/search_parameters.json.gz`` is written by
``scripts/derive_search_parameters.py`` from the official package's ``Bundle-searchParams.json``.

Custom parameters (``SearchParameter`` resources applied by a ``$reindex``, see
:mod:`ehp.reindex`) are an overlay on the official ones with two views: :func:`parameters_for`
(what searches use: the parameters in effect) and :func:`indexed_parameters_for` (what writes
extract: also those of a reindex job still running). :func:`set_custom_parameters` swaps both at
once and bumps :func:`overlay_generation`, which the caches of compiled extractors are keyed by.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from ehp.index.typemodel import TypeModel

# Parameters defined on Resource and DomainResource apply to every (domain) resource type.
_ABSTRACT_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True, slots=True)
class Component:
    """A component of a composite parameter: the url of its parameter and its relative expression."""

    definition: str
    expression: str


@dataclass(frozen=True, slots=True)
class SearchParameter:
    """One SearchParameter. ``expressions`` maps each base type to its part of ``expression``."""

    url: str
    code: str
    type: str
    base: tuple[str, ...]
    expression: str | None
    expressions: Mapping[str, str]
    target: tuple[str, ...]
    comparator: tuple[str, ...]
    modifier: tuple[str, ...]
    components: tuple[Component, ...]

    def expression_for(self, resource_type: str) -> str | None:
        """The expression to evaluate on a resource of ``resource_type`` (None: not expressible)."""
        found = self.expressions.get(resource_type)
        if found is None:
            for base in _ABSTRACT_BASES:
                found = self.expressions.get(base)
                if found is not None:
                    break
        return found


def _parameter(raw: dict[str, Any]) -> SearchParameter:
    return SearchParameter(
        url=raw["url"],
        code=raw["code"],
        type=raw["type"],
        base=tuple(raw["base"]),
        expression=raw.get("expression"),
        expressions=MappingProxyType(raw.get("expressions", {})),
        target=tuple(raw.get("target", ())),
        comparator=tuple(raw.get("comparator", ())),
        modifier=tuple(raw.get("modifier", ())),
        components=tuple(Component(c["definition"], c["expression"]) for c in raw.get("component", ())),
    )


@cache
def _table() -> dict[str, Any]:
    raw = files("ehp.index").joinpath("definitions/search_parameters.json.gz").read_bytes()
    table: dict[str, Any] = json.loads(gzip.decompress(raw))
    return table


@cache
def all_parameters() -> tuple[SearchParameter, ...]:
    """Every official R4 search parameter, sorted by url."""
    return tuple(_parameter(raw) for raw in _table()["parameters"])


@cache
def type_model() -> TypeModel:
    """The R4 types and elements, for the FHIRPath compiler."""
    types = _table()["types"]
    return TypeModel(types["elements"], types["parents"], types["resourceTypes"])


def resource_types() -> frozenset[str]:
    """The concrete R4 resource types."""
    return type_model().resource_types


@cache
def _by_type() -> dict[str, Mapping[str, SearchParameter]]:
    model = type_model()
    per_type: dict[str, dict[str, SearchParameter]] = {name: {} for name in sorted(model.resource_types)}
    for parameter in all_parameters():
        for base in parameter.base:
            if base == "Resource":
                targets: list[str] = list(per_type)
            elif base == "DomainResource":
                targets = [name for name in per_type if model.is_a(name, "DomainResource")]
            else:
                targets = [base]
            for name in targets:
                per_type[name][parameter.code] = parameter
    return {name: MappingProxyType(dict(sorted(codes.items()))) for name, codes in per_type.items()}


def official_parameters_for(resource_type: str) -> Mapping[str, SearchParameter]:
    """The official ``code → parameter`` map of a resource type (``KeyError`` for an unknown type)."""
    return _by_type()[resource_type]


def parameters_for(resource_type: str) -> Mapping[str, SearchParameter]:
    """``code → parameter`` for a resource type, Resource and DomainResource ones included, and the
    custom parameters in effect. Raises ``KeyError`` for an unknown resource type.
    """
    found = _overlay.searched.get(resource_type)
    return found if found is not None else _by_type()[resource_type]


def indexed_parameters_for(resource_type: str) -> Mapping[str, SearchParameter]:
    """The parameters a write extracts: :func:`parameters_for` and those a running reindex applies."""
    found = _overlay.indexed.get(resource_type)
    return found if found is not None else _by_type()[resource_type]


@dataclass(frozen=True, slots=True)
class _Overlay:
    generation: int
    searched: dict[str, Mapping[str, SearchParameter]]
    indexed: dict[str, Mapping[str, SearchParameter]]


_overlay = _Overlay(0, {}, {})


def overlay_generation() -> int:
    """A number that changes whenever the custom parameters change (a cache key)."""
    return _overlay.generation


def set_custom_parameters(in_effect: Iterable[SearchParameter], indexed: Iterable[SearchParameter]) -> None:
    """Replace the custom parameters: ``in_effect`` for searches, ``indexed`` (a superset) for writes.

    Each parameter applies to the concrete types of its ``base``; one process serves one database.
    """
    global _overlay
    _overlay = _Overlay(_overlay.generation + 1, _merged(in_effect), _merged(indexed))


def _merged(custom: Iterable[SearchParameter]) -> dict[str, Mapping[str, SearchParameter]]:
    per_type: dict[str, dict[str, SearchParameter]] = {}
    for parameter in custom:
        for base in parameter.base:
            per_type.setdefault(base, dict(_by_type()[base]))[parameter.code] = parameter
    return {name: MappingProxyType(dict(sorted(codes.items()))) for name, codes in per_type.items()}


def parameter_by_url(url: str) -> SearchParameter:
    """The parameter with this canonical url (for composite components). Raises ``KeyError``."""
    return _by_url()[url]


@cache
def _by_url() -> dict[str, SearchParameter]:
    return {parameter.url: parameter for parameter in all_parameters()}
