"""The FHIR R4 definitions the server runs from: compact tables derived from the official package.

The tables (``structure.json.gz``, ``terminology.json.gz``, ``summary.json.gz``,
``constraints.json.gz``) are written by
``scripts/derive_fhir_tables.py`` and committed; they are read once, on first use.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, cast

import orjson

JsonKind = Literal["boolean", "integer", "number", "string"]


@dataclass(frozen=True, slots=True)
class PrimitiveType:
    """A primitive datatype: how it is written in JSON and the regex its value must fully match."""

    name: str
    json: JsonKind
    regex: str | None
    extensions: bool  # whether the `_name` sibling (id/extension) is allowed (not for xhtml)


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One child element of a type (or BackboneElement path), as in the StructureDefinition snapshot."""

    name: str  # without the `[x]` of choice elements
    min: int
    max: str  # "1" or "*"
    types: tuple[str, ...]  # type codes; empty when `context` comes from a contentReference
    choice: bool
    context: str | None  # table holding the children: a BackboneElement path or a contentReference target
    content_reference: str | None
    binding: str | None  # value set URL of a required binding
    targets: tuple[str, ...] | None  # resource types a Reference may point to; None: any
    no_extensions: bool  # FHIRPath system type (Element.id, Extension.url): no `_name` sibling

    @property
    def is_array(self) -> bool:
        return self.max != "1"

    def json_keys(self) -> tuple[tuple[str, str], ...]:
        """(JSON property, type) of each way the element appears: every variant of a choice
        (``valueQuantity``, Quantity), else the element's own name and its type (the
        BackboneElement path or contentReference target when it has children of its own)."""
        if self.choice:
            return tuple((choice_key(self.name, code), code) for code in self.types)
        return ((self.name, self.context or (self.types[0] if self.types else "Element")),)


def choice_key(name: str, type_code: str) -> str:
    """The JSON property of one variant of a choice element: ``value`` + ``dateTime`` → ``valueDateTime``."""
    return name + type_code[0].upper() + type_code[1:]


@cache
def _load(name: str) -> dict[str, Any]:
    data = (resources.files(__package__) / name).read_bytes()
    return cast(dict[str, Any], orjson.loads(gzip.decompress(data)))


def fhir_version() -> str:
    return cast(str, _load("structure.json.gz")["fhir_version"])


@cache
def resource_types() -> frozenset[str]:
    """The concrete resource types (the ``/fhir/{type}`` endpoints that can exist)."""
    return frozenset(_load("structure.json.gz")["resource_types"])


def is_resource_type(name: str) -> bool:
    return name in resource_types()


@cache
def primitive_types() -> Mapping[str, PrimitiveType]:
    table = _load("structure.json.gz")["primitive_types"]
    return MappingProxyType(
        {
            name: PrimitiveType(name, entry["json"], entry.get("regex"), entry["extensions"])
            for name, entry in table.items()
        }
    )


def is_primitive_type(name: str) -> bool:
    return name in primitive_types()


@cache
def element_tables() -> Mapping[str, Mapping[str, ElementDef]]:
    """Type name or BackboneElement path (``Observation.component``) → child name → definition."""
    tables: dict[str, Mapping[str, ElementDef]] = {}
    for context, table in _load("structure.json.gz")["types"].items():
        tables[context] = MappingProxyType(
            {
                name: ElementDef(
                    name=name,
                    min=entry["min"],
                    max=entry["max"],
                    types=tuple(entry["types"]),
                    choice=entry.get("choice", False),
                    context=entry.get("context"),
                    content_reference=entry.get("contentReference"),
                    binding=entry.get("binding"),
                    targets=tuple(entry["targets"]) if "targets" in entry else None,
                    no_extensions=entry.get("no_extensions", False),
                )
                for name, entry in table.items()
            }
        )
    return MappingProxyType(tables)


@cache
def value_set_codes(url: str) -> Mapping[str, frozenset[str]] | None:
    """Codes of a required-binding value set by code system, or None when it could not be expanded."""
    systems = _load("terminology.json.gz")["value_sets"].get(url)
    if systems is None:
        return None
    return MappingProxyType({system: frozenset(codes) for system, codes in systems.items()})


@cache
def summary_elements() -> Mapping[str, frozenset[str]]:
    """Resource type or BackboneElement path → its child elements marked ``isSummary``."""
    table = _load("summary.json.gz")
    return MappingProxyType({context: frozenset(names) for context, names in table.items()})


@cache
def _code_systems() -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType(_load("codesystems.json.gz"))


def code_system_displays(url: str) -> Mapping[str, str] | None:
    """Code → display ("" when none) of a code system the package holds in full, else None."""
    return _code_systems().get(url)


@dataclass(frozen=True, slots=True)
class ExtensionDef:
    """A core extension: value types allowed (none: complex), contexts, root max, nested ones."""

    url: str
    values: frozenset[str]
    contexts: tuple[str, ...]
    max: str
    children: Mapping[str, frozenset[str]]


@cache
def _extensions() -> Mapping[str, ExtensionDef]:
    return MappingProxyType(
        {
            url: ExtensionDef(
                url,
                frozenset(entry["values"]),
                tuple(entry["contexts"]),
                entry["max"],
                MappingProxyType({child: frozenset(types) for child, types in entry["children"].items()}),
            )
            for url, entry in _load("extensions.json.gz").items()
        }
    )


def extension_definition(url: str) -> ExtensionDef | None:
    """The core extension with this URL (393 of them), or None."""
    return _extensions().get(url)


def core_profile(url: str) -> Mapping[str, Any] | None:
    """A core profile of a resource type (``vitalsigns``, ``bp``...): its type and trimmed snapshot
    elements (see :func:`ehp.fhir.profiles.snapshot_elements`), or None."""
    found: Mapping[str, Any] | None = _load("profiles.json.gz").get(url)
    return found


def official_search_parameter(url: str) -> tuple[str, tuple[str, ...]] | None:
    """(type, bases) of an official SearchParameter by url (``|version`` ignored), or None."""
    found = _load("searchparameters.json.gz").get(url.split("|", 1)[0])
    return (found[0], tuple(found[1])) if found is not None else None


def skipped_value_sets() -> Mapping[str, str]:
    """Required-binding value sets that are not checked (external terminology), with the reason."""
    return MappingProxyType(_load("terminology.json.gz")["skipped"])


@dataclass(frozen=True, slots=True)
class Constraint:
    """One FHIRPath invariant of the definitions (``per-1``: ``start <= end`` on a Period)."""

    key: str
    severity: Literal["error", "warning", "information"]  # information: a best practice
    human: str
    expression: str


def _constraints(entries: list[list[str]]) -> tuple[Constraint, ...]:
    return tuple(
        Constraint(key, cast(Any, severity), human, expression)
        for key, severity, human, expression in entries
    )


@cache
def type_constraints() -> Mapping[str, tuple[Constraint, ...]]:
    """Type name or BackboneElement path → the invariants every instance of it must meet."""
    table = _load("constraints.json.gz")["types"]
    return MappingProxyType({context: _constraints(entries) for context, entries in table.items()})


@cache
def element_constraints() -> Mapping[str, tuple[Constraint, ...]]:
    """``Type.element`` → the invariants the element adds to its type's (``Organization.address``)."""
    table = _load("constraints.json.gz")["elements"]
    return MappingProxyType({path: _constraints(entries) for path, entries in table.items()})


@cache
def type_parents() -> Mapping[str, str]:
    """Type name → the type it specialises (``Age`` → ``Quantity``, ``code`` → ``string``)."""
    return MappingProxyType(_load("constraints.json.gz")["parents"])
