"""The FHIR R4 type system as the FHIRPath compiler needs it (loaded from the derived table).

Types are named as in FHIR (``Observation``, ``CodeableConcept``, ``dateTime``); a backbone element
is named by its path (``Observation.component``). ``elements`` maps a type to its element names and
their types; a choice element keeps its ``[x]`` suffix (``value[x]`` → ``[Quantity, string, ...]``).
``parents`` maps a type to the type it specialises or constrains (``Age`` → ``Quantity``, ``code`` →
``string``, ``Observation`` → ``DomainResource``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# FHIRPath System types and the FHIR primitive types they stand for in an ``is``/``as`` test.
SYSTEM_TYPES: Mapping[str, tuple[str, ...]] = {
    "Boolean": ("boolean",),
    "String": ("string",),
    "Integer": ("integer",),
    "Decimal": ("decimal",),
    "Date": ("date",),
    "DateTime": ("dateTime", "instant"),
    "Time": ("time",),
}


@dataclass(frozen=True, slots=True)
class Element:
    """An element found by :meth:`TypeModel.element`; ``owner`` is the type that defines it."""

    owner: str
    key: str
    types: tuple[str, ...]

    @property
    def is_choice(self) -> bool:
        return self.key.endswith("[x]")


class TypeModel:
    """Element and inheritance lookups over a table of FHIR types."""

    __slots__ = ("_elements", "_parents", "resource_types")

    def __init__(
        self,
        elements: Mapping[str, Mapping[str, Sequence[str]]],
        parents: Mapping[str, str],
        resource_types: Iterable[str],
    ) -> None:
        self._elements = elements
        self._parents = parents
        self.resource_types = frozenset(resource_types)

    def element(self, owner: str, name: str) -> Element | None:
        """The element ``name`` of ``owner`` or of the nearest ancestor that defines it."""
        type_name: str | None = owner
        while type_name is not None:
            members = self._elements.get(type_name)
            if members is not None:
                for key in (name, name + "[x]"):
                    types = members.get(key)
                    if types is not None:
                        return Element(type_name, key, tuple(types))
            type_name = self._parents.get(type_name)
        return None

    def is_a(self, type_name: str, ancestor: str) -> bool:
        """Whether ``type_name`` is ``ancestor`` or derives from it (FHIRPath ``is`` semantics)."""
        if ancestor.startswith("FHIR."):
            ancestor = ancestor[5:]
        elif ancestor.startswith("System."):
            ancestor = ancestor[7:]
        if ancestor in SYSTEM_TYPES:
            return any(self.is_a(type_name, fhir_type) for fhir_type in SYSTEM_TYPES[ancestor])
        current: str | None = type_name
        while current is not None:
            if current == ancestor:
                return True
            current = self._parents.get(current)
        return False

    def is_type_name(self, name: str) -> bool:
        """Whether ``name`` names a known type (so a leading ``Patient`` is a type filter)."""
        return name in self._parents or name in self.resource_types or name in ("Resource", "Element")
